package config

// KnownCharset reports whether name is a character set the HL7 parser knows.
var knownCharsetCheck = func(string) bool { return true }

// KnownCharset reports whether name is a character set the HL7 parser knows.
func KnownCharset(name string) bool { return knownCharsetCheck(name) }
