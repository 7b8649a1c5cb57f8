package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/buildkitd"
	"github.com/blumeops/build-push-image/internal/testcheck"
	"github.com/blumeops/build-push-image/internal/testrig"
)

// buildkitImage is the BuildKit image the tests import into their own
// Docker daemon (there is no Docker Hub here).
const buildkitImage = "bpi-test/buildkit:local"

// containerFlags are docker run flags this machine's Docker accepts for
// buildkitd: it refuses --privileged; its containers have no bridge.
const containerFlags = "--cap-add SYS_ADMIN --security-opt seccomp=unconfined --network host"

// TestBuildkitInDocker drives the action against a real Docker daemon of
// the test's own: once through buildkit-address docker-container://, and
// once with nothing configured, where the action starts the BuildKit
// container itself and a second run reuses it.
func TestBuildkitInDocker(t *testing.T) {
	r := requireRig(t)
	ctx := context.Background()
	d, err := testrig.StartDocker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	static := filepath.Join(os.Getenv(testrig.EnvTools), "static")
	if err := d.ImportBuildkitImage(ctx, buildkitImage, static); err != nil {
		t.Fatal(err)
	}

	t.Run("address", func(t *testing.T) {
		name := randomName("bpi-e2e-buildkitd")
		args := append(append([]string{"run", "--detach", "--name", name}, strings.Fields(containerFlags)...), buildkitImage)
		if _, err := d.Run(ctx, args...); err != nil {
			t.Fatal(err)
		}
		image := randomName("it/dc")
		env := r.inputs(image, "v1.0.0", "testdata/hello")
		env["INPUT_BUILDKIT-ADDRESS"] = "docker-container://" + name
		env["DOCKER_HOST"] = d.Host
		environs := dockerOnlyOnPath(t, env)
		res := runAction(t, env, nil)
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stdout)
		}
		wantPushed(t, r, image, res)
		wantCleanDockerEnv(t, environs, r.key, 1)
	})

	t.Run("started and reused", func(t *testing.T) {
		env, environs := noBuildkitButDocker(t, r, d)
		first := runAction(t, env, nil)
		if first.code != 0 {
			t.Fatalf("first run: exit %d\n%s", first.code, first.stdout)
		}
		if !strings.Contains(first.stdout, "none on PATH: started BuildKit container "+buildkitd.ContainerName+" ("+buildkitImage+") on the Docker daemon") {
			t.Errorf("first run: no word of starting the BuildKit container:\n%s", first.stdout)
		}
		wantPushed(t, r, strings.TrimPrefix(env["INPUT_IMAGE"], r.registry+"/"), first)
		// docker version, ps, run and the connection's docker exec
		wantCleanDockerEnv(t, environs, r.key, 4)
		id := containerID(t, d)

		env, _ = noBuildkitButDocker(t, r, d)
		second := runAction(t, env, nil)
		if second.code != 0 {
			t.Fatalf("second run: exit %d\n%s", second.code, second.stdout)
		}
		if !strings.Contains(second.stdout, "none on PATH: using the running BuildKit container "+buildkitd.ContainerName) {
			t.Errorf("second run: no word of reusing the BuildKit container:\n%s", second.stdout)
		}
		wantPushed(t, r, strings.TrimPrefix(env["INPUT_IMAGE"], r.registry+"/"), second)
		if again := containerID(t, d); again != id {
			t.Errorf("the second run replaced the container: %s, then %s", id, again)
		}
	})
}

// noBuildkitButDocker is the environment of a run with no buildkit-address,
// nothing at the default socket and no buildkitd on PATH (only docker and
// git are), but the test's Docker daemon reachable; environs is where the
// docker processes' environments are recorded.
func noBuildkitButDocker(t *testing.T, r rig, d *testrig.Docker) (env map[string]string, environs string) {
	t.Helper()
	if c, err := net.Dial("unix", "/run/buildkit/buildkitd.sock"); err == nil {
		_ = c.Close()
		t.Fatal("a buildkitd answers at the default socket /run/buildkit/buildkitd.sock; this test needs none there")
	}
	env = r.inputs(randomName("it/dc"), "v1.0.0", "testdata/hello")
	delete(env, "INPUT_BUILDKIT-ADDRESS")
	env["INPUT_BUILDKIT-IMAGE"] = buildkitImage
	env["INPUT_BUILDKIT-CONTAINER-FLAGS"] = containerFlags
	env["DOCKER_HOST"] = d.Host
	return env, dockerOnlyOnPath(t, env)
}

// dockerOnlyOnPath sets env's PATH to a directory holding git and a docker
// wrapper, nothing else; the wrapper appends the environment of every
// docker process the action starts to the file whose path it returns, one
// environ per line, then runs the real docker.
func dockerOnlyOnPath(t *testing.T, env map[string]string) string {
	t.Helper()
	bin, environs := t.TempDir(), filepath.Join(t.TempDir(), "docker-environs")
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Fatal(err)
	}
	git, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := exec.LookPath("tr")
	if err != nil {
		t.Fatal(err)
	}
	wrapper := "#!/bin/sh\n{ " + tr + " '\\000' ' ' < /proc/$$/environ; echo; } >> " + environs + "\nexec " + docker + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(git, filepath.Join(bin, "git")); err != nil {
		t.Fatal(err)
	}
	env["PATH"] = bin
	return environs
}

// wantCleanDockerEnv checks that at least n docker processes ran, none
// with an input or the key in its environment, each with DOCKER_HOST.
func wantCleanDockerEnv(t *testing.T, environs, key string, n int) {
	t.Helper()
	b, err := os.ReadFile(environs)
	if err != nil {
		t.Fatalf("no docker process ran: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < n {
		t.Errorf("%d docker processes, want at least %d", len(lines), n)
	}
	for _, l := range lines {
		if strings.Contains(l, "INPUT_") || !strings.Contains(l, "DOCKER_HOST=") {
			t.Errorf("docker's environment: %s", l)
		}
	}
	testcheck.NoSecret(t, key, string(b))
}

// wantPushed checks the version tag in the registry names the digest the
// run reported.
func wantPushed(t *testing.T, r rig, image string, res result) {
	t.Helper()
	got, code := r.headDigest(t, image, "v1.0.0")
	if code != 200 || got == "" || got != res.outputs["digest"] {
		t.Errorf("%s:v1.0.0 in the registry: %d %s, want the run's digest %q", image, code, got, res.outputs["digest"])
	}
}

func containerID(t *testing.T, d *testrig.Docker) string {
	t.Helper()
	id, err := d.Run(context.Background(), "ps", "--all", "--quiet", "--no-trunc", "--filter", "name=^"+buildkitd.ContainerName+"$")
	if err != nil || id == "" || strings.Contains(id, "\n") {
		t.Fatalf("want one container %s: %q %v", buildkitd.ContainerName, id, err)
	}
	return id
}
