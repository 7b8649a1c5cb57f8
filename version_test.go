package main

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// TestVersionPrintsCommit: --version prints the link-time commit and
// nothing else, and needs no inputs.
func TestVersionPrintsCommit(t *testing.T) {
	old := commit
	commit = testcheck.SHA
	t.Cleanup(func() { commit = old })
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"--version"}, testcheck.Lookup(nil), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d; stderr: %s", code, stderr.String())
	}
	if got := stdout.String(); !strings.HasPrefix(got, "build-push-image ") || !strings.HasSuffix(got, " commit "+testcheck.SHA+"\n") {
		t.Errorf("--version printed %q, want build-push-image <version> commit %s", got, testcheck.SHA)
	}
}

// TestVCSRevisionDirty: a binary built from a tree with local changes never
// claims the clean commit.
func TestVCSRevisionDirty(t *testing.T) {
	for _, tc := range []struct {
		settings []debug.BuildSetting
		want     string
	}{
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: testcheck.SHA}, {Key: "vcs.modified", Value: "false"}}, testcheck.SHA},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: testcheck.SHA}, {Key: "vcs.modified", Value: "true"}}, testcheck.SHA + "-dirty"},
		{[]debug.BuildSetting{{Key: "vcs.modified", Value: "true"}}, ""},
	} {
		if got := vcsRevision(tc.settings); got != tc.want {
			t.Errorf("vcsRevision(%v) = %q, want %q", tc.settings, got, tc.want)
		}
	}
}
