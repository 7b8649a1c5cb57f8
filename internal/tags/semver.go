package tags

import (
	"fmt"
	"strings"

	"golang.org/x/mod/semver"
)

// Moving returns the tags that follow a release version: v1.2.3 gives v1
// and v1.2, with the version's own prefix (1.2.3 gives 1 and 1.2). A
// pre-release (v1.2.0-rc.1) or a version with build metadata moves
// nothing. A version that is not [v]X.Y.Z is an error: it has no major and
// minor to move.
func Moving(version string) ([]string, error) {
	v, prefix := canonical(version)
	if !semver.IsValid(v) || strings.Count(strings.SplitN(v, "-", 2)[0], ".") != 2 {
		return nil, fmt.Errorf("version %q is not a semantic version X.Y.Z (with or without a leading v)", version)
	}
	if semver.Prerelease(v) != "" || semver.Build(v) != "" || strings.Contains(version, "_") {
		return nil, nil
	}
	return []string{prefix + semver.Major(v)[1:], prefix + semver.MajorMinor(v)[1:]}, nil
}

// Newer reports whether version a is a higher release than b; false when
// either is not a semantic version (no opinion then).
func Newer(a, b string) bool {
	ca, _ := canonical(a)
	cb, _ := canonical(b)
	return semver.IsValid(ca) && semver.IsValid(cb) && semver.Compare(ca, cb) > 0
}

// IsRelease says whether v is a release version as a tag writes it,
// [v]X.Y.Z[-pre][_build]: semver's shorthand vX and vX.Y are not, so that
// an all-digit SHA tag never counts as a release.
func IsRelease(v string) bool {
	c, _ := canonical(v)
	core, _, _ := strings.Cut(c, "-")
	core, _, _ = strings.Cut(core, "+")
	return semver.IsValid(c) && strings.Count(core, ".") == 2
}

// canonical is version with a leading "v" (as semver wants) and the prefix
// the version had ("v" or ""). A '_' stands for the '+' tags cannot hold.
func canonical(version string) (string, string) {
	version = strings.Replace(version, "_", "+", 1)
	if strings.HasPrefix(version, "v") {
		return version, "v"
	}
	return "v" + version, ""
}
