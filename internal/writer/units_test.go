package writer

import "testing"

// TestHumanPairOneUnit: the sizes a line compares are written in one
// unit, the larger's (issue 31: "from 1.0 MiB to 1046037 bytes").
func TestHumanPairOneUnit(t *testing.T) {
	for _, c := range []struct {
		a, b   int64
		wa, wb string
	}{
		{1 << 20, 1046037, "1.00 MiB", "1.00 MiB"},
		{3 << 20, 1046037, "3.00 MiB", "1.00 MiB"},
		{2 << 30, 512 << 20, "2.00 GiB", "0.50 GiB"},
		{4096, 900, "4.00 KiB", "0.88 KiB"},
		{700, 300, "700 bytes", "300 bytes"},
	} {
		if a, b := humanPair(c.a, c.b); a != c.wa || b != c.wb {
			t.Errorf("humanPair(%d, %d) = %q, %q, want %q, %q", c.a, c.b, a, b, c.wa, c.wb)
		}
	}
}
