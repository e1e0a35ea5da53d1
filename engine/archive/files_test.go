package archive

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{
		"b/2.hl7", "b/1.hl7", "a.hl7", "b/c/3.hl7.gz", "b/.hidden.hl7", ".git/objects/x", "b/.cache/4.hl7",
	} {
		writeFile(t, filepath.Join(dir, p), []byte("MSH|^~\\&\r"))
	}
	if err := os.Symlink(filepath.Join(dir, "a.hl7"), filepath.Join(dir, "b", "link.hl7")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "b"), filepath.Join(dir, "dirlink")); err != nil {
		t.Fatal(err)
	}
	rel := func(ps []string) []string {
		var out []string
		for _, p := range ps {
			r, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(r))
		}
		return out
	}
	tests := []struct {
		name    string
		paths   []string
		want    []string
		wantErr string
	}{
		{name: "directory tree, sorted, hidden skipped",
			paths: []string{dir},
			want:  []string{"a.hl7", "b/1.hl7", "b/2.hl7", "b/c/3.hl7.gz", "b/link.hl7"}},
		{name: "files in the order given, duplicates once",
			paths: []string{filepath.Join(dir, "b/2.hl7"), filepath.Join(dir, "a.hl7"), filepath.Join(dir, "b")},
			want:  []string{"b/2.hl7", "a.hl7", "b/1.hl7", "b/c/3.hl7.gz", "b/link.hl7"}},
		{name: "hidden file named explicitly",
			paths: []string{filepath.Join(dir, "b/.hidden.hl7")},
			want:  []string{"b/.hidden.hl7"}},
		{name: "missing paths all reported",
			paths:   []string{filepath.Join(dir, "nope1"), dir, filepath.Join(dir, "nope2")},
			wantErr: "nope1"},
		{name: "no paths", wantErr: "no paths"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Files(tt.paths)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				if strings.Contains(tt.name, "all") && (!strings.Contains(err.Error(), "nope2") || !errors.Is(err, fs.ErrNotExist)) {
					t.Errorf("err = %v, want both missing paths as fs.ErrNotExist", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rel(got), tt.want) {
				t.Errorf("Files = %q, want %q", rel(got), tt.want)
			}
		})
	}
}

func TestOpenAndCount(t *testing.T) {
	fx := fixtures(t)
	plain := bytes.Join(fx, []byte("\r"))
	mllp := []byte("\x0b" + string(fx[0]) + "\x1c\r\x0b" + string(fx[1]) + "\x1c\r")
	batch := []byte("FHS|^~\\&\rBHS|^~\\&\r" + string(fx[2]) + "\rBTS|1\rFTS|1\r")
	bomLF := append([]byte{0xef, 0xbb, 0xbf}, withTerm(bytes.Join(fx, []byte("\r\n")), "\n")...)
	twoMembers := append(gzipped(t, plain), gzipped(t, mllp)...)

	dir := t.TempDir()
	tests := []struct {
		name string
		file string
		data []byte
		want int
	}{
		{"plain", "plain.hl7", plain, len(fx)},
		{"gzip named .gz", "plain.hl7.gz", gzipped(t, plain), len(fx)},
		{"gzip detected by magic bytes", "capture.dat", gzipped(t, mllp), 2},
		{"gzip batch", "batch", gzipped(t, batch), 1},
		{"gzip of BOM and LF", "bom.txt", gzipped(t, bomLF), len(fx)},
		{"concatenated gzip members", "two.gz", twoMembers, len(fx) + 2},
		{"empty file", "empty.hl7", nil, 0},
		{"empty gzip", "empty.gz", gzipped(t, nil), 0},
		{"one byte", "one.hl7", []byte("M"), 0},
	}
	var all []string
	total := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.file)
			writeFile(t, p, tt.data)
			all = append(all, p)
			total += tt.want
			s, c, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			n := 0
			for s.Scan() {
				n++
				m := s.Message()
				if m.Err != nil || !bytes.HasPrefix(m.Raw, []byte("MSH")) || m.Source != p {
					t.Errorf("message %d: err %v, source %q, raw %.20q", m.Index, m.Err, m.Source, m.Raw)
				}
			}
			if s.Err() != nil {
				t.Fatal(s.Err())
			}
			if n != tt.want {
				t.Errorf("scanned %d messages, want %d", n, tt.want)
			}
			cn, err := Count(context.Background(), []string{p})
			if err != nil || cn != tt.want {
				t.Errorf("Count = %d, %v; want %d", cn, err, tt.want)
			}
		})
	}
	n, err := Count(context.Background(), all)
	if err != nil || n != total {
		t.Errorf("Count(all) = %d, %v; want %d", n, err, total)
	}

	t.Run("corrupt gzip", func(t *testing.T) {
		p := filepath.Join(dir, "bad.gz")
		good := gzipped(t, plain)
		writeFile(t, p, good[:len(good)/2])
		s, c, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for s.Scan() {
		}
		if s.Err() == nil {
			t.Error("Err() = nil for a truncated gzip stream")
		}
		if _, err := Count(context.Background(), []string{p}); err == nil {
			t.Error("Count: no error for a truncated gzip stream")
		}
	})
	t.Run("missing file", func(t *testing.T) {
		if _, _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open err = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("cancelled count", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Count(ctx, all); !errors.Is(err, context.Canceled) {
			t.Errorf("Count err = %v, want context.Canceled", err)
		}
	})
}

// TestCountSplitReads checks that "MSH" split across reads is counted once.
func TestCountSplitReads(t *testing.T) {
	fx := fixtures(t)
	data := bytes.Join(fx, []byte("\n"))
	for _, size := range []int{1, 2, 3, 4, 7} {
		n, err := countReader(context.Background(), &chunkReader{data: data, size: size})
		if err != nil || n != len(fx) {
			t.Errorf("reads of %d bytes: count = %d, %v; want %d", size, n, err, len(fx))
		}
	}
}

type chunkReader struct {
	data []byte
	size int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.size)], r.data)
	r.data = r.data[n:]
	return n, nil
}
