package engine_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/carebridge/carebridge/engine"
	"github.com/carebridge/carebridge/engine/mllp"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
)

// BenchmarkIngest measures messages/s through a real listener and journal
// (durability full) with 32 concurrent senders on loopback.
func BenchmarkIngest(b *testing.B) {
	n := start(b, testConfig(b, nil), nil)
	const senders = 32
	clients := make([]*mllp.Client, senders)
	for i := range clients {
		c, err := mllp.Dial(context.Background(), n.addr, mllp.ClientOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				msg := fmt.Appendf(nil, "MSH|^~\\&|BENCH|HOSP|CB|CB|20261101120000||ADT^A08^ADT_A01|B%d|P|2.5.1\rEVN|A08|20261101120000\rPID|1||M%d^^^HOSP^MR||Bench^Person||19900101|U\rPV1|1|I|W1^1^1^HOSP\r", i, i)
				if _, err := c.Send(context.Background(), msg); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkReceiveLocal measures the receive path without the network, as
// `carebridge replay --data` uses it: 64 concurrent callers, durability full.
func BenchmarkReceiveLocal(b *testing.B) {
	cfg := testConfig(b, nil)
	store, err := sqlite.Open(context.Background(), cfg.DatabasePath(), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	eng, err := engine.New(cfg, engine.Deps{Journal: store})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				msg := fmt.Appendf(nil, "MSH|^~\\&|BENCH|HOSP|CB|CB|20261101120000||ADT^A08^ADT_A01|L%d|P|2.5.1\rEVN|A08|20261101120000\rPID|1||M%d^^^HOSP^MR||Bench^Person||19900101|U\rPV1|1|I|W1^1^1^HOSP\r", i, i)
				if r := eng.Receive(context.Background(), engine.Inbound{Listener: "replay", Raw: msg}); !r.Stored {
					b.Error("not stored")
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
