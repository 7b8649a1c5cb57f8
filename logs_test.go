package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sethvargo/go-githubactions"

	"github.com/blumeops/build-push-image/internal/run"
	"github.com/blumeops/build-push-image/internal/testcheck"
	vsource "github.com/blumeops/build-push-image/internal/version"
)

// TestPrintErrorReadsAsText: one line, no escape codes where the runner
// would not decode one, escaped where it would.
func TestPrintErrorReadsAsText(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{"source-date-epoch: \"x\" is not a number;\n  use e.g. $(git log -1 --format=%ct)", "::error::source-date-epoch: \"x\" is not a number; use e.g. $(git log -1 --format=%ct)\n"},
		{"100% sure", "::error::100% sure\n"},
		{"ends in %", "::error::ends in %\n"},
		{"literal %0A and %25 and %0d", "::error::literal %250A and %2525 and %250d\n"},
	} {
		var b bytes.Buffer
		printError(&b, tc.msg)
		if b.String() != tc.want {
			t.Errorf("printError(%q) wrote %q, want %q", tc.msg, b.String(), tc.want)
		}
	}
}

// TestBadInputErrorsReadAsText: a run with bad inputs prints each error as
// a plain ::error:: line, with no %25 escape in it.
func TestBadInputErrorsReadAsText(t *testing.T) {
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	env["INPUT_SOURCE-DATE-EPOCH"] = "yesterday"
	var stdout, stderr bytes.Buffer
	if code := realMain(nil, testcheck.Lookup(env), &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2; stdout:\n%s", code, stdout.String())
	}
	want := "::error::source-date-epoch: \"yesterday\" is not a number of seconds since 1970; use e.g. $(git log -1 --format=%ct)\n"
	if !strings.Contains(stdout.String(), want) {
		t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
	}
}

// TestSummaryAlsoInLog: every row of the step summary is also a plain
// line of the log.
func TestSummaryAlsoInLog(t *testing.T) {
	out := run.Published{
		Image: "registry.example/team/app", Digest: "sha256:" + strings.Repeat("ab", 32),
		Tags:   []string{"registry.example/team/app:v1.2.0", "registry.example/team/app:0123456789ab"},
		Pushed: true, Seconds: 12.34,
	}
	var b bytes.Buffer
	logSummary(githubactions.New(githubactions.WithWriter(&b)), out)
	want := "summary: image  registry.example/team/app\n" +
		"summary: tag    registry.example/team/app:v1.2.0\n" +
		"summary: tag    registry.example/team/app:0123456789ab\n" +
		"summary: digest sha256:" + strings.Repeat("ab", 32) + "\n" +
		"summary: pushed true\n" +
		"summary: time   12.3 s\n"
	if b.String() != want {
		t.Errorf("log lines:\n%s\nwant:\n%s", b.String(), want)
	}
	for _, r := range summaryRows(out) {
		if !strings.Contains(summary(out), "| "+r[0]+" | `"+r[1]+"` |") {
			t.Errorf("the step summary lacks the row %v:\n%s", r, summary(out))
		}
	}
}

// TestVersionNoticeOncePerChange: a version read with other lines
// matching is one line, a notice, the first time the runner's tool cache
// sees it; again, one info line saying why there is no notice; with the
// matches changed, the notice again. Without a tool cache, always it.
func TestVersionNoticeOncePerChange(t *testing.T) {
	cache := t.TempDir()
	from := vsource.Found{Version: "v2.0.1", Path: "containers/app/default.nix", Line: 4, Others: []vsource.Match{{Line: 5, Value: "1.7.0"}}}
	run := func(cache string, f vsource.Found) string {
		var b bytes.Buffer
		env := map[string]string{"RUNNER_TOOL_CACHE": cache}
		logVersion(githubactions.New(githubactions.WithWriter(&b), githubactions.WithGetenv(func(k string) string { return env[k] })), f)
		return b.String()
	}
	notice := "::notice::version v2.0.1 read from containers/app/default.nix:4, the first match in the file; also matched, not used: line 5 (\"1.7.0\")"
	for i, c := range []struct {
		cache string
		f     vsource.Found
		want  string
	}{
		{cache, from, notice},
		{cache, from, "version v2.0.1 read from containers/app/default.nix:4; other lines matched too: named in a notice on an earlier run of this runner, not repeated until they change"},
		{cache, vsource.Found{Version: "v2.0.1", Path: from.Path, Line: 4, Others: []vsource.Match{{Line: 5, Value: "1.8.0"}}}, "also matched, not used: line 5 (\"1.8.0\")"},
		{"", from, notice},
		{"", from, notice},
	} {
		out := run(c.cache, c.f)
		if strings.Count(out, "\n") != 1 || !strings.Contains(out, c.want) {
			t.Errorf("run %d: %q, want one line with %q", i, out, c.want)
		}
	}
}
