package e2e

import (
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// TestVersionFromDockerfileArg: with version empty, the version is the
// ARG's default with the v prefix: that tag is guarded and written, and
// the same ARG again is refused before building.
func TestVersionFromDockerfileArg(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	image := randomName("it/versionarg")
	dir := contextDir(t, map[string]string{
		"Dockerfile": "ARG BASE=scratch\nARG APP_VERSION=\"2.3.4\" \\\n    OTHER=1\nFROM ${BASE}\nCOPY payload /payload\n",
		"payload":    randomName("payload"),
	})
	env := r.inputs(image, "", dir)
	env["INPUT_VERSION-ARG"] = "APP_VERSION"
	res := runAction(t, env, nil)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, errorLine(res.stdout))
	}
	r.wantTag(t, image, "v2.3.4", res.outputs["digest"])
	if want := r.registry + "/" + image + ":v2.3.4"; res.outputs["version-tag"] != want {
		t.Errorf("version-tag %q, want %q", res.outputs["version-tag"], want)
	}
	again := runAction(t, env, nil)
	testcheck.OneErrorLine(t, again.stdout, "version tag v2.3.4 already exists")
}
