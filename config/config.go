// Package config is Carebridge's configuration: the settings, their defaults
// (in one place, Defaults), and the one loader shared by `carebridge serve`
// and `carebridge config check`. Configuration is strict data: unknown keys,
// wrong types and invalid values are errors with file:line:col, and every
// error in a file is reported at once.
package config

import (
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carebridge/carebridge/configs"
	"github.com/carebridge/carebridge/internal/strictyaml"
	"github.com/carebridge/carebridge/record"
)

// Config is the whole configuration of a Carebridge node.
type Config struct {
	// DataDir holds the database and other state. Relative to the working directory.
	DataDir string `yaml:"data_dir"`
	// NodeID names this node in the journal's claims; defaults to the host name.
	NodeID     string         `yaml:"node_id"`
	Journal    Journal        `yaml:"journal"`
	MLLP       []MLLPListener `yaml:"mllp"`
	HTTP       HTTP           `yaml:"http"`
	Processing Processing     `yaml:"processing"`
	Mappings   Mappings       `yaml:"mappings"`
	// Identity configures how patients of different systems are matched
	// (see docs/configuration.md and record.DefaultMatchConfig).
	Identity record.MatchConfig `yaml:"identity"`
	Log      Log                `yaml:"log"`

	// File is the file the configuration was read from ("" for the embedded default).
	File string `yaml:"-"`
	// Warnings are problems that do not stop the configuration from
	// loading (a certificate that expires within ExpiryWarning), with their
	// positions, in file order.
	Warnings []Error `yaml:"-"`
	// fileErrs are the problems of the TLS files (an expired certificate,
	// a missing file), with their positions: they stop what listens
	// (serve, config check: see CheckFiles), not the commands that only
	// read the data directory, which an operator needs most when a
	// certificate has expired.
	fileErrs *Errors
}

// CheckFiles returns the problems of the files the listeners need (TLS
// certificates and keys), every one with its position; nil when there are
// none.
func (c *Config) CheckFiles() error {
	if c.fileErrs == nil || len(c.fileErrs.List) == 0 {
		return nil
	}
	return c.fileErrs
}

// Journal configures the message journal.
type Journal struct {
	// Durability: "full" (fsync on commit: survives power loss; default),
	// "normal" (survives a process crash, not a power loss) or "off".
	Durability string `yaml:"durability"`
	// DuplicateWindow: how far back a repeated MSH-3 + MSH-4 + MSH-10 counts
	// as a duplicate. Default 168h (7 days); "0s" turns detection off.
	DuplicateWindow Duration `yaml:"duplicate_window"`
	// MaxBatch caps how many writes share one commit. Default 1024.
	MaxBatch int `yaml:"max_batch"`
}

// MLLPListener is one MLLP port receiving HL7 v2 messages.
type MLLPListener struct {
	Name string `yaml:"name"`
	Addr string `yaml:"addr"`
	// AckPolicy: "on-commit" (ACK once the message is journaled; default) or
	// "on-process" (ACK after processing, so the sender sees AE on failure).
	AckPolicy string `yaml:"ack_policy"`
	// Unmapped: "accept" (default: a message no map handles is journaled,
	// acknowledged by ack_policy, and fails processing with the reason) or
	// "reject" (it is answered AR at once, ERR-3 200 or 201, and journaled
	// rejected).
	Unmapped string `yaml:"unmapped"`
	// Charset is the character set assumed when MSH-18 is empty (HL7 table
	// 0211 names, e.g. "UNICODE UTF-8", "8859/1", "GB 18030"). Default UTF-8.
	Charset        string   `yaml:"charset"`
	MaxConnections int      `yaml:"max_connections"`
	MaxMessageSize ByteSize `yaml:"max_message_size"`
	// ReadTimeout bounds receiving one message once it has started.
	ReadTimeout Duration `yaml:"read_timeout"`
	// IdleTimeout closes a connection with no message for that long.
	IdleTimeout  Duration `yaml:"idle_timeout"`
	WriteTimeout Duration `yaml:"write_timeout"`
	TLS          *TLS     `yaml:"tls"`
}

// TLS configures transport security on a listener.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, is the CA bundle client certificates are checked against.
	ClientCAFile string `yaml:"client_ca_file"`
	// ClientAuth: "none" (default without a client CA), "request", or
	// "require" (mutual TLS; the default when client_ca_file is set).
	ClientAuth string `yaml:"client_auth"`
	// MinVersion: "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version"`
}

// HTTP configures the HTTP listener (metrics, health; later the FHIR API).
type HTTP struct {
	Addr string `yaml:"addr"`
	TLS  *TLS   `yaml:"tls"`
}

// Processing configures the workers that process journaled messages.
type Processing struct {
	Workers   int `yaml:"workers"`
	BatchSize int `yaml:"batch_size"`
	// PollInterval is how often workers look for work queued by other
	// processes (such as `carebridge messages reprocess`).
	PollInterval Duration `yaml:"poll_interval"`
	// ClaimTimeout is how long a message may stay claimed by another node or
	// process before it counts as abandoned (its process is gone) and is
	// processed again. This node's own claims are released only at its start.
	ClaimTimeout Duration `yaml:"claim_timeout"`
}

// Mappings configures the HL7 v2 → FHIR mappings.
type Mappings struct {
	// Dir is a directory of mapping files replacing the shipped ones
	// (relative to the config file). Empty: the mappings built into carebridge.
	Dir string `yaml:"dir"`
	// Reload watches Dir and applies edits that compile, without a restart
	// (default true; an edit that does not compile is refused and logged).
	Reload *bool `yaml:"reload"`
	// CheckExamples runs the examples next to the maps before a reload is
	// applied, and refuses a set that fails them (default true).
	CheckExamples *bool `yaml:"check_examples"`
}

// Charsets maps each MLLP listener's name to the character set it assumes
// for a message without MSH-18.
func (c *Config) Charsets() map[string]string {
	m := make(map[string]string, len(c.MLLP))
	for _, l := range c.MLLP {
		m[l.Name] = l.Charset
	}
	return m
}

// ReloadEnabled reports whether mapping edits are applied live.
func (m Mappings) ReloadEnabled() bool { return m.Dir != "" && (m.Reload == nil || *m.Reload) }

// ExamplesChecked reports whether a reload must pass the maps' examples.
func (m Mappings) ExamplesChecked() bool { return m.CheckExamples == nil || *m.CheckExamples }

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
	// PatientData allows message content in logs. Off by default, and should stay off in production.
	PatientData bool `yaml:"patient_data"`
}

// Defaults fills every unset setting with its default. It is the one place
// defaults live.
func (c *Config) Defaults() {
	if c.DataDir == "" {
		c.DataDir = "carebridge-data"
	}
	if c.NodeID == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "carebridge"
		}
		c.NodeID = h
	}
	if c.Journal.Durability == "" {
		c.Journal.Durability = "full"
	}
	if c.Journal.DuplicateWindow.D == 0 && !c.Journal.DuplicateWindow.set {
		c.Journal.DuplicateWindow = Duration{D: 7 * 24 * time.Hour}
	}
	if c.Journal.MaxBatch == 0 {
		c.Journal.MaxBatch = 1024
	}
	if c.MLLP == nil {
		// No mllp key at all: the default listener (an explicit empty
		// list, mllp: [], means none).
		c.MLLP = []MLLPListener{{Name: "mllp", Addr: "127.0.0.1:2575"}}
	}
	for i := range c.MLLP {
		l := &c.MLLP[i]
		if l.Name == "" {
			l.Name = "mllp"
			if i > 0 {
				l.Name = fmt.Sprintf("mllp%d", i+1)
			}
		}
		if l.AckPolicy == "" {
			l.AckPolicy = AckOnCommit
		}
		if l.Unmapped == "" {
			l.Unmapped = UnmappedAccept
		}
		if l.Charset == "" {
			l.Charset = "UNICODE UTF-8"
		}
		if l.MaxConnections == 0 {
			l.MaxConnections = 1024
		}
		if l.MaxMessageSize == 0 {
			l.MaxMessageSize = 10 << 20
		}
		if l.ReadTimeout.D == 0 {
			l.ReadTimeout.D = 30 * time.Second
		}
		if l.IdleTimeout.D == 0 {
			l.IdleTimeout.D = 10 * time.Minute
		}
		if l.WriteTimeout.D == 0 {
			l.WriteTimeout.D = 30 * time.Second
		}
		l.TLS.defaults()
	}
	c.HTTP.TLS.defaults()
	if c.Processing.Workers == 0 {
		c.Processing.Workers = 1
	}
	if c.Processing.BatchSize == 0 {
		c.Processing.BatchSize = 256
	}
	if c.Processing.PollInterval.D == 0 {
		c.Processing.PollInterval.D = 2 * time.Second
	}
	if c.Processing.ClaimTimeout.D == 0 {
		c.Processing.ClaimTimeout.D = 5 * time.Minute
	}
	def := record.DefaultMatchConfig()
	if c.Identity.AutoLink == 0 {
		c.Identity.AutoLink = def.AutoLink
	}
	if c.Identity.Review == 0 {
		c.Identity.Review = def.Review
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
}

func (t *TLS) defaults() {
	if t == nil {
		return
	}
	if t.ClientAuth == "" {
		t.ClientAuth = "none"
		if t.ClientCAFile != "" {
			t.ClientAuth = "require"
		}
	}
	if t.MinVersion == "" {
		t.MinVersion = "1.2"
	}
}

// The ACK policies.
const (
	AckOnCommit  = "on-commit"
	AckOnProcess = "on-process"
)

// What a listener does with a message no map handles (mllp[].unmapped).
const (
	UnmappedAccept = "accept"
	UnmappedReject = "reject"
)

// DatabasePath is where the SQLite database lives.
func (c *Config) DatabasePath() string { return filepath.Join(c.DataDir, "carebridge.db") }

// Load reads the configuration at path, or the embedded default when path is
// empty, applies the defaults and validates it. The error, if any, is an
// *Errors listing every problem with its position.
func Load(path string) (*Config, error) {
	if path == "" {
		return Parse(embeddedName, configs.Default)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, b)
}

// embeddedName names the embedded default configuration in messages.
const embeddedName = "(embedded default)"

// Parse decodes, defaults and validates configuration text. file names it in
// errors; relative paths in it (TLS files, mappings.dir) are resolved against
// file's directory.
func Parse(file string, b []byte) (*Config, error) {
	c := &Config{File: file}
	pos, errs := strictyaml.Decode(file, b, c)
	c.Defaults()
	if file != embeddedName {
		c.resolvePaths(filepath.Dir(file))
	}
	warns, fileErrs := &Errors{}, &Errors{}
	c.validate(file, pos, errs, fileErrs, warns, time.Now())
	if len(errs.List) > 0 {
		// Everything at once: the files' problems too.
		errs.List = append(errs.List, fileErrs.List...)
		errs.Sort()
		return nil, errs
	}
	fileErrs.Sort()
	c.fileErrs = fileErrs
	warns.Sort()
	c.Warnings = warns.List
	return c, nil
}

// resolvePaths makes TLS file paths relative to the config file's directory.
func (c *Config) resolvePaths(dir string) {
	fix := func(t *TLS) {
		if t == nil {
			return
		}
		for _, p := range []*string{&t.CertFile, &t.KeyFile, &t.ClientCAFile} {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(dir, *p)
			}
		}
	}
	for i := range c.MLLP {
		fix(c.MLLP[i].TLS)
	}
	fix(c.HTTP.TLS)
	if c.Mappings.Dir != "" && !filepath.IsAbs(c.Mappings.Dir) {
		c.Mappings.Dir = filepath.Join(dir, c.Mappings.Dir)
	}
}

// validate checks the settings and loads the TLS files (with the loader the
// engine uses, checked against now), adding every problem with its position
// to errs and every warning to warns.
func (c *Config) validate(file string, pos map[string]strictyaml.Position, errs, fileErrs, warns *strictyaml.Errors, now time.Time) {
	at := func(path string) Position {
		for p := path; p != ""; {
			if at, ok := pos[p]; ok {
				return at
			}
			i := strings.LastIndexAny(p, ".[")
			if i < 0 {
				break
			}
			p = p[:i]
		}
		return Position{File: file}
	}
	bad := func(path, format string, args ...any) {
		errs.Add(at(path), path+": "+fmt.Sprintf(format, args...))
	}
	tlsFiles := func(path string, t *TLS) {
		if t == nil || t.CertFile == "" || t.KeyFile == "" {
			return // reported as required
		}
		_, problems := t.load(now)
		for _, p := range problems {
			key := path + "." + p.key
			if p.warn {
				warns.Add(at(key), key+": "+p.msg)
			} else {
				fileErrs.Add(at(key), key+": "+p.msg)
			}
		}
	}
	c.validateIdentity(at, errs)
	oneOf := func(path, v string, allowed ...string) {
		if !slices.Contains(allowed, v) {
			bad(path, "%q is not one of %s", v, strings.Join(allowed, ", "))
		}
	}
	oneOf("journal.durability", c.Journal.Durability, "full", "normal", "off")
	if c.Journal.DuplicateWindow.D < 0 {
		bad("journal.duplicate_window", "must not be negative")
	}
	if c.Journal.MaxBatch < 1 {
		bad("journal.max_batch", "must be at least 1")
	}
	names := map[string]bool{}
	addrs := map[string]bool{}
	for i, l := range c.MLLP {
		p := fmt.Sprintf("mllp[%d]", i)
		if names[l.Name] {
			bad(p+".name", "listener name %q is used twice", l.Name)
		}
		names[l.Name] = true
		if l.Addr == "" {
			bad(p+".addr", "required (host:port)")
		} else if err := checkAddr(l.Addr); err != nil {
			bad(p+".addr", "%v", err)
		} else if addrs[l.Addr] {
			bad(p+".addr", "%s is used by another listener", l.Addr)
		}
		addrs[l.Addr] = true
		oneOf(p+".ack_policy", l.AckPolicy, AckOnCommit, AckOnProcess)
		oneOf(p+".unmapped", l.Unmapped, UnmappedAccept, UnmappedReject)
		if !KnownCharset(l.Charset) {
			bad(p+".charset", "unknown character set %q (use an HL7 table 0211 name such as \"UNICODE UTF-8\", \"8859/1\", \"GB 18030\")", l.Charset)
		}
		if l.MaxConnections < 1 {
			bad(p+".max_connections", "must be at least 1")
		}
		if l.MaxMessageSize < 1024 {
			bad(p+".max_message_size", "must be at least 1KiB")
		}
		for _, dd := range []struct {
			name string
			d    Duration
		}{{"read_timeout", l.ReadTimeout}, {"idle_timeout", l.IdleTimeout}, {"write_timeout", l.WriteTimeout}} {
			if dd.d.D < 0 {
				bad(p+"."+dd.name, "must not be negative")
			}
		}
		l.TLS.validate(p+".tls", bad)
		tlsFiles(p+".tls", l.TLS)
	}
	if c.HTTP.Addr != "" {
		if err := checkAddr(c.HTTP.Addr); err != nil {
			bad("http.addr", "%v", err)
		}
	}
	c.HTTP.TLS.validate("http.tls", bad)
	tlsFiles("http.tls", c.HTTP.TLS)
	if c.Processing.Workers < 1 {
		bad("processing.workers", "must be at least 1")
	}
	if c.Processing.BatchSize < 1 {
		bad("processing.batch_size", "must be at least 1")
	}
	if c.Processing.PollInterval.D <= 0 {
		bad("processing.poll_interval", "must be positive")
	}
	if c.Processing.ClaimTimeout.D < time.Second {
		bad("processing.claim_timeout", "must be at least 1s")
	}
	if c.Mappings.Dir != "" {
		if st, err := os.Stat(c.Mappings.Dir); err != nil || !st.IsDir() {
			bad("mappings.dir", "%s is not a directory", c.Mappings.Dir)
		}
	}
	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf("log.format", c.Log.Format, "text", "json")
}

// CheckAddr checks a listening address as the configuration's are checked
// (for one given on the command line).
func CheckAddr(addr string) error { return checkAddr(addr) }

// checkAddr checks a listening address: host:port with a numeric port from
// 0 to 65535 (0: a free port chosen when the listener opens). Service names
// (":http") are not taken: the port a listener uses must be plain to read.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	n, err := strconv.ParseUint(port, 10, 64)
	switch {
	case err != nil && port != "" && strings.Trim(port, "0123456789") == "":
		return fmt.Errorf("%q: port %s is out of range (0-65535)", addr, port)
	case err != nil:
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	case n > 65535:
		return fmt.Errorf("%q: port %d is out of range (0-65535)", addr, n)
	}
	return nil
}

// validateIdentity reports the identity section's problems, each at the
// setting it is about. The rules are record's (MatchConfig.Validate); an
// unknown field name is found here, at its own position and with a
// did-you-mean hint, and each of record's messages ("identity: review (10)
// must be below auto_link (9)") is placed at the setting it begins with.
func (c *Config) validateIdentity(at func(string) Position, errs *Errors) {
	known := slices.Sorted(maps.Keys(record.DefaultMatchConfig().Fields))
	m := c.Identity
	m.Fields = maps.Clone(c.Identity.Fields)
	for _, name := range slices.Sorted(maps.Keys(c.Identity.Fields)) {
		if !slices.Contains(known, name) {
			path := "identity.fields." + name
			errs.Add(at(path), path+": unknown field"+strictyaml.Suggest(name, known))
			delete(m.Fields, name)
		}
	}
	err := m.Validate()
	if err == nil {
		return
	}
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	for _, e := range list {
		msg := strings.TrimPrefix(e.Error(), "identity: ")
		key, _, _ := strings.Cut(msg, " ")
		errs.Add(at("identity."+strings.TrimSuffix(key, ":")), "identity."+msg)
	}
}

func (t *TLS) validate(p string, bad func(path, format string, args ...any)) {
	if t == nil {
		return
	}
	if t.CertFile == "" {
		bad(p+".cert_file", "required when tls is set")
	}
	if t.KeyFile == "" {
		bad(p+".key_file", "required when tls is set")
	}
	if !slices.Contains([]string{"none", "request", "require"}, t.ClientAuth) {
		bad(p+".client_auth", "%q is not one of none, request, require", t.ClientAuth)
	}
	if t.ClientAuth == "require" && t.ClientCAFile == "" {
		bad(p+".client_ca_file", "required when client_auth is require")
	}
	if !slices.Contains([]string{"1.2", "1.3"}, t.MinVersion) {
		bad(p+".min_version", "%q is not one of 1.2, 1.3", t.MinVersion)
	}
}
