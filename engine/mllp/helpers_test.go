package mllp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carebridge/carebridge/engine/mllp"
)

// testTimeout bounds every wait in these tests; reaching it is a failure.
const testTimeout = 10 * time.Second

// hl7Msg returns a small ADT message with control id id.
func hl7Msg(id string) []byte {
	return []byte("MSH|^~\\&|HIS|GENHOSP|CB|CB|20240102030405||ADT^A01^ADT_A01|" + id + "|P|2.5.1\r" +
		"PID|1||123456^^^GENHOSP^MR||DOE^JANE\r")
}

// msgControlID returns MSH-10 of msg, for the tests' own handlers.
func msgControlID(msg []byte) string {
	seg, _, _ := strings.Cut(string(msg), "\r")
	fields := strings.Split(seg, "|")
	if len(fields) < 10 {
		return ""
	}
	return fields[9]
}

// ackFor returns an acknowledgement of msg with code.
func ackFor(msg []byte, code string) []byte {
	return ackWithID(msgControlID(msg), code)
}

func ackWithID(id, code string) []byte {
	return []byte("MSH|^~\\&|CB|CB|HIS|GENHOSP|20240102030405||ACK|ACK" + id + "|P|2.5.1\rMSA|" + code + "|" + id + "\r")
}

// ackControlIDOf returns MSA-2 of ack.
func ackControlIDOf(ack []byte) string {
	for seg := range strings.SplitSeq(string(ack), "\r") {
		if f := strings.Split(seg, "|"); f[0] == "MSA" && len(f) > 2 {
			return f[2]
		}
	}
	return ""
}

// acker acknowledges every message with AA.
func acker(_ context.Context, _ *mllp.ConnInfo, msg []byte) []byte {
	return ackFor(msg, "AA")
}

// recorder is an Observer keeping its events in order.
type recorder struct {
	mu     sync.Mutex
	events []string
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) add(ev string) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) ConnOpened(string)                    { r.add("opened") }
func (r *recorder) ConnClosed(string)                    { r.add("closed") }
func (r *recorder) ConnRejected(_ string, reason string) { r.add("rejected:" + reason) }
func (r *recorder) FramingError(_ string, kind string)   { r.add("framing:" + kind) }

// count returns how many times ev was recorded.
func (r *recorder) count(ev string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e == ev {
			n++
		}
	}
	return n
}

// waitFor waits until ev has been recorded n times.
func (r *recorder) waitFor(t *testing.T, ev string, n int) {
	t.Helper()
	deadline := time.After(testTimeout)
	for r.count(ev) < n {
		select {
		case <-r.notify:
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("event %q not seen %d times; events: %v", ev, n, r.events)
		}
	}
}

// serve runs s on a new loopback listener until the test ends and returns
// its address.
func serve(t *testing.T, s *mllp.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, s, ln)
}

// serveOn runs s on ln until the test ends and returns ln's address.
func serveOn(t *testing.T, s *mllp.Server, ln net.Listener) string {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		s.Close()
		select {
		case err := <-errc:
			if !errors.Is(err, mllp.ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(testTimeout):
			t.Errorf("Serve did not return after Close")
		}
	})
	return ln.Addr().String()
}

// startServer is serve with Serve's result delivered on the returned
// channel instead of being checked at cleanup.
func startServer(t *testing.T, s *mllp.Server) (addr string, served <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(context.Background(), ln) }()
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String(), errc
}

// rawConn is a test peer speaking bytes to a server.
type rawConn struct {
	net.Conn
	r *mllp.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { nc.Close() })
	return &rawConn{Conn: nc, r: mllp.NewReader(nc)}
}

func (c *rawConn) write(t *testing.T, b string) {
	t.Helper()
	if _, err := c.Write([]byte(b)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func (c *rawConn) send(t *testing.T, msg []byte) {
	t.Helper()
	if err := mllp.WriteFrame(c, msg); err != nil {
		t.Fatalf("write frame: %v", err)
	}
}

// readAck reads a frame and checks it acknowledges id with code.
func (c *rawConn) readAck(t *testing.T, id, code string) {
	t.Helper()
	ack, err := c.r.ReadFrame()
	if err != nil {
		t.Fatalf("read ack for %s: %v", id, err)
	}
	if want := fmt.Sprintf("MSA|%s|%s", code, id); !strings.Contains(string(ack), want) {
		t.Fatalf("ack %q does not contain %q", ack, want)
	}
}

// expectClosed checks the server closes the connection, without sending
// anything, within limit.
func (c *rawConn) expectClosed(t *testing.T, limit time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(limit))
	var b [1]byte
	n, err := c.Read(b[:])
	if n != 0 || err == nil {
		t.Fatalf("read %d bytes, err %v; want the connection closed", n, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", limit)
	}
}
