package notice

import (
	"os"
	"path/filepath"
	"testing"
)

// TestGivenOncePerChange: a notice is remembered once given, per file
// and per text; a tool cache that cannot be written, or none, remembers
// nothing.
func TestGivenOncePerChange(t *testing.T) {
	cache := t.TempDir()
	for i, c := range []struct {
		cache, path, text string
		want              bool
	}{
		{cache, "a/default.nix", "also matched: line 5", false},
		{cache, "a/default.nix", "also matched: line 5", true},
		{cache, "a/default.nix", "also matched: line 6", false},
		{cache, "b/default.nix", "also matched: line 5", false},
		{"", "a/default.nix", "also matched: line 5", false},
		{"", "a/default.nix", "also matched: line 5", false},
	} {
		if got := Given(c.cache, c.path, c.text); got != c.want {
			t.Errorf("call %d: given %v, want %v", i, got, c.want)
		}
	}
	blocked := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocked, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if Given(blocked, "a/default.nix", "x") {
			t.Errorf("call %d: a cache that is a file remembered the notice", i)
		}
	}
}
