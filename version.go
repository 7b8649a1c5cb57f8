package main

import (
	"fmt"
	"runtime/debug"
)

// version and commit name the release and the commit this binary was built
// from. make build and make dist (and the action's script when it builds
// from source) set them at link time:
//
//	-ldflags "-X main.version=v2.1.0 -X main.commit=<40 hex digits>"
//
// The action's script compares commit with its own checkout's commit and
// runs the binary only when they are equal.
var (
	version string
	commit  string
)

// isVersionFlag reports whether the command line asks only for the version.
func isVersionFlag(args []string) bool {
	return len(args) == 1 && (args[0] == "--version" || args[0] == "-version")
}

// versionLine is what --version prints: "build-push-image VERSION commit
// COMMIT". A plain go build in a git checkout has no link-time values: the
// commit then comes from the VCS stamp, with "-dirty" when the tree had
// changes, so it never equals a clean commit.
func versionLine() string {
	ver, rev := version, commit
	if info, ok := debug.ReadBuildInfo(); ok {
		if ver == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			ver = info.Main.Version
		}
		if rev == "" {
			rev = vcsRevision(info.Settings)
		}
	}
	if ver == "" {
		ver = "dev"
	}
	if rev == "" {
		rev = "unknown"
	}
	return fmt.Sprintf("build-push-image %s commit %s", ver, rev)
}

// vcsRevision is the vcs.revision stamp, with "-dirty" when vcs.modified.
func vcsRevision(settings []debug.BuildSetting) string {
	var rev, dirty string
	for _, s := range settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}
