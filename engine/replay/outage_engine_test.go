package replay

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/carebridge/carebridge/config"
	"github.com/carebridge/carebridge/engine"
	"github.com/carebridge/carebridge/engine/mllp"
	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
)

// TestMLLPLostAckIsAnsweredAsDuplicate replays into the real engine and
// journal; the acknowledgement of one message is lost after the journal
// took it. The replay sends it again once the connection is back, the
// engine answers it as a duplicate with the original AA, the replay counts
// it as delivered, and the journal holds the message once plus one
// duplicate entry.
func TestMLLPLostAckIsAnsweredAsDuplicate(t *testing.T) {
	cases := []struct {
		name, policy string
		loss         after // how the ACK is lost
	}{
		{"server stops/" + config.AckOnCommit, config.AckOnCommit, shutDown},
		{"server stops/" + config.AckOnProcess, config.AckOnProcess, shutDown},
		// The client itself sends again once on a new connection.
		{"connection drops/" + config.AckOnCommit, config.AckOnCommit, hangUp},
	}
	for _, tc := range cases {
		policy := tc.policy
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse("test", []byte("mllp:\n  - name: test\n    addr: 127.0.0.1:0\n"))
			if err != nil {
				t.Fatal(err)
			}
			cfg.DataDir = t.TempDir()
			cfg.HTTP.Addr = ""
			store, err := sqlite.Open(context.Background(), cfg.DatabasePath(), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			eng, err := engine.New(cfg, engine.Deps{Journal: store})
			if err != nil {
				t.Fatal(err)
			}

			dir := t.TempDir()
			ids := writeArchives(t, dir, archiveSpec{"a.hl7", 6})
			lost := ids[2]
			// Journaled, but the ACK never leaves.
			srv := newMLLPServer(t, losingOnce(lost, tc.loss, true, func(raw []byte) []byte {
				return eng.Receive(context.Background(), engine.Inbound{Listener: "test", Peer: "replay", Raw: raw, AckPolicy: policy}).Ack
			}))
			srv.start()
			w := newWaits()
			done := runAsync(t, context.Background(), NewMLLPSink(srv.addr, mllp.ClientOptions{}, 1), Options{
				Paths: []string{dir}, StateFile: filepath.Join(t.TempDir(), "state"), Concurrency: 1,
				Target: "mllp://" + srv.addr, sleep: w.sleep,
			})
			if tc.loss == shutDown {
				w.next(t)
				<-srv.stopped()
				srv.start()
				w.release <- struct{}{}
			}
			res := wait(t, done)
			if res.err != nil {
				t.Fatal(res.err)
			}
			if res.sum.Accepted != len(ids) || res.sum.Failed != 0 || res.sum.Rejected != 0 {
				t.Errorf("summary = %+v, want all %d accepted (the resend answered with the original AA)", res.sum, len(ids))
			}

			originals := map[string]int{}
			duplicates := map[string]int{}
			err = store.List(context.Background(), fhirstore.Filter{}, func(e *fhirstore.Entry) error {
				if e.Status == fhirstore.StatusDuplicate {
					duplicates[e.ControlID]++
				} else {
					originals[e.ControlID]++
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				if originals[id] != 1 {
					t.Errorf("%s journaled %d times (not as duplicate), want once", id, originals[id])
				}
				want := 0
				if id == lost {
					want = 1
				}
				if duplicates[id] != want {
					t.Errorf("%s has %d duplicate entries, want %d", id, duplicates[id], want)
				}
			}
		})
	}
}
