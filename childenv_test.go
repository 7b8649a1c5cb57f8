package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// TestGitEnvironment: the git that reads the commit time gets the allow
// list only: no INPUT_*, no key (not even inside an allowed proxy URL), no
// build secret, although all are in the program's own environment, as a
// runner puts them there.
func TestGitEnvironment(t *testing.T) {
	dir := workspace(t)
	bin, environ := testcheck.Recorder(t, "git")
	env := validInputs(dir)
	env["INPUT_SHA"] = testcheck.Commit(t, dir)
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
	b, err := os.ReadFile(environ)
	if err != nil {
		t.Fatalf("the git wrapper left no environment: %v", err)
	}
	testcheck.CleanEnviron(t, "git", b, env["INPUT_API-KEY"], "build_secret_value_42")
}

// TestOwnEnvironmentScrubbed: once the inputs are read, the program's own
// environment (what a library's exec.Command inherits, as BuildKit's
// connection helpers do) holds no INPUT_* and no variable with a secret.
func TestOwnEnvironmentScrubbed(t *testing.T) {
	env := validInputs(workspace(t))
	env["TOKEN_VAR"] = "build_secret_value_42"
	env["INPUT_SECRETS"] = "token=env:TOKEN_VAR"
	for k, v := range env {
		t.Setenv(k, v)
	}
	if code := realMain(nil, fakeEnv(env), &bytes.Buffer{}, &bytes.Buffer{}); code != 1 {
		t.Fatalf("exit %d, want 1 (no buildkitd)", code)
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "INPUT_") || strings.HasPrefix(kv, "TOKEN_VAR=") {
			t.Errorf("%q left in the program's environment", kv)
		}
	}
}

// TestConnectionHelperEnvironment: BuildKit's docker-container:// helper
// starts `docker` with the program's own environment; a runner's INPUT_*
// (the key among them) must be gone from it by then.
func TestConnectionHelperEnvironment(t *testing.T) {
	bin, environ := testcheck.Recorder(t, "docker")
	env := validInputs(workspace(t))
	env["INPUT_BUILDKIT-ADDRESS"] = "docker-container://buildkitd"
	env["PATH"] = bin + ":" + os.Getenv("PATH")
	for k, v := range env {
		t.Setenv(k, v)
	}
	if code := realMain(nil, fakeEnv(env), &bytes.Buffer{}, &bytes.Buffer{}); code != 1 {
		t.Fatalf("exit %d, want 1 (the recorder is no docker)", code)
	}
	b, err := os.ReadFile(environ)
	if err != nil {
		t.Fatalf("docker was not started: %v", err)
	}
	testcheck.CleanEnviron(t, "docker", b, env["INPUT_API-KEY"])
}
