package hl7

// CheckCharset reports whether name (an HL7 table 0211 value such as
// "UNICODE UTF-8", "8859/1" or "GB 18030", or a common IANA name) is a
// character set this package can decode. Configuration loaders use it to
// refuse an unknown fallback character set before any message arrives.
func CheckCharset(name string) error {
	_, err := lookupCharset(name)
	return err
}
