package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPrevious: the SHA tag of the push's "before" commit follows the
// tags that follow releases; a new branch, another event or no file
// adds none.
func TestPrevious(t *testing.T) {
	dir, n := t.TempDir(), 0
	event := func(body string) string {
		n++
		p := filepath.Join(dir, fmt.Sprint("event-", n))
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	before := strings.Repeat("ab", 20)
	for path, want := range map[string]string{
		event(`{"before":"` + before + `","after":"x"}`):      before,
		event(`{"before":"` + strings.Repeat("0", 40) + `"}`): "",
		event(`{"action":"opened"}`):                          "",
		event(`{"before":"not a sha"}`):                       "",
		filepath.Join(dir, "missing"):                         "",
		"":                                                    "",
	} {
		env := map[string]string{"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": path}
		if got := eventBefore(func(k string) string { return env[k] }); got != want {
			t.Errorf("eventBefore(%s) = %q, want %q", path, got, want)
		}
	}
	pr := map[string]string{"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": event(`{"before":"` + before + `"}`)}
	if got := eventBefore(func(k string) string { return pr[k] }); got != "" {
		t.Errorf("a pull request's before = %q, want none", got)
	}
	c := Config{Tags: []string{"latest"}, Before: before, SHALength: 7, TagSuffix: "-nix"}
	if got := c.Previous(); !slices.Equal(got, []string{"latest", "abababa-nix"}) {
		t.Errorf("Previous = %v", got)
	}
	c.Before = ""
	if got := c.Previous(); !slices.Equal(got, []string{"latest"}) {
		t.Errorf("Previous without a commit before = %v", got)
	}
}
