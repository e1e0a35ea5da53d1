//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import "time"

// processCPU is not measured on this system.
func processCPU() (time.Duration, bool) { return 0, false }
