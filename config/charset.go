package config

import "github.com/carebridge/carebridge/engine/hl7"

// KnownCharset reports whether name is a character set the HL7 parser can
// decode (see hl7.CheckCharset).
func KnownCharset(name string) bool { return hl7.CheckCharset(name) == nil }
