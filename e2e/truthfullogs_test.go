package e2e

import (
	"regexp"
	"strings"
	"testing"
)

// TestArchiveLogsTellWhatHappened: issue 25's logs that claimed what did
// not happen. push: false and a compare-only re-run say "Published" of
// nothing and report pushed false; the layer counts of a docker-archive
// add up (reused + compressed + compressed in the archive = all, and the
// upload names what was sent; the sizes read and written are in one
// unit).
func TestArchiveLogsTellWhatHappened(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	image := randomName("it/nix-logs")
	glibc := [2]string{"0c5g8wsvzkpmbx3k9vy0dfz6z4cjhd43-glibc-2.40", "libc " + randomName("")}
	bash := [2]string{"1b4f9x2q1ljd0mbx3k9vy0dfz6z4cjhd-bash-5.2", "bash " + randomName("")}
	app := func(v string) [2]string {
		return [2]string{"7q1ms2ka6ljdvb4d1a2gk7m2kf9xnb2b-worker-" + v, "worker " + v}
	}
	env := archiveInputs(t, r, image, "v1.0.0", nixStoreImage(t, "worker", glibc, bash, app("1.0.0")))
	env["INPUT_ON-EXISTING-VERSION"] = "skip-identical"
	dry := map[string]string{}
	for k, v := range env {
		dry[k] = v
	}
	dry["INPUT_PUSH"] = "false"
	delete(dry, "INPUT_USERNAME")
	delete(dry, "INPUT_API-KEY")
	checked := runArchive(t, dry)
	wantLines(t, "push: false", checked.stdout, []string{": checked, not published (push: false)", "summary: pushed false", "::group::Check "}, []string{"Published", "Uploaded", "::group::Publish"})

	first := runArchive(t, env)
	wantLines(t, "first push", first.stdout, []string{"3 layers: 0 reused from the registry, 3 compressed", ", 0 compressed in the archive already;",
		"Uploaded 3 of the 3 layers (0 reused), the config and the manifest", "Published the archive's image " + first.outputs["digest"], "summary: pushed true"}, nil)

	if m := regexp.MustCompile(`\) from [0-9.]+ (bytes|KiB|MiB|GiB) to [0-9.]+ (bytes|KiB|MiB|GiB),`).FindStringSubmatch(first.stdout); m == nil || m[1] != m[2] {
		t.Errorf("first push: the sizes compressed from and to are not in one unit (%q):\n%s", m, first.stdout)
	}

	again := runArchive(t, env)
	wantLines(t, "compare-only re-run", again.stdout, []string{"compared with v1.0.0, nothing uploaded", "summary: pushed false"}, []string{"Published", "Uploaded"})
	if strings.Contains(again.outputs["metadata"], `"pushed":true`) {
		t.Errorf("metadata %s: pushed true with nothing written", again.outputs["metadata"])
	}

	env["INPUT_VERSION"] = "v1.1.0"
	env["INPUT_ARCHIVE"] = nixStoreImage(t, "worker", glibc, bash, app("1.1.0"))
	next := runArchive(t, env)
	wantLines(t, "next release", next.stdout, []string{"3 layers: 2 reused from the registry, 1 compressed",
		"Uploaded 1 of the 3 layers (2 reused)", "summary: pushed true"}, []string{"layers are in the registry already"})
}

// wantLines: out holds each of want and none of unwanted.
func wantLines(t *testing.T, what, out string, want, unwanted []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: no %q in:\n%s", what, w, out)
		}
	}
	for _, u := range unwanted {
		if strings.Contains(out, u) {
			t.Errorf("%s: %q in:\n%s", what, u, out)
		}
	}
}
