package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// TestGitEnvironment: the git that reads the commit time gets the allow
// list only: no INPUT_*, no key (not even inside an allowed proxy URL), no
// build secret, although all are in the program's own environment, as a
// runner puts them there.
func TestGitEnvironment(t *testing.T) {
	dir := workspace(t)
	bin, environ := testcheck.GitWrapper(t)
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
