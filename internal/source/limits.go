package source

import (
	"cmp"
	"fmt"
	"io"
	"sync/atomic"

	units "github.com/docker/go-units"
)

// Limits bound what reading an archive may cost, so that a hostile one (a
// decompression bomb, a million tiny entries, a layer named a thousand
// times, indexes that fan out) fails in one line instead of filling the
// disk or the memory. Each counts what it protects, across the whole
// archive: declared sizes (a sparse entry at the size it expands to), and
// each distinct blob and manifest once, however often it is named. A
// zero field is DefaultLimits'.
type Limits struct {
	// Unpacked is the most bytes an archive may unpack to: its entries at
	// their declared sizes and its compressed layers unpacked, together.
	Unpacked int64
	// Ratio is the most an archive may unpack to, as a multiple of its
	// own size (gzip's densest is about 1000).
	Ratio int64
	// Entries is the most entries an archive may have.
	Entries int
	// Metadata is the most bytes of small files (manifests, configs)
	// held in memory.
	Metadata int64
	// Manifests is the most distinct manifests and indexes an OCI image
	// may have.
	Manifests int
	// Descriptors is the most descriptors its distinct manifests and
	// indexes may list, together.
	Descriptors int
}

// DefaultLimits: 64 GiB and 1024 times the archive's own size, 100,000
// entries, 32 MiB of manifests and configs, 1,000 manifests listing
// 10,000 descriptors (an index of 40 platforms with attestations and 127
// layers each is some 80 manifests and 5,000 descriptors).
var DefaultLimits = Limits{Unpacked: 64 << 30, Ratio: 1024, Entries: 100_000, Metadata: 32 << 20, Manifests: 1000, Descriptors: 10_000}

func (l Limits) orDefault() Limits {
	d := DefaultLimits
	return Limits{
		Unpacked: cmp.Or(l.Unpacked, d.Unpacked), Ratio: cmp.Or(l.Ratio, d.Ratio), Entries: cmp.Or(l.Entries, d.Entries),
		Metadata: cmp.Or(l.Metadata, d.Metadata), Manifests: cmp.Or(l.Manifests, d.Manifests), Descriptors: cmp.Or(l.Descriptors, d.Descriptors),
	}
}

// UnpackLimit is the most bytes packed bytes (an archive, a blob) may
// unpack to.
func (l Limits) UnpackLimit(packed int64) int64 {
	l = l.orDefault()
	return min(l.Unpacked, max(packed, 1<<20)*l.Ratio)
}

// budget is what an archive of packed bytes may unpack to.
func (l Limits) budget(packed int64) *budget {
	return &budget{limit: l.UnpackLimit(packed), limits: l}
}

// budget counts unpacked bytes against one limit, whichever pass spends
// them (the reader, and a compressed blob's unpacking beside it).
type budget struct {
	used   atomic.Int64
	limit  int64
	limits Limits
}

// spend counts n more bytes, failing with ErrTooLarge past the limit.
func (b *budget) spend(n int64) error {
	if b.used.Add(n) > b.limit {
		return &Error{Kind: ErrTooLarge, Reason: fmt.Sprintf(
			"it unpacks to more than %s (the limit is %d times the archive's size, at most %s; declared sizes count, each distinct layer once): a decompression bomb, or an image too large",
			human(b.limit), b.limits.Ratio, human(b.limits.Unpacked))}
	}
	return nil
}

// reader counts what r unpacks.
func (b *budget) reader(r io.Reader) io.Reader { return spending{r, b} }

type spending struct {
	r io.Reader
	b *budget
}

func (s spending) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if berr := s.b.spend(int64(n)); berr != nil {
		return n, berr
	}
	return n, err
}

// human writes a byte count for people: "1.0 GiB", "32.0 MiB", "512
// bytes".
func human(n int64) string {
	if n < units.MiB {
		return fmt.Sprintf("%d bytes", n)
	}
	return units.CustomSize("%.1f %s", float64(n), 1024, []string{"bytes", "KiB", "MiB", "GiB", "TiB"})
}
