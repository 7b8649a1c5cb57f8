package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// TestNeighboursHabits: by hand in a git checkout, as skopeo and
// metadata-action users write it: archive: docker-archive:result, no sha
// (git rev-parse HEAD), tags: latest with tag-suffix -nix writes latest,
// not latest-nix.
func TestNeighboursHabits(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	image := randomName("it/habits")
	checkout := testcheck.WriteTree(t, map[string]string{"containers/worker/default.nix": nixFile("1.0.0")})
	head := testcheck.Commit(t, checkout)
	store, err := os.Readlink(nixStoreImage(t, "worker", [2]string{"0c5g8wsvzkpmbx3k9vy0dfz6z4cjhd43-hello-2.12", randomName("hello")}))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(store, filepath.Join(checkout, "result")); err != nil {
		t.Fatal(err)
	}
	env := archiveInputs(t, r, image, "v1.0.0", "docker-archive:result")
	delete(env, "INPUT_SHA")
	env["INPUT_TAGS"] = "latest"
	env["INPUT_TAG-SUFFIX"] = "-nix"
	cmd := actionCommand(t, t.Context(), env)
	cmd.Dir = checkout
	res := runCommand(t, cmd, nil)
	if res.code != 0 {
		t.Fatalf("exit %d: %s\n%s", res.code, errorLine(res.stdout), res.stdout)
	}
	d := res.outputs["digest"]
	for tag, want := range map[string]int{"v1.0.0-nix": http.StatusOK, head + "-nix": http.StatusOK, "latest": http.StatusOK, "latest-nix": http.StatusNotFound} {
		got, status := r.headDigest(t, image, tag)
		if status != want || (want == http.StatusOK && got != d) {
			t.Errorf("%s: %d %s, want %d (the run's %s)", tag, status, got, want, d)
		}
	}
}
