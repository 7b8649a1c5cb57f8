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
	// The daemon's registry-mirrors name a Docker Hub mirror, as on the
	// users' colima; the BuildKit container gets them from docker info.
	mirror := dockerHubMirror(t, r)
	d, err := testrig.StartDocker(ctx, "--registry-mirror", "http://"+mirror.Addr)
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
		if err := d.WaitBuildkit(ctx, name); err != nil {
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
		wantCleanDockerEnv(t, environs, r.key)
	})

	t.Run("started, reused, restarted", func(t *testing.T) {
		first, environs := runFallback(t, r, d, containerFlags)
		wantLine(t, first, "none on PATH: started BuildKit container "+buildkitd.ContainerName+" ("+buildkitImage+") on the Docker daemon")
		wantCleanDockerEnv(t, environs, r.key)
		id := containerID(t, d)

		second, _ := runFallback(t, r, d, containerFlags)
		wantLine(t, second, "none on PATH: using the running BuildKit container "+buildkitd.ContainerName)
		wantLine(t, second, "stop it with: docker rm -f "+buildkitd.ContainerName)

		if _, err := d.Run(ctx, "stop", buildkitd.ContainerName); err != nil {
			t.Fatal(err)
		}
		third, _ := runFallback(t, r, d, containerFlags)
		wantLine(t, third, "none on PATH: restarted the BuildKit container "+buildkitd.ContainerName)

		other, _ := runFallback(t, r, d, containerFlags+" --label bpi.test=other")
		wantLine(t, other, "::warning::BuildKit container "+buildkitd.ContainerName+" was started with another buildkit-image, buildkit-container-flags or buildkitd config; using it as it is")
		if again := containerID(t, d); again != id {
			t.Errorf("a later run replaced the container: %s, then %s", id, again)
		}
	})

	t.Run("matrix, DOCKER_HOST", func(t *testing.T) {
		testMatrix(t, r, d, map[string]string{"DOCKER_HOST": d.Host}, append(fresh, leftBehind...))
	})
	t.Run("matrix, docker context", func(t *testing.T) {
		via := map[string]string{"HOME": dockerContextHome(t, d)}
		testMatrix(t, r, d, via, fresh)
		testAddressVia(t, r, d, via)
	})
	t.Run("matrix, TCP", func(t *testing.T) {
		via := map[string]string{"DOCKER_HOST": d.TCP}
		testMatrix(t, r, d, via, fresh)
		testAddressVia(t, r, d, via)
	})
	t.Run("FROM busybox through the daemon's registry-mirrors", func(t *testing.T) {
		docker(t, d, "rm", "--force", buildkitd.ContainerName)
		env, _ := noBuildkitButDocker(t, r, d)
		dir, marker := fromBusybox(t)
		env["INPUT_CONTEXT"] = dir
		res := runAction(t, env, nil)
		wantLine(t, res.stdout, "The Docker daemon has registry-mirrors ("+mirror.Addr+"): carried over to the BuildKit container as its docker.io mirrors")
		wantBuiltOnBusybox(t, r, strings.TrimPrefix(env["INPUT_IMAGE"], r.registry+"/"), marker, res)
	})
	t.Run("FROM busybox through buildkitd-config-inline", func(t *testing.T) {
		docker(t, d, "rm", "--force", buildkitd.ContainerName)
		env, _ := noBuildkitButDocker(t, r, d)
		dir, marker := fromBusybox(t)
		env["INPUT_CONTEXT"] = dir
		env["INPUT_BUILDKITD-CONFIG-INLINE"] = mirrorConfig(mirror.Addr)
		res := runAction(t, env, nil)
		if strings.Contains(res.stdout, "carried over") {
			t.Errorf("the daemon's registry-mirrors were carried over although a config was given:\n%s", res.stdout)
		}
		wantBuiltOnBusybox(t, r, strings.TrimPrefix(env["INPUT_IMAGE"], r.registry+"/"), marker, res)

		other, _ := runFallback(t, r, d, containerFlags) // no config: another one than the container's
		wantLine(t, other, "::warning::BuildKit container "+buildkitd.ContainerName+" was started with another buildkit-image, buildkit-container-flags or buildkitd config")
		wantKeyNotInContainers(t, d, r.key)
	})
	t.Run("never comes up", func(t *testing.T) {
		docker(t, d, "rm", "--force", buildkitd.ContainerName)
		env, _ := noBuildkitButDocker(t, r, d)
		env["INPUT_BUILDKIT-CONTAINER-FLAGS"] = containerFlags + " --user 65534:65534" // buildkitd cannot make its state dir
		res := runAction(t, env, nil)
		if res.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
		}
		testcheck.OneErrorLine(t, res.stdout, "buildkit-image, buildkit-container-flags: buildkitd in the BuildKit container "+buildkitd.ContainerName+" ("+buildkitImage+") did not come up (")
		wantLine(t, res.stdout, "its last log lines: buildkitd: rootless mode requires") // buildkitd's words for a user that is not root
		testcheck.NoSecret(t, r.key, res.all()...)
		docker(t, d, "rm", "--force", buildkitd.ContainerName)
	})

	t.Run("act runs the recipe", func(t *testing.T) {
		if p, err := exec.LookPath("buildkitd"); err == nil {
			t.Fatalf("%s is on PATH: act's job would start it instead of the BuildKit container", p)
		}
		a := newActRig(t)
		prefix, version := unique(t)
		out, err := a.run(t, actRun{workflow: "docker.yml", env: map[string]string{
			"IMAGE_PREFIX": prefix, "VERSION": version, "BUILDKIT_HOST": "", "DOCKER_HOST": d.Host,
			"BUILDKIT_IMAGE": buildkitImage, "BUILDKIT_CONTAINER_FLAGS": containerFlags,
		}})
		wantJobs(t, out, 1, 0)
		if err != nil {
			t.Fatalf("act: %v", err)
		}
		wantLine(t, out, "BuildKit container "+buildkitd.ContainerName+" ("+buildkitImage+") on the Docker daemon")
		wantLine(t, out, "outputs verified: "+r.registry+"/"+prefix+"/hello@sha256:")
	})

	t.Run("docker run refuses the flags", func(t *testing.T) {
		if _, err := d.Run(ctx, "rm", "--force", buildkitd.ContainerName); err != nil {
			t.Fatal(err)
		}
		env, _ := noBuildkitButDocker(t, r, d)
		env["INPUT_BUILDKIT-CONTAINER-FLAGS"] = "--no-such-flag"
		res := runAction(t, env, nil)
		if res.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
		}
		testcheck.OneErrorLine(t, res.stdout, "buildkit-image, buildkit-container-flags: could not start the BuildKit container: docker create: ")
	})
}

// runFallback runs the action with no buildkitd but the Docker daemon,
// the BuildKit container run with flags, and checks it pushed.
func runFallback(t *testing.T, r rig, d *testrig.Docker, flags string) (stdout, environs string) {
	t.Helper()
	env, environs := noBuildkitButDocker(t, r, d)
	env["INPUT_BUILDKIT-CONTAINER-FLAGS"] = flags
	res := runAction(t, env, nil)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	wantPushed(t, r, strings.TrimPrefix(env["INPUT_IMAGE"], r.registry+"/"), res)
	return res.stdout, environs
}

func wantLine(t *testing.T, stdout, want string) {
	t.Helper()
	if !strings.Contains(stdout, want) {
		t.Errorf("no line with %q in:\n%s", want, stdout)
	}
}

// noBuildkitButDocker is the environment of a run with no buildkit-address,
// nothing at the default socket and no buildkitd on PATH, but the test's
// Docker daemon reachable; environs is where the docker processes'
// environments are recorded.
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

// dockerOnlyOnPath puts a docker that records its environment first on
// env's PATH, then /usr/bin and /bin (git and coreutils), and checks that
// no buildkitd is on that PATH. It returns the recorder's file.
func dockerOnlyOnPath(t *testing.T, env map[string]string) string {
	t.Helper()
	bin, environ := testcheck.Recorder(t, "docker")
	env["PATH"] = bin + ":/usr/bin:/bin"
	for _, dir := range filepath.SplitList(env["PATH"]) {
		if _, err := os.Stat(filepath.Join(dir, "buildkitd")); err == nil {
			t.Fatalf("%s holds a buildkitd; this test needs none on PATH", dir)
		}
	}
	return environ
}

// wantCleanDockerEnv checks that docker ran, never with an input or the
// key in its environment.
func wantCleanDockerEnv(t *testing.T, environ, key string) {
	t.Helper()
	b, err := os.ReadFile(environ)
	if err != nil {
		t.Fatalf("docker was not started: %v", err)
	}
	testcheck.CleanEnviron(t, "docker", b, key)
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
