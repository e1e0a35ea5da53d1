package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigLoads(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.MLLP) != 1 || c.MLLP[0].Addr != "127.0.0.1:2575" || c.HTTP.Addr != "127.0.0.1:8080" || c.DataDir != "carebridge-data" {
		t.Fatalf("default config = %+v", c)
	}
	if c.Journal.Durability != "full" || c.Journal.DuplicateWindow.D != 168*time.Hour || c.MLLP[0].AckPolicy != AckOnCommit {
		t.Fatalf("default journal/ack = %+v %+v", c.Journal, c.MLLP[0])
	}
	if c.MLLP[0].MaxMessageSize != 10<<20 {
		t.Fatalf("max message size = %d", c.MLLP[0].MaxMessageSize)
	}
}

func TestEveryErrorReportedWithPosition(t *testing.T) {
	src := `data_dir: x
journal:
  durability: sometimes
  duplicate_windw: 1h
mllp:
  - addr: nowhere
    ack_policy: later
    max_message_size: huge
  - name: b
    addr: 127.0.0.1:1
    read_timeout: soon
    tls:
      client_auth: require
processing:
  workers: many
`
	_, err := Parse("test.yaml", []byte(src))
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse error = %v, want *Errors", err)
	}
	want := []string{
		`test.yaml:3:15: journal.durability: "sometimes" is not one of full, normal, off`,
		`test.yaml:4:3: journal.duplicate_windw: unknown setting (did you mean "duplicate_window"?)`,
		`test.yaml:6:11: mllp[0].addr: "nowhere" is not host:port`,
		`test.yaml:7:17: mllp[0].ack_policy: "later" is not one of on-commit, on-process`,
		`test.yaml:8:23: mllp[0].max_message_size: "huge" is not a size`,
		`test.yaml:11:19: mllp[1].read_timeout: "soon" is not a duration`,
		`test.yaml:13:7: mllp[1].tls.client_ca_file: required when client_auth is require`,
		`mllp[1].tls.cert_file: required when tls is set`,
		`test.yaml:15:12: processing.workers: want a whole number, got "many"`,
	}
	got := err.Error()
	if !strings.HasPrefix(got, "test.yaml:3:15") {
		t.Errorf("errors are not in file order:\n%s", got)
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("errors lack %q\ngot:\n%s", w, got)
		}
	}
}

func TestSyntaxError(t *testing.T) {
	_, err := Parse("bad.yaml", []byte("mllp:\n  - addr: [\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "bad.yaml:") {
		t.Fatalf("error = %v; want it to start with the file name", err)
	}
}

func TestDuplicateWindowZeroTurnsDetectionOff(t *testing.T) {
	c, err := Parse("x.yaml", []byte("journal:\n  duplicate_window: 0s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Journal.DuplicateWindow.D != 0 {
		t.Fatalf("duplicate window = %v, want 0", c.Journal.DuplicateWindow)
	}
}

func TestUnknownCharsetIsRefused(t *testing.T) {
	_, err := Parse("c.yaml", []byte("mllp:\n  - addr: 127.0.0.1:1\n    charset: KLINGON\n"))
	if err == nil || !strings.Contains(err.Error(), `c.yaml:3:14: mllp[0].charset: unknown character set "KLINGON"`) {
		t.Fatalf("error = %v", err)
	}
	if _, err := Parse("c.yaml", []byte("mllp:\n  - addr: 127.0.0.1:1\n    charset: GB 18030\n")); err != nil {
		t.Fatal(err)
	}
}

func TestMissingMLLPKeyGivesTheDefaultListener(t *testing.T) {
	c, err := Parse("x.yaml", []byte("processing:\n  workers: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.MLLP) != 1 || c.MLLP[0].Addr != "127.0.0.1:2575" || c.MLLP[0].AckPolicy != AckOnCommit {
		t.Fatalf("listeners = %+v", c.MLLP)
	}
	c, err = Parse("x.yaml", []byte("mllp: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.MLLP) != 0 {
		t.Fatalf("mllp: [] should mean no listener: %+v", c.MLLP)
	}
}

// TestBooleanSettingsWantTrueOrFalse: the audit's file, where 1 turned on
// patient-data logging and 0 turned off the mapping watch, is refused at each
// value.
func TestBooleanSettingsWantTrueOrFalse(t *testing.T) {
	src := "log: {patient_data: 1}\nmappings:\n  reload: 0\n  check_examples: 1\n"
	_, err := Parse("b.yaml", []byte(src))
	want := "b.yaml:1:21: log.patient_data: want true or false, got 1\n" +
		"b.yaml:3:11: mappings.reload: want true or false, got 0\n" +
		"b.yaml:4:19: mappings.check_examples: want true or false, got 1"
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
	c, err := Parse("b.yaml", []byte("log: {patient_data: true}\nmappings:\n  reload: false\n"))
	if err != nil || !c.Log.PatientData || c.Mappings.Reload == nil || *c.Mappings.Reload {
		t.Fatalf("true/false not read: %v %+v", err, c)
	}
}

// TestListenAddresses: a port past 65535, or one that is not a number, is
// refused at load with its position (serve used to fail later, without one,
// after creating its files); port 0 (a free port) is allowed.
func TestListenAddresses(t *testing.T) {
	for _, tc := range []struct {
		name, addr, err string
	}{
		{"ip and port", "127.0.0.1:2575", ""},
		{"any host", ":2575", ""},
		{"free port", "127.0.0.1:0", ""},
		{"highest port", "[::1]:65535", ""},
		{"port too high", "127.0.0.1:99999", `"127.0.0.1:99999": port 99999 is out of range (0-65535)`},
		{"port far too high", "127.0.0.1:99999999999999999999", `port 99999999999999999999 is out of range (0-65535)`},
		{"service name", "127.0.0.1:http", `"127.0.0.1:http": port "http" is not a number from 0 to 65535`},
		{"negative", "127.0.0.1:-1", `port "-1" is not a number`},
		{"no port", "127.0.0.1:", `port "" is not a number`},
		{"no colon", "2576", `"2576" is not host:port`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "mllp:\n  - addr: \"" + tc.addr + "\"\nhttp:\n  addr: \"" + tc.addr + "\"\n"
			_, err := Parse("p.yaml", []byte(src))
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("%s accepted", tc.addr)
			}
			for _, w := range []string{"p.yaml:2:11: mllp[0].addr: ", "p.yaml:4:9: http.addr: "} {
				if !strings.Contains(err.Error(), w) || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error lacks %q … %q:\n%v", w, tc.err, err)
				}
			}
		})
	}
}

// TestIdentityErrorsAtTheirSettings: each problem of the identity section
// is reported once, at the value it is about, without a doubled prefix; an
// unknown field name gets a did-you-mean hint like any unknown setting.
func TestIdentityErrorsAtTheirSettings(t *testing.T) {
	src := "identity:\n  auto_link: 9\n  review: 10\n  fields:\n    phone: {agree: -1}\n    shoe: {agree: 1}\n    xyzzyq: {agree: 1}\n"
	_, err := Parse("id2.yaml", []byte(src))
	want := `id2.yaml:3:11: identity.review (10) must be below auto_link (9)
id2.yaml:5:20: identity.fields.phone.agree (-1) must be above 0
id2.yaml:6:11: identity.fields.shoe: unknown field (did you mean "phone"?)
id2.yaml:7:13: identity.fields.xyzzyq: unknown field (known: address, birth_date, gender, name, national_id, phone)`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
}
