package archive

import (
	"fmt"
	"io"
)

// Limits bound what reading an archive may cost, so that a hostile one (a
// decompression bomb, a million tiny entries) fails in one line instead
// of filling the disk or the memory. The zero value is DefaultLimits.
type Limits struct {
	// Unpacked is the most bytes a compressed archive may unpack to.
	Unpacked int64
	// Ratio is the most a compressed archive may unpack to, as a
	// multiple of its own size (gzip's densest is about 1000).
	Ratio int64
	// Entries is the most entries an archive may have.
	Entries int
	// Metadata is the most bytes of small files (manifests, configs)
	// held in memory.
	Metadata int64
}

// DefaultLimits: 64 GiB and 1024 times the archive's own size, 100,000
// entries, 32 MiB of manifests and configs.
var DefaultLimits = Limits{Unpacked: 64 << 30, Ratio: 1024, Entries: 100_000, Metadata: 32 << 20}

func (l Limits) orDefault() Limits {
	if l == (Limits{}) {
		return DefaultLimits
	}
	return l
}

// cap bounds the unpacked stream of a compressed archive of packed bytes.
func (l Limits) cap(r io.Reader, packed int64) *capped {
	return &capped{r: r, limits: l, limit: min(l.Unpacked, max(packed, 1<<20)*l.Ratio)}
}

// capped fails reading past limit bytes with ErrTooLarge.
type capped struct {
	r      io.Reader
	n      int64
	limit  int64
	limits Limits
}

func (c *capped) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.limit {
		return n, &Error{Kind: ErrTooLarge, Reason: fmt.Sprintf(
			"it unpacks to more than %s (the limit is %d times the compressed size, at most %s): a decompression bomb, or an image too large",
			human(c.limit), c.limits.Ratio, human(c.limits.Unpacked))}
	}
	return n, err
}

// human writes a byte count for people.
func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}
