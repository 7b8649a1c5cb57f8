// Package testcheck holds the assertions and inputs the unit tests
// (packages main and config) and the end-to-end tests (package e2e) share:
// one ::error:: line, no secret anywhere, a valid set of inputs. It is test
// support, not part of the action.
package testcheck

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// SHA is the commit SHA the tests pass as the sha input.
const SHA = "0123456789abcdef0123456789abcdef01234567"

// ZotKey is a zot-shaped API key (zak_ + 32 hex digits) made per call,
// issued by no registry: tests need the shape, and no key-like string is
// committed.
func ZotKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "zak_" + hex.EncodeToString(b)
}

// Env is a getenv over a map, so the program can run in-process.
func Env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// Lookup is an os.LookupEnv over a map: a key absent from m is unset, one
// mapped to "" is set and empty.
func Lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// ValidInputs is a complete, valid set of inputs (as a runner's INPUT_*)
// for a workspace dir holding a Dockerfile.
func ValidInputs(dir string) map[string]string {
	return map[string]string{
		"INPUT_IMAGE":            "registry.example/team/app",
		"INPUT_VERSION":          "v1.2.0",
		"INPUT_SHA":              SHA,
		"INPUT_CONTEXT":          dir,
		"INPUT_USERNAME":         "ci",
		"INPUT_API-KEY":          "zak_secret_for_unit_tests",
		"INPUT_REGISTRY-TLS":     "disabled",
		"INPUT_BUILDKIT-ADDRESS": "unix:///nonexistent/buildkitd.sock",
	}
}

// Workspace is a temporary directory holding a Dockerfile.
func Workspace(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// OneErrorLine checks the output holds exactly one ::error:: line, that it
// contains want, and that nothing looks like a panic.
func OneErrorLine(t testing.TB, out, want string) {
	t.Helper()
	var errs []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "::error") {
			errs = append(errs, l)
		}
	}
	if len(errs) != 1 {
		t.Fatalf("want exactly one ::error:: line, got %d in:\n%s", len(errs), out)
	}
	if !strings.Contains(errs[0], want) {
		t.Errorf("error line %q does not contain %q", errs[0], want)
	}
	if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic:") {
		t.Errorf("output looks like a panic:\n%s", out)
	}
}

// secretForms are the ways a key could leak: as is; quoted or escaped
// (Go's %q, JSON); with '+' and '_' swapped (as a tag hint would);
// URL-encoded; base64-encoded alone or inside a Basic-auth header value
// (at each alignment).
func secretForms(key string) []string {
	forms := []string{key}
	add := func(f string) {
		if !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	quoted := strconv.Quote(key)
	add(quoted[1 : len(quoted)-1])
	js, _ := json.Marshal(key)
	add(string(js[1 : len(js)-1]))
	add(strings.ReplaceAll(key, "+", "_"))
	add(strings.ReplaceAll(key, "_", "+"))
	add(url.QueryEscape(key))
	add(url.PathEscape(key))
	for _, prefix := range []string{"", "ci:", "x:", "xx:"} {
		enc := base64.StdEncoding.EncodeToString([]byte(prefix + key))
		// Skip the characters that depend on the prefix; the rest encodes
		// the key alone.
		skip := (len(prefix) + 2) / 3 * 4
		if len(enc) > skip+8 {
			add(strings.TrimRight(enc[skip:len(enc)-4], "="))
		}
	}
	return forms
}

// NoSecret fails when any form of key appears in any of texts, except in
// the runner's own ::add-mask:: command, which is how it gets masked.
func NoSecret(t testing.TB, key string, texts ...string) {
	t.Helper()
	if key == "" {
		return
	}
	for i, text := range texts {
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "::add-mask::") {
				continue
			}
			for _, form := range secretForms(key) {
				if strings.Contains(line, form) {
					t.Errorf("secret (form %q) leaked in text %d: %q", form, i, line)
				}
			}
		}
	}
}

// Commit makes dir a git repository with one commit of everything in it
// and returns the commit's SHA, for runs that read the commit time.
func Commit(t testing.TB, dir string) string {
	t.Helper()
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "."},
		{"-c", "user.name=t", "-c", "user.email=t@example", "commit", "-q", "-m", "x"},
	} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// Recorder writes a program first on a PATH that records the environment
// it was started with (appended to the returned file, as
// /proc/<pid>/environ shows it), then runs the real program of that name,
// or fails when there is none.
func Recorder(t testing.TB, program string) (binDir, environFile string) {
	t.Helper()
	run := "exit 1"
	if real, err := exec.LookPath(program); err == nil {
		run = "exec " + real + " \"$@\""
	}
	binDir, environFile = t.TempDir(), filepath.Join(t.TempDir(), program+"-environ")
	wrapper := "#!/bin/sh\ncat /proc/$$/environ >> " + environFile + "\n" + run + "\n"
	if err := os.WriteFile(filepath.Join(binDir, program), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	return binDir, environFile
}

// CleanEnviron checks a NUL-separated environment (as /proc/<pid>/environ
// holds it): PATH is there, no INPUT_* is, nor any form of the secrets.
func CleanEnviron(t testing.TB, who string, environ []byte, secrets ...string) {
	t.Helper()
	vars := strings.Split(strings.TrimRight(string(environ), "\x00"), "\x00")
	hasPath := false
	for _, kv := range vars {
		hasPath = hasPath || strings.HasPrefix(kv, "PATH=")
		if strings.HasPrefix(kv, "INPUT_") {
			t.Errorf("%s's environment holds %q", who, kv)
		}
	}
	if !hasPath {
		t.Errorf("%s's environment has no PATH: %q", who, vars)
	}
	for _, s := range secrets {
		NoSecret(t, s, strings.Join(vars, "\n"))
	}
}

// WriteTree writes files (slash-separated path → content) under a new
// temporary directory and returns it: a checkout for a test.
func WriteTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
