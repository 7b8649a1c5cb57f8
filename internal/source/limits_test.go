package source

import "testing"

func TestHuman(t *testing.T) {
	for n, want := range map[int64]string{512: "512 bytes", 1 << 20: "1.0 MiB", 32 << 20: "32.0 MiB", 1 << 30: "1.0 GiB", 64 << 30: "64.0 GiB", 3 << 29: "1.5 GiB"} {
		if got := human(n); got != want {
			t.Errorf("human(%d) = %q, want %q", n, got, want)
		}
	}
}
