package mllp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestHandshakeHint: the failed handshakes that read alike in Go's errors
// get hints that tell their causes apart.
func TestHandshakeHint(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("handshake: %w", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), "plain MLLP"},
		{errors.New("tls: client didn't provide a certificate"), "not issued by this listener's client CA"},
		{errors.New("remote error: tls: bad certificate"), "the client refused this listener's certificate"},
		{errors.New("tls: client offered only unsupported versions: [301]"), "min_version"},
		{errors.New("remote error: tls: protocol version not supported"), "min_version"},
	} {
		got := handshakeHint(tc.err)
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%v: hint %q, want one with %q", tc.err, got, tc.want)
		}
	}
}
