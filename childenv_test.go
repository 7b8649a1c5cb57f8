package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// TestGitEnvironment: the git that reads the commit time gets the allow
// list only: no INPUT_*, no key, no build secret, even though they are in
// the program's own environment (as a runner puts them there). A git
// wrapper first on PATH records the environment it was started with.
func TestGitEnvironment(t *testing.T) {
	realGit, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("git not on PATH: %v", err)
	}
	dir := workspace(t)
	sha := commit(t, dir)
	bin, dump := t.TempDir(), filepath.Join(t.TempDir(), "git-environ")
	wrapper := "#!/bin/sh\ncat /proc/$$/environ > " + dump + "\nexec " + realGit + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "git"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	env := validInputs(dir)
	env["INPUT_SHA"] = sha
	env["INPUT_SECRETS"] = "token=build_secret_value_42"
	env["PATH"] = bin + ":" + os.Getenv("PATH")
	env["HTTPS_PROXY"] = "http://ci:" + env["INPUT_API-KEY"] + "@proxy.example:3128"
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := loadConfig(nil, fakeEnv(env), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Epoch.IsZero() {
		t.Fatal("no commit time: git did not run")
	}
	b, err := os.ReadFile(dump)
	if err != nil {
		t.Fatalf("the git wrapper left no environment: %v", err)
	}
	got := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if !containsPrefix(got, "PATH="+bin) {
		t.Errorf("git's environment lacks PATH: %q", got)
	}
	for _, kv := range got {
		if strings.HasPrefix(kv, "INPUT_") || strings.HasPrefix(kv, "HTTPS_PROXY=") {
			t.Errorf("git's environment holds %q", kv)
		}
	}
	testcheck.NoSecret(t, env["INPUT_API-KEY"], string(b))
	testcheck.NoSecret(t, "build_secret_value_42", string(b))
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// commit makes dir a git repository with one commit and returns its SHA.
func commit(t *testing.T, dir string) string {
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
