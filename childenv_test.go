package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// TestOwnEnvironmentScrubbed: once the inputs are read, the program's own
// environment (what a library's exec.Command inherits, as BuildKit's
// connection helpers do) holds no INPUT_* and no variable with a secret.
func TestOwnEnvironmentScrubbed(t *testing.T) {
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	env["TOKEN_VAR"] = "build_secret_value_42"
	env["INPUT_SECRETS"] = "token=env:TOKEN_VAR"
	for k, v := range env {
		t.Setenv(k, v)
	}
	if code := realMain(nil, testcheck.Lookup(env), &bytes.Buffer{}, &bytes.Buffer{}); code != 1 {
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
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	env["INPUT_BUILDKIT-ADDRESS"] = "docker-container://buildkitd"
	env["PATH"] = bin + ":" + os.Getenv("PATH")
	for k, v := range env {
		t.Setenv(k, v)
	}
	if code := realMain(nil, testcheck.Lookup(env), &bytes.Buffer{}, &bytes.Buffer{}); code != 1 {
		t.Fatalf("exit %d, want 1 (the recorder is no docker)", code)
	}
	b, err := os.ReadFile(environ)
	if err != nil {
		t.Fatalf("docker was not started: %v", err)
	}
	testcheck.CleanEnviron(t, "docker", b, env["INPUT_API-KEY"])
}
