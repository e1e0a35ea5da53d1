package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// gzipMagic starts every gzip stream.
var gzipMagic = []byte{0x1f, 0x8b}

// Files expands paths into the list of archive files to read. A file is
// taken as it is (even when its name starts with a dot). A directory is
// walked recursively in lexical order (filepath.WalkDir); inside it, files
// and directories whose names start with "." are skipped, and so is
// anything that is not a regular file (or a symbolic link to one).
// Directories are listed in the order given; a file listed twice is read
// once. Missing or unreadable paths are errors, all of them reported
// together.
func Files(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, errors.New("archive: no paths given")
	}
	var (
		out  []string
		errs []error
		seen = make(map[string]bool)
	)
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, root := range paths {
		fi, err := os.Stat(root)
		if err != nil {
			errs = append(errs, fmt.Errorf("archive: %w", err))
			continue
		}
		if !fi.IsDir() {
			add(filepath.Clean(root))
			continue
		}
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != root && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			switch {
			case d.IsDir():
			case d.Type().IsRegular():
				add(p)
			case d.Type()&fs.ModeSymlink != 0:
				if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
					add(p)
				}
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("archive: walk %s: %w", root, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Open opens the archive file at path for scanning, decompressing it when
// it starts with the gzip magic bytes (whatever its name). Concatenated
// gzip members are read as one stream. The caller must close the returned
// Closer when done.
func Open(path string, opts ...Option) (*Scanner, io.Closer, error) {
	r, c, err := openFile(path)
	if err != nil {
		return nil, nil, err
	}
	return NewScanner(r, path, opts...), c, nil
}

// openFile opens path, returning a reader of its uncompressed contents.
func openFile(path string) (io.Reader, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("archive: %w", err)
	}
	br := bufio.NewReaderSize(f, readSize)
	magic, _ := br.Peek(len(gzipMagic))
	if !bytes.Equal(magic, gzipMagic) {
		return br, f, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("archive: open %s: %w", path, err)
	}
	return zr, closers{zr, f}, nil
}

type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Count estimates the number of messages in files, cheaply enough to show a
// total and an ETA before a long scan: it streams each file (decompressing
// gzip) and counts "MSH" at the start of a line or frame, without parsing
// anything else. Memory use is a fixed buffer. The count equals what a
// Scanner returns unless an archive holds "MSH" lines in skipped bytes.
func Count(ctx context.Context, files []string) (int, error) {
	total := 0
	for _, p := range files {
		r, c, err := openFile(p)
		if err != nil {
			return total, err
		}
		n, err := countReader(ctx, r)
		c.Close()
		total += n
		if err != nil {
			return total, fmt.Errorf("archive: count %s: %w", p, err)
		}
	}
	return total, nil
}

// countReader counts "MSH" preceded by the start of the stream, a line
// break, an MLLP start byte or a byte order mark.
func countReader(ctx context.Context, r io.Reader) (int, error) {
	const carry = 2 // bytes of a possible "MSH" split across reads
	buf := make([]byte, carry+readSize)
	var (
		n    int
		kept int
		prev byte = '\n' // the start of the stream counts as a line start
	)
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, err := r.Read(buf[kept:])
		data := buf[:kept+m]
		for i := 0; ; {
			j := bytes.Index(data[i:], []byte("MSH"))
			if j < 0 {
				break
			}
			i += j
			before := prev
			if i > 0 {
				before = data[i-1]
			}
			switch before {
			case '\r', '\n', startBlock, 0xbf:
				n++
			}
			i += 3
		}
		if len(data) >= carry {
			if len(data) > carry {
				prev = data[len(data)-carry-1]
			}
			copy(buf, data[len(data)-carry:])
			kept = carry
		} else {
			kept = len(data)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
