package mllp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/carebridge/carebridge/engine/mllp"
)

// scriptedServer accepts connections on loopback and runs script on each,
// numbering them from 1.
func scriptedServer(t *testing.T, script func(n int, c net.Conn, r *mllp.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for n := 1; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(testTimeout))
				script(n, c, mllp.NewReader(c))
			})
		}
	})
	return ln.Addr().String()
}

func mustDial(t *testing.T, addr string, opts mllp.ClientOptions) *mllp.Client {
	t.Helper()
	c, err := mllp.Dial(context.Background(), addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClientSkipsStaleAck(t *testing.T) {
	addr := scriptedServer(t, func(_ int, c net.Conn, r *mllp.Reader) {
		msg, err := r.ReadFrame()
		if err != nil {
			return
		}
		_ = mllp.WriteFrame(c, ackWithID("OLD", "AA"))
		_ = mllp.WriteFrame(c, []byte("not HL7 at all"))
		_ = mllp.WriteFrame(c, ackFor(msg, "AA"))
	})
	c := mustDial(t, addr, mllp.ClientOptions{AckTimeout: testTimeout})
	ack, err := c.Send(context.Background(), hl7Msg("NEW"))
	if err != nil {
		t.Fatal(err)
	}
	if got := ackControlIDOf(ack); got != "NEW" {
		t.Fatalf("Send returned the ack for %q, want NEW", got)
	}
}

func TestClientAckTimeoutThenLateAck(t *testing.T) {
	firstRead := make(chan []byte, 1)
	timedOut := make(chan struct{})
	lateWritten := make(chan struct{})
	addr := scriptedServer(t, func(n int, c net.Conn, r *mllp.Reader) {
		switch n {
		case 1:
			// Read the first message, answer only after the client gave up.
			msg, err := r.ReadFrame()
			if err != nil {
				return
			}
			firstRead <- msg
			<-timedOut
			_ = mllp.WriteFrame(c, ackFor(msg, "AA"))
			close(lateWritten)
			// Then serve whatever else arrives on this connection (nothing
			// should: the client must have dropped it).
			for {
				msg, err := r.ReadFrame()
				if err != nil {
					return
				}
				_ = mllp.WriteFrame(c, ackWithID("FIRST", "AA"))
				_ = mllp.WriteFrame(c, ackFor(msg, "AA"))
			}
		case 2:
			msg, err := r.ReadFrame()
			if err != nil {
				return
			}
			// The late ACK of the first message arrives first here too.
			_ = mllp.WriteFrame(c, ackWithID("FIRST", "AA"))
			_ = mllp.WriteFrame(c, ackFor(msg, "AA"))
			// The third message only ever gets acknowledgements of others.
			if _, err := r.ReadFrame(); err != nil {
				return
			}
			_ = mllp.WriteFrame(c, ackWithID("FIRST", "AA"))
			_ = mllp.WriteFrame(c, ackWithID("SECOND", "AA"))
			_, _ = r.ReadFrame() // wait for the client to go
		}
	})
	c := mustDial(t, addr, mllp.ClientOptions{AckTimeout: 200 * time.Millisecond, Reconnect: true, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	ctx := context.Background()

	_, err := c.Send(ctx, hl7Msg("FIRST"))
	if !errors.Is(err, mllp.ErrAckTimeout) || errors.Is(err, mllp.ErrAckMismatch) {
		t.Fatalf("first Send: %v, want ErrAckTimeout alone", err)
	}
	<-firstRead
	close(timedOut)
	<-lateWritten

	ack, err := c.Send(ctx, hl7Msg("SECOND"))
	if err != nil {
		t.Fatalf("second Send: %v", err)
	}
	if got := ackControlIDOf(ack); got != "SECOND" {
		t.Fatalf("second Send returned the ack for %q", got)
	}

	_, err = c.Send(ctx, hl7Msg("THIRD"))
	if !errors.Is(err, mllp.ErrAckTimeout) || !errors.Is(err, mllp.ErrAckMismatch) {
		t.Fatalf("third Send: %v, want ErrAckTimeout and ErrAckMismatch", err)
	}
}

func TestClientReconnectAfterServerRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	first := &mllp.Server{Handler: mllp.HandlerFunc(acker)}
	firstDone := make(chan error, 1)
	go func() { firstDone <- first.Serve(context.Background(), ln) }()

	c := mustDial(t, addr, mllp.ClientOptions{AckTimeout: testTimeout, Reconnect: true, MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	ctx := context.Background()
	if _, err := c.Send(ctx, hl7Msg("BEFORE")); err != nil {
		t.Fatal(err)
	}

	if err := first.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	<-firstDone
	if _, err := c.Send(ctx, hl7Msg("DOWN")); err == nil {
		t.Fatal("Send succeeded with the server down")
	}

	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("relisten on %s: %v", addr, err)
	}
	serveOn(t, &mllp.Server{Handler: mllp.HandlerFunc(acker)}, ln2)
	ack, err := c.Send(ctx, hl7Msg("AFTER"))
	if err != nil {
		t.Fatalf("Send after restart: %v", err)
	}
	if got := ackControlIDOf(ack); got != "AFTER" {
		t.Fatalf("ack for %q, want AFTER", got)
	}
}

func TestClientRetriesConnectionClosedByServer(t *testing.T) {
	// The server closes idle connections; the next Send finds its reused
	// connection dead and retries once on a new one.
	obs := newRecorder()
	s := &mllp.Server{Handler: mllp.HandlerFunc(acker), IdleTimeout: 50 * time.Millisecond, Observer: obs}
	addr := serve(t, s)
	c := mustDial(t, addr, mllp.ClientOptions{AckTimeout: testTimeout, Reconnect: true})
	ctx := context.Background()
	if _, err := c.Send(ctx, hl7Msg("ONE")); err != nil {
		t.Fatal(err)
	}
	obs.waitFor(t, "closed", 1)
	if _, err := c.Send(ctx, hl7Msg("TWO")); err != nil {
		t.Fatalf("Send on a connection the server closed: %v", err)
	}
	if n := obs.count("opened"); n != 2 {
		t.Errorf("%d connections opened, want 2", n)
	}
}

func TestClientWithoutReconnect(t *testing.T) {
	obs := newRecorder()
	s := &mllp.Server{Handler: mllp.HandlerFunc(acker), IdleTimeout: 50 * time.Millisecond, Observer: obs}
	c := mustDial(t, serve(t, s), mllp.ClientOptions{AckTimeout: testTimeout})
	ctx := context.Background()
	obs.waitFor(t, "closed", 1)
	if _, err := c.Send(ctx, hl7Msg("LOST")); err == nil {
		t.Fatal("Send on a closed connection succeeded")
	}
	if _, err := c.Send(ctx, hl7Msg("AGAIN")); !errors.Is(err, mllp.ErrNotConnected) {
		t.Fatalf("Send after losing the connection: %v, want ErrNotConnected", err)
	}
}

func TestClientConcurrentSends(t *testing.T) {
	addr := serve(t, &mllp.Server{Handler: mllp.HandlerFunc(acker)})
	c := mustDial(t, addr, mllp.ClientOptions{AckTimeout: testTimeout})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			id := fmt.Sprintf("G%d", i)
			ack, err := c.Send(context.Background(), hl7Msg(id))
			if err != nil {
				t.Errorf("Send %s: %v", id, err)
				return
			}
			if got := ackControlIDOf(ack); got != id {
				t.Errorf("Send %s returned the ack for %s", id, got)
			}
		})
	}
	wg.Wait()
}

func TestClientContextCancel(t *testing.T) {
	received := make(chan struct{})
	addr := scriptedServer(t, func(n int, c net.Conn, r *mllp.Reader) {
		msg, err := r.ReadFrame()
		if err != nil {
			return
		}
		if n == 1 {
			close(received)
			_, _ = r.ReadFrame() // never acknowledge; wait for the client to go
			return
		}
		_ = mllp.WriteFrame(c, ackFor(msg, "AA"))
	})
	c := mustDial(t, addr, mllp.ClientOptions{AckTimeout: testTimeout, Reconnect: true, MinBackoff: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-received
		cancel()
	}()
	if _, err := c.Send(ctx, hl7Msg("CANCELLED")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send: %v, want context.Canceled", err)
	}
	if _, err := c.Send(context.Background(), hl7Msg("NEXT")); err != nil {
		t.Fatalf("Send after a cancelled one: %v", err)
	}
}

func TestClientErrors(t *testing.T) {
	addr := serve(t, &mllp.Server{Handler: mllp.HandlerFunc(acker)})
	c := mustDial(t, addr, mllp.ClientOptions{AckTimeout: testTimeout})
	ctx := context.Background()
	if _, err := c.Send(ctx, []byte("PID|1\r")); !errors.Is(err, mllp.ErrNoControlID) {
		t.Errorf("Send without MSH-10: %v, want ErrNoControlID", err)
	}
	if _, err := c.Send(ctx, append(hl7Msg("BAD"), 0x1c)); !errors.Is(err, mllp.ErrInvalidPayload) {
		t.Errorf("Send with a framing byte: %v, want ErrInvalidPayload", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, hl7Msg("AFTER")); !errors.Is(err, mllp.ErrClientClosed) {
		t.Errorf("Send after Close: %v, want ErrClientClosed", err)
	}
	if _, err := mllp.Dial(ctx, "127.0.0.1:1", mllp.ClientOptions{DialTimeout: time.Second}); err == nil {
		t.Errorf("Dial to a closed port succeeded")
	}
}

func TestNewClientConnectsOnFirstSend(t *testing.T) {
	// A port nobody listens on: NewClient does not notice, Send does.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := mllp.NewClient(addr, mllp.ClientOptions{})
	defer c.Close()
	if _, err := c.Send(context.Background(), hl7Msg("N1")); err == nil {
		t.Fatal("Send to a closed port succeeded")
	}

	served := scriptedServer(t, func(_ int, c net.Conn, r *mllp.Reader) {
		for {
			msg, err := r.ReadFrame()
			if err != nil {
				return
			}
			_ = mllp.WriteFrame(c, ackFor(msg, "AA"))
		}
	})
	c = mllp.NewClient(served, mllp.ClientOptions{})
	defer c.Close()
	for _, id := range []string{"N2", "N3"} {
		ack, err := c.Send(context.Background(), hl7Msg(id))
		if err != nil {
			t.Fatalf("Send %s: %v", id, err)
		}
		if got := ackControlIDOf(ack); got != id {
			t.Errorf("ack for %s carries %s", id, got)
		}
	}
}
