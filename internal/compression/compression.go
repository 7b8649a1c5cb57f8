// Package compression says how the layers this action compresses are
// compressed, and hands BuildKit the same setting for builds: one value,
// parsed once from the compression, compression-level and
// force-compression inputs. Its writers are deterministic (the same bytes
// in give the same bytes out on any machine), so the same archive always
// gives the same digest, and a re-run matches what a half-finished one
// pushed.
package compression

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Algorithm is how a layer is compressed. The zero value is gzip, the
// default: every puller reads it.
type Algorithm int

const (
	// Gzip is the default: what every registry and puller accepts.
	Gzip Algorithm = iota
	// Zstd is smaller and faster to compress and unpack, for registries
	// and pullers that all read it.
	Zstd
	// Uncompressed layers cost no CPU and the most bytes: for a registry
	// on the same fast network as every puller.
	Uncompressed
)

var names = [...]string{Gzip: "gzip", Zstd: "zstd", Uncompressed: "uncompressed"}

// String is the algorithm's name as the compression input and BuildKit
// write it.
func (a Algorithm) String() string {
	if a < 0 || int(a) >= len(names) {
		return fmt.Sprintf("Algorithm(%d)", int(a))
	}
	return names[a]
}

// ErrInvalid is a compression input value that is not allowed.
var ErrInvalid = errors.New("invalid compression setting")

// ParseAlgorithm reads the compression input: gzip (also when empty),
// zstd or uncompressed.
func ParseAlgorithm(s string) (Algorithm, error) {
	if s == "" {
		return Gzip, nil
	}
	for a, name := range names {
		if s == name {
			return Algorithm(a), nil
		}
	}
	return 0, fmt.Errorf("%w: %q is not one of gzip, zstd, uncompressed", ErrInvalid, s)
}

// levels are the compression-level values each algorithm takes, as
// BuildKit reads them (gzip's 1-9, zstd's 1-22, mapped by klauspost's
// EncoderLevelFromZstd); uncompressed takes none.
var levels = [...][2]int{Gzip: {1, 9}, Zstd: {1, 22}, Uncompressed: {0, 0}}

// ParseLevel reads the compression-level input for algorithm a: empty is
// 0, the default (see Compression.Level).
func ParseLevel(a Algorithm, s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	lo, hi := levels[a][0], levels[a][1]
	switch {
	case hi == 0:
		return 0, fmt.Errorf("%w: %s layers take no level, got %q", ErrInvalid, a, s)
	case err != nil || n < lo || n > hi:
		return 0, fmt.Errorf("%w: %s takes a level from %d to %d, got %q", ErrInvalid, a, lo, hi, s)
	}
	return n, nil
}

// Compression is the whole setting.
type Compression struct {
	// Algorithm is the compression input (gzip unless given).
	Algorithm Algorithm
	// Level is the compression level; 0 is the default: for the layers
	// this action compresses, gzip's DefaultGzipLevel and klauspost's
	// default for zstd (EffectiveLevel); for a build, BuildKit's own
	// default (ExporterAttrs sets no level).
	Level int
	// Force recompresses layers a build found already compressed
	// otherwise (BuildKit's force-compression); the layers of an archive
	// are compressed by this action in any case.
	Force bool
}

// Validate reports a Compression the parsers would not have made.
func (c Compression) Validate() error {
	if c.Algorithm < 0 || int(c.Algorithm) >= len(names) {
		return fmt.Errorf("%w: %s", ErrInvalid, c.Algorithm)
	}
	if c.Level == 0 {
		return nil
	}
	_, err := ParseLevel(c.Algorithm, strconv.Itoa(c.Level))
	return err
}

// DefaultGzipLevel is the gzip level of the layers this action compresses
// itself (an archive's) when compression-level is empty: BestSpeed, the
// level go-containerregistry, and so crane and ko, compresses layers with
// (google/go-containerregistry pkg/v1/tarball LayerFromOpener and
// pkg/v1/stream NewLayer default to gzip.BestSpeed). On two cores the
// whole archive push takes about a quarter less time than at klauspost's
// default (5), for layers 11-12 % larger (docs/benchmarks.md, archive
// cases). Builds keep BuildKit's own default: see ExporterAttrs.
const DefaultGzipLevel = 1

// EffectiveLevel is the level NewWriter compresses at: Level, or when it
// is 0, DefaultGzipLevel for gzip and 0 (klauspost's default) for zstd;
// always 0 for uncompressed.
func (c Compression) EffectiveLevel() int {
	if c.Level == 0 && c.Algorithm == Gzip {
		return DefaultGzipLevel
	}
	return c.Level
}

// String says how layers are compressed, as the action's log writes it:
// "gzip level 1", "zstd" (its default), "zstd level 9", "uncompressed".
func (c Compression) String() string {
	if l := c.EffectiveLevel(); l != 0 {
		return fmt.Sprintf("%s level %d", c.Algorithm, l)
	}
	return c.Algorithm.String()
}

// MediaType is the OCI media type of a layer compressed this way.
func (c Compression) MediaType() string {
	switch c.Algorithm {
	case Zstd:
		return ocispec.MediaTypeImageLayerZstd
	case Uncompressed:
		return ocispec.MediaTypeImageLayer
	}
	return ocispec.MediaTypeImageLayerGzip
}

// ExporterAttrs are the attributes BuildKit's image and OCI exporters take
// for the same setting, with OCI media types (zot without docker2s2
// refuses Docker's). A Level of 0 sets no compression-level: a build
// keeps BuildKit's own default, not DefaultGzipLevel.
func (c Compression) ExporterAttrs() map[string]string {
	attrs := map[string]string{
		"compression":    c.Algorithm.String(),
		"oci-mediatypes": "true",
	}
	if c.Level != 0 {
		attrs["compression-level"] = strconv.Itoa(c.Level)
	}
	if c.Force {
		attrs["force-compression"] = "true"
	}
	return attrs
}

// blockSize is the input block each gzip goroutine compresses. It is a
// constant, never derived from the machine: the blocks, not how many are
// compressed at once, decide the bytes written.
const blockSize = 1 << 20

// Writer compresses what is written to it; Close flushes it (and does not
// close the writer underneath). Reset starts a new stream into another
// writer, keeping the buffers: one Writer compresses layer after layer
// with no new allocation.
type Writer interface {
	io.WriteCloser
	Reset(w io.Writer)
}

// NewWriter returns a Writer that compresses into w. Its output depends only on the bytes written and c,
// not on how they are split into writes nor on the number of cores: gzip
// is compressed in fixed 1 MiB blocks in parallel (pgzip), zstd with
// klauspost's streaming encoder, which is deterministic at any
// concurrency (its job-based WithConcurrentBlocks is not, so it is off).
func (c Compression) NewWriter(w io.Writer) (Writer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	switch c.Algorithm {
	case Zstd:
		opts := []zstd.EOption{zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0))}
		if l := c.EffectiveLevel(); l != 0 {
			opts = append(opts, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(l)))
		}
		return zstd.NewWriter(w, opts...)
	case Uncompressed:
		return &plain{w}, nil
	}
	zw, err := pgzip.NewWriterLevel(w, c.EffectiveLevel())
	if err != nil {
		return nil, err
	}
	// Twice the cores in flight keeps every core busy while one block
	// waits to be written; memory stays at a few MiB.
	if err := zw.SetConcurrency(blockSize, 2*runtime.GOMAXPROCS(0)); err != nil {
		return nil, err
	}
	return zw, nil
}

// plain is the Writer of uncompressed layers.
type plain struct{ io.Writer }

func (*plain) Close() error        { return nil }
func (p *plain) Reset(w io.Writer) { p.Writer = w }
