package mappings

import (
	"embed"
	"io/fs"
)

//go:embed hl7v2
var shipped embed.FS

// Shipped returns the mapping files built into Carebridge (the directory
// mappings/hl7v2 of the source tree).
func Shipped() fs.FS {
	sub, err := fs.Sub(shipped, "hl7v2")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}
