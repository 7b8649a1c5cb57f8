package writer

import (
	"fmt"

	units "github.com/docker/go-units"
)

// humanPair writes two byte counts in one unit, the larger's, with two
// decimals: "from 1.00 MiB to 0.99 MiB" compares at a glance, where
// "from 1.0 MiB to 1046037 bytes" did not.
func humanPair(a, b int64) (string, string) {
	of := max(a, b)
	for _, u := range []struct {
		size float64
		name string
	}{{units.GiB, "GiB"}, {units.MiB, "MiB"}, {units.KiB, "KiB"}} {
		if float64(of) >= u.size {
			return fmt.Sprintf("%.2f %s", float64(a)/u.size, u.name), fmt.Sprintf("%.2f %s", float64(b)/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", a), fmt.Sprintf("%d bytes", b)
}

// human writes a byte count for people, as humanPair does.
func human(n int64) string {
	s, _ := humanPair(n, n)
	return s
}
