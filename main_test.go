package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

func TestAPIKeyFlagRefused(t *testing.T) {
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	var stdout, stderr bytes.Buffer
	code := realMain([]string{"--api-key", "zak_on_the_command_line"}, testcheck.Lookup(env), &stdout, &stderr)
	if code == 0 {
		t.Fatal("exit 0 with --api-key on the command line")
	}
	testcheck.OneErrorLine(t, stdout.String(), "api-key: not accepted as a flag")
	testcheck.NoSecret(t, "zak_on_the_command_line", stdout.String(), stderr.String())
}

func TestHelpListsEveryInput(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"--help"}, testcheck.Lookup(nil), &stdout, &stderr); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, in := range inputs {
		// api-key is refused as a flag (TestAPIKeyFlagRefused), so not listed.
		if listed := strings.Contains(stderr.String(), "-"+in.Name+" "); listed != (in.Name != "api-key") {
			t.Errorf("--help lists %s: %t", in.Name, listed)
		}
	}
}

func TestUnreachableBuildkit(t *testing.T) {
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	var stdout, stderr bytes.Buffer
	if code := realMain(nil, testcheck.Lookup(env), &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	testcheck.OneErrorLine(t, stdout.String(), "buildkit-address: no buildkitd answers at unix:///nonexistent/buildkitd.sock")
}

func TestOutputDelimiterCannotCollide(t *testing.T) {
	d := randomDelimiter("x")
	if !strings.HasPrefix(d, "ghadelimiter_") || len(d) < 40 {
		t.Fatalf("delimiter %q is not random enough", d)
	}
	if randomDelimiter("x") == d {
		t.Fatal("two delimiters are equal")
	}
}

// TestEveryBadInputReported: several bad inputs at once are each reported
// on an ::error:: line of their own, naming the input, in one run.
func TestEveryBadInputReported(t *testing.T) {
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	env["INPUT_VERSION"] = "v1+x"
	env["INPUT_PUSH"] = "yes"
	env["INPUT_LABELS"] = "=a\nok=1\nb"
	env["INPUT_CACHE-FROM"] = "ref=x\ntype=registry,ref=ok\ntype=local,\"dest=a"
	env["INPUT_PROVENANCE"] = "full"
	env["INPUT_REGISTRY-TLS"] = "off"
	env["INPUT_SECRETS"] = "a=env:UNSET_1\nb=file:/nonexistent/x"
	var stdout, stderr bytes.Buffer
	if code := realMain(nil, testcheck.Lookup(env), &stdout, &stderr); code != 2 {
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
