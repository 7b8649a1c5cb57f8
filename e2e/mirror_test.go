package e2e

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testrig"
)

// dockerHubMirror starts a registry anyone may pull from, holding a
// busybox image as library/busybox:latest: what a pull-through cache of
// Docker Hub (zot's sync) serves for FROM busybox. There is no Docker Hub
// here.
func dockerHubMirror(t *testing.T, r rig) *testrig.Registry {
	t.Helper()
	reg, err := testrig.StartRegistry(context.Background(), os.Getenv(testrig.EnvTools), t.TempDir(), "")
	if err != nil {
		t.Fatalf("mirror registry: %v", err)
	}
	t.Cleanup(reg.Stop)
	pushBusybox(t, rig{registry: reg.Addr, user: "anyone", key: "zak_unused", buildkit: r.buildkit}, "library/busybox", "latest")
	return reg
}

// mirrorConfig is a buildkitd.toml making addr (plain HTTP) the docker.io
// mirror.
func mirrorConfig(addr string) string {
	return "[registry.\"docker.io\"]\n  mirrors = [\"" + addr + "\"]\n[registry.\"" + addr + "\"]\n  http = true\n"
}

// fromBusybox builds FROM busybox (docker.io/library/busybox), a file of
// its own on top; it returns the build context and the file's content.
func fromBusybox(t *testing.T) (dir, marker string) {
	t.Helper()
	marker = randomName("on-busybox")
	return contextDir(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY marker /marker\n", "marker": marker}), marker
}

// wantBuiltOnBusybox checks that the run pushed an image holding the
// mirror's busybox and the marker.
func wantBuiltOnBusybox(t *testing.T, r rig, image, marker string, res result) {
	t.Helper()
	digest := mustDigest(t, res)
	wantPushed(t, r, image, res)
	assertHasFile(t, r, image, digest, "bin/busybox")
	assertHasFile(t, r, image, digest, marker)
}

// TestBuildkitdConfigMirror: FROM busybox through a docker.io mirror given
// in buildkitd-config-inline (and buildkitd-config), to the buildkitd the
// action starts from PATH. (The BuildKit container's case is in
// TestBuildkitInDocker.)
func TestBuildkitdConfigMirror(t *testing.T) {
	r := requireRig(t)
	mirror := dockerHubMirror(t, r)
	config := mirrorConfig(mirror.Addr)
	path := contextDir(t, map[string]string{"buildkitd.toml": config}) + "/buildkitd.toml"
	for input, value := range map[string]string{"buildkitd-config-inline": config, "buildkitd-config": path} {
		t.Run(input, func(t *testing.T) {
			dir, marker := fromBusybox(t)
			image := randomName("it/mirror")
			env := r.inputs(image, "v1.0.0", dir)
			delete(env, "INPUT_BUILDKIT-ADDRESS")
			env["PATH"] = os.Getenv(testrig.EnvTools) + ":/usr/bin:/bin"
			env["INPUT_"+strings.ToUpper(input)] = value
			res := runAction(t, env, nil)
			wantLine(t, res.stdout, "for this job, configured by "+input+" (unix://")
			wantBuiltOnBusybox(t, r, image, marker, res)
		})
	}

	t.Run("no config", func(t *testing.T) { // no Docker Hub here: the mirror is what makes it build
		dir, _ := fromBusybox(t)
		env := r.inputs(randomName("it/mirror"), "v1.0.0", dir)
		delete(env, "INPUT_BUILDKIT-ADDRESS")
		env["PATH"] = os.Getenv(testrig.EnvTools) + ":/usr/bin:/bin"
		if res := runAction(t, env, nil); res.code == 0 {
			t.Fatalf("FROM busybox built without a mirror:\n%s", res.stdout)
		}
	})

	t.Run("not applied", func(t *testing.T) {
		env := r.inputs(randomName("it/mirror"), "v1.0.0", "testdata/hello")
		env["INPUT_BUILDKITD-CONFIG-INLINE"] = config
		res := runAction(t, env, nil)
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stdout)
		}
		wantLine(t, res.stdout, "::warning::buildkitd-config-inline: not applied: the job builds with the buildkitd at "+r.buildkit+", which the action did not start;")
	})
}
