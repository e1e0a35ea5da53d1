package mllp

import (
	"testing"
	"time"
)

func TestClientBackoff(t *testing.T) {
	c := &Client{opts: ClientOptions{MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}}
	tests := []struct {
		failures int
		ceiling  time.Duration
	}{
		{1, 10 * time.Millisecond},
		{2, 20 * time.Millisecond},
		{3, 40 * time.Millisecond},
		{4, 80 * time.Millisecond},
		{5, 100 * time.Millisecond},
		{50, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := c.backoff(tt.failures)
			if d < tt.ceiling/2 || d > tt.ceiling {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tt.failures, d, tt.ceiling/2, tt.ceiling)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("backoff(%d) has no jitter", tt.failures)
		}
	}
}
