package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// TestEveryBadInputReported: several bad inputs at once are each reported
// on an ::error:: line of their own, naming the input, in one run.
func TestEveryBadInputReported(t *testing.T) {
	env := validInputs(workspace(t))
	env["INPUT_VERSION"] = "v1+x"
	env["INPUT_PUSH"] = "yes"
	env["INPUT_LABELS"] = "=a\nok=1\nb"
	env["INPUT_CACHE-FROM"] = "ref=x\ntype=registry,ref=ok\ntype=local,\"dest=a"
	env["INPUT_PROVENANCE"] = "full"
	env["INPUT_REGISTRY-TLS"] = "off"
	env["INPUT_SECRETS"] = "a=env:UNSET_1\nb=file:/nonexistent/x"
	var stdout, stderr bytes.Buffer
	if code := realMain(nil, fakeEnv(env), &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	var lines []string
	for _, l := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(l, "::error::") {
			lines = append(lines, strings.TrimPrefix(l, "::error::"))
		}
	}
	want := []string{
		`push: "yes" is not a boolean`,
		`version: "v1+x" contains '+'`,
		"labels: line 1 is not KEY=VALUE",
		"labels: line 3 is not KEY=VALUE",
		`registry-tls: "off" is not one of`,
		"secrets: a: environment variable UNSET_1 is empty or unset",
		"secrets: b: cannot read /nonexistent/x",
		"cache-from: line 1: no type=",
		"cache-from: line 3: not comma-separated key=value",
		`provenance: "full" is not one of`,
	}
	for _, w := range want {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, w) }) {
			t.Errorf("no error line starting %q in:\n%s", w, strings.Join(lines, "\n"))
		}
	}
	if len(lines) != len(want) {
		t.Errorf("%d error lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
}

// TestBadContextIsOneError: a bad context is one error, not also one for
// the Dockerfile it would hold; a bad file given explicitly is its own.
func TestBadContextIsOneError(t *testing.T) {
	dir := workspace(t)
	env := validInputs(dir)
	env["INPUT_CONTEXT"] = dir + "/nope"
	_, err := loadConfig(nil, fakeEnv(env), &bytes.Buffer{})
	if got := errorList(err); len(got) != 1 {
		t.Errorf("%d errors, want 1: %v", len(got), got)
	}
	env["INPUT_FILE"] = dir + "/Nope"
	_, err = loadConfig(nil, fakeEnv(env), &bytes.Buffer{})
	if got := errorList(err); len(got) != 2 {
		t.Errorf("%d errors, want 2 (context and file): %v", len(got), got)
	}
}
