package config

import (
	"fmt"
	"github.com/carebridge/carebridge/internal/strictyaml"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as "30s", "5m", "168h".
type Duration struct {
	D   time.Duration
	set bool // written explicitly (so that "0s" can mean "off")
}

// DecodeYAMLScalar reads a duration such as "30s".
func (d *Duration) DecodeYAMLScalar(s string) error {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write e.g. 30s, 5m, 168h)", s)
	}
	d.D, d.set = v, true
	return nil
}

// String returns the duration as Go writes it.
func (d Duration) String() string { return d.D.String() }

// ByteSize is a size in bytes written as "10MiB", "512KiB", "1048576".
type ByteSize int64

var sizeRe = regexp.MustCompile(`^\s*(\d+)\s*([KMG]i?B|B)?\s*$`)

// DecodeYAMLScalar reads a size such as "10MiB".
func (b *ByteSize) DecodeYAMLScalar(s string) error {
	m := sizeRe.FindStringSubmatch(s)
	if m == nil {
		return fmt.Errorf("%q is not a size (write e.g. 10MiB, 512KiB or a number of bytes)", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a size: %w", s, err)
	}
	mult := map[string]int64{"": 1, "B": 1, "KB": 1000, "KiB": 1 << 10, "MB": 1000 * 1000, "MiB": 1 << 20, "GB": 1e9, "GiB": 1 << 30}[m[2]]
	*b = ByteSize(n * mult)
	return nil
}

// String renders the size in the largest binary unit that divides it.
func (b ByteSize) String() string {
	switch {
	case b != 0 && b%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", b>>30)
	case b != 0 && b%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", b>>20)
	case b != 0 && b%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", b>>10)
	}
	return fmt.Sprintf("%dB", int64(b))
}

// Position is where a setting was written (file:line:col).
type Position = strictyaml.Position

// Error is one configuration problem.
type Error = strictyaml.Error

// Errors is every problem found in a configuration, in file order.
type Errors = strictyaml.Errors
