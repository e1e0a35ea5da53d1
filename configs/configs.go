// Package configs holds Carebridge's example configurations; the default one
// is embedded in the binary and runs with no edits.
package configs

import _ "embed"

// Default is the configuration `carebridge serve` uses without --config.
//
//go:embed default.yaml
var Default []byte
