package compression

import (
	"bufio"
	"bytes"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// maxWindow is the largest zstd window read (zstd --long=27, the most
// its command line uses): a frame asking for more is refused rather than
// allocated.
const maxWindow = 1 << 27

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Detect says how the stream starting with head is compressed, from its
// magic bytes (never from a file name): Uncompressed when it is neither
// gzip nor zstd.
func Detect(head []byte) Algorithm {
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		return Gzip
	case bytes.HasPrefix(head, zstdMagic):
		return Zstd
	}
	return Uncompressed
}

// NewReader detects how r is compressed and returns the decompressed
// stream and the algorithm found. Decompression runs ahead in its own
// goroutine, so it overlaps with whatever reads the result; Close stops
// it (and does not close r).
func NewReader(r io.Reader) (io.ReadCloser, Algorithm, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.Peek(len(zstdMagic))
	if err != nil && err != io.EOF {
		return nil, 0, err
	}
	a := Detect(head)
	switch a {
	case Gzip:
		zr, err := pgzip.NewReader(br)
		if err != nil {
			return nil, a, err
		}
		return zr, a, nil
	case Zstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(maxWindow))
		if err != nil {
			return nil, a, err
		}
		return zr.IOReadCloser(), a, nil
	}
	return io.NopCloser(br), a, nil
}
