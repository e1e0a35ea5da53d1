package engine

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/carebridge/carebridge/config"
)

// ServerTLS builds a listener's TLS configuration from its settings with the
// configuration's own loader (config.TLS.ServerConfig), which `config check`
// runs too: the files are checked the same way, against the current time.
func ServerTLS(c *config.TLS) (*tls.Config, error) {
	t, err := c.ServerConfig(time.Now())
	if err != nil {
		return nil, fmt.Errorf("load tls files: %w", err)
	}
	return t, nil
}
