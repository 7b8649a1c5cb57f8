package e2e

import (
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// TestSameNixImageNewCommit: issue 25's docs-only commit. The same nix
// result published again from a later commit differs from the first only
// in its manifest's annotations (revision, created): with skip-identical
// the run succeeds, the version tag keeps the image first published, the
// new commit's SHA tag names that image, and so does the digest output.
// A changed layer under the same version is still refused.
func TestSameNixImageNewCommit(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	image := randomName("it/nix-again")
	base := [2]string{"0c5g8wsvzkpmbx3k9vy0dfz6z4cjhd43-glibc-2.40", "libc " + randomName("")}
	app := [2]string{"7q1ms2ka6ljdvb4d1a2gk7m2kf9xnb2b-worker-1.2.3", "worker 1.2.3"}
	env := archiveInputs(t, r, image, "", nixStoreImage(t, "worker", base, app))
	env["INPUT_VERSION"] = "v1.2.3"
	env["INPUT_TAG-SUFFIX"] = "-nix"
	env["INPUT_ON-EXISTING-VERSION"] = "skip-identical"
	first := runArchive(t, env)
	digest := first.outputs["digest"]

	docsCommit := strings.Repeat("d", 40)
	env["INPUT_SHA"] = docsCommit
	env["INPUT_ARCHIVE"] = nixStoreImage(t, "worker", base, app) // nix-build again: the same bytes
	again := runArchive(t, env)
	if again.outputs["digest"] != digest {
		t.Errorf("digest output %s, want the image first published %s", again.outputs["digest"], digest)
	}
	for _, tag := range []string{"v1.2.3-nix", testcheck.SHA + "-nix", docsCommit + "-nix"} {
		if got, _ := r.headDigest(t, image, tag); got != digest {
			t.Errorf("%s names %s, want the image first published %s", tag, got, digest)
		}
	}
	if !strings.Contains(again.stdout, "already names this image as first published") {
		t.Errorf("the log does not say the version tag kept the first image:\n%s", again.stdout)
	}
	if !strings.Contains(again.stdout, "The digest output is "+digest+", not ") {
		t.Errorf("the log does not say why the digest output is not the image read:\n%s", again.stdout)
	}

	env["INPUT_SHA"] = strings.Repeat("e", 40)
	env["INPUT_ARCHIVE"] = nixStoreImage(t, "worker", base, [2]string{app[0], "worker 1.2.3, rebuilt on a newer nixpkgs"})
	refused := runAction(t, env, nil)
	testcheck.OneErrorLine(t, refused.stdout, "version tag v1.2.3-nix already exists in "+r.registry+"/"+image+" ("+digest+")")
	if got, _ := r.headDigest(t, image, "v1.2.3-nix"); got != digest {
		t.Errorf("after the refusal the version tag names %s, want %s", got, digest)
	}
}
