package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/buildkitd"
	"github.com/blumeops/build-push-image/internal/testcheck"
	"github.com/blumeops/build-push-image/internal/testrig"
)

// legs is how many legs of a matrix run at once: each pushes an image of
// its own, as the users' matrix does for every changed image.
const legs = 4

// round is one run of a matrix: what the daemon holds before it.
type round struct {
	name    string
	prepare func(t *testing.T, d *testrig.Docker)
	// sameContainer: the container found must be reused, not replaced.
	sameContainer bool
}

var (
	// noContainer: the daemon has no BuildKit container (a fresh daemon,
	// or after docker rm -f, a colima restart or docker system prune).
	noContainer = func(t *testing.T, d *testrig.Docker) { docker(t, d, "rm", "--force", buildkitd.ContainerName) }
	fresh       = []round{{name: "no container yet", prepare: noContainer}, {name: "after docker rm -f", prepare: noContainer}}
	// leftBehind: stopped by docker stop (or a VM restart), and created
	// but never started by a job that died in between.
	leftBehind = []round{
		{name: "stopped", prepare: func(t *testing.T, d *testrig.Docker) { docker(t, d, "stop", buildkitd.ContainerName) }, sameContainer: true},
		{name: "created, never started", prepare: func(t *testing.T, d *testrig.Docker) {
			noContainer(t, d)
			docker(t, d, "create", "--name", buildkitd.ContainerName, buildkitImage)
		}},
	}
)

// testMatrix runs a matrix per round: every leg pushes, whichever leg's
// docker create or docker start wins, and the daemon ends with one
// BuildKit container, running. via is how the legs reach the daemon
// (DOCKER_HOST, or a HOME whose docker context names it).
func testMatrix(t *testing.T, r rig, d *testrig.Docker, via map[string]string, rounds []round) {
	for _, rd := range rounds {
		before := ""
		if rd.sameContainer {
			before = containerID(t, d)
		}
		rd.prepare(t, d)
		t.Run(rd.name, func(t *testing.T) {
			outs := runLegs(t, r, d, via)
			if started := strings.Count(strings.Join(outs, ""), "none on PATH: started BuildKit container"); !rd.sameContainer && started != 1 {
				t.Errorf("%d legs say they started the container, want 1", started)
			}
		})
		wantOneBuildkitContainer(t, d)
		if after := containerID(t, d); rd.sameContainer && after != before {
			t.Errorf("%s: the container was replaced (%s, then %s), not started again", rd.name, before, after)
		}
		wantKeyNotInContainers(t, d, r.key)
	}
}

// runLegs starts the legs of a matrix at the same moment, checks that
// each pushed its image, and returns their outputs.
func runLegs(t *testing.T, r rig, d *testrig.Docker, via map[string]string) []string {
	envs := make([]map[string]string, legs)
	environs := make([]string, legs)
	started := make([]*running, legs)
	for i := range legs {
		envs[i], environs[i] = noBuildkitButDocker(t, r, d)
		envs[i]["INPUT_CONTEXT"] = uniqueContext(t, 64)
		delete(envs[i], "DOCKER_HOST")
		maps.Copy(envs[i], via)
	}
	for i := range legs {
		started[i] = startAction(t, envs[i])
	}
	var outs []string
	for i := range legs {
		res := started[i].wait(t)
		outs = append(outs, res.stdout)
		t.Run(fmt.Sprint("leg ", i), func(t *testing.T) {
			if res.code != 0 {
				t.Fatalf("exit %d\n%s", res.code, res.stdout)
			}
			wantLine(t, res.stdout, " BuildKit container "+buildkitd.ContainerName+" ("+buildkitImage+") on the Docker daemon")
			wantPushed(t, r, strings.TrimPrefix(envs[i]["INPUT_IMAGE"], r.registry+"/"), res)
			wantEveryTag(t, r, res)
			wantCleanDockerEnv(t, environs[i], r.key)
		})
	}
	return outs
}

// wantEveryTag checks in the registry that every tag the run reports (the
// version tag and the SHA tag at least) names the digest it reports.
func wantEveryTag(t *testing.T, r rig, res result) {
	t.Helper()
	refs := strings.Fields(res.outputs["tags"])
	if len(refs) < 2 {
		t.Errorf("tags output %q: want the version tag and the SHA tag", res.outputs["tags"])
	}
	for _, ref := range refs {
		i := strings.LastIndex(ref, ":")
		got, code := r.headDigest(t, strings.TrimPrefix(ref[:i], r.registry+"/"), ref[i+1:])
		if code != 200 || got != res.outputs["digest"] {
			t.Errorf("%s in the registry: %d %s, want the run's digest %s", ref, code, got, res.outputs["digest"])
		}
	}
}

func docker(t *testing.T, d *testrig.Docker, args ...string) {
	t.Helper()
	if _, err := d.Run(context.Background(), args...); err != nil {
		t.Fatal(err)
	}
}

// testAddressVia runs one job with buildkit-address docker-container://
// naming the BuildKit container, the daemon reached through via.
func testAddressVia(t *testing.T, r rig, d *testrig.Docker, via map[string]string) {
	env, environs := noBuildkitButDocker(t, r, d)
	delete(env, "DOCKER_HOST")
	maps.Copy(env, via)
	env["INPUT_BUILDKIT-ADDRESS"] = "docker-container://" + buildkitd.ContainerName
	res := runAction(t, env, nil)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	wantPushed(t, r, strings.TrimPrefix(env["INPUT_IMAGE"], r.registry+"/"), res)
	wantCleanDockerEnv(t, environs, r.key)
}

// dockerContextHome is a HOME whose docker CLI config uses a context
// (docker context create + use) naming the daemon's socket: no DOCKER_HOST
// needed, as on a macOS runner with colima.
func dockerContextHome(t *testing.T, d *testrig.Docker) string {
	t.Helper()
	home := t.TempDir()
	for _, args := range [][]string{
		{"context", "create", "bpi-test", "--docker", "host=" + d.Host},
		{"context", "use", "bpi-test"},
	} {
		cmd := exec.Command("docker", args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return home
}

// wantOneBuildkitContainer checks that the daemon holds one container the
// action made, and that it runs.
func wantOneBuildkitContainer(t *testing.T, d *testrig.Docker) {
	t.Helper()
	out, err := d.Run(context.Background(), "ps", "--all", "--filter", "label=build-push-image.config", "--format", "{{.Names}} {{.State}}")
	if err != nil {
		t.Fatal(err)
	}
	if out != buildkitd.ContainerName+" running" {
		t.Errorf("containers made by the action: %q, want one, %s, running", out, buildkitd.ContainerName)
	}
}

// wantKeyNotInContainers checks docker inspect of every container (their
// environment included) for the key.
func wantKeyNotInContainers(t *testing.T, d *testrig.Docker, key string) {
	t.Helper()
	ctx := context.Background()
	ids, err := d.Run(ctx, "ps", "--all", "--quiet")
	if err != nil || ids == "" {
		t.Fatalf("no containers to inspect: %q %v", ids, err)
	}
	out, err := d.Run(ctx, append([]string{"inspect"}, strings.Fields(ids)...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"Env"`) {
		t.Fatalf("docker inspect shows no environment:\n%s", out)
	}
	testcheck.NoSecret(t, key, out)
}

// TestNoDockerCLI: the docker CLI is looked for on PATH; without it, both
// ways through Docker say so in one line.
func TestNoDockerCLI(t *testing.T) {
	r := requireRig(t)
	for name, c := range map[string]struct{ address, want string }{
		"docker-container://": {"docker-container://" + buildkitd.ContainerName,
			"buildkit-address: no CLI for the connection helper: docker-container:// reaches buildkitd by running docker, and there is no docker on PATH; install it"},
		"the BuildKit container": {"",
			"buildkit-address: no buildkitd: nothing answers at unix:///run/buildkit/buildkitd.sock, there is no buildkitd on PATH to start, and no Docker daemon to run a BuildKit container in (no docker on PATH)"},
	} {
		t.Run(name, func(t *testing.T) {
			env := buildOnly(r)
			env["PATH"] = t.TempDir() // neither docker nor buildkitd
			if c.address != "" {
				env["INPUT_BUILDKIT-ADDRESS"] = c.address
			}
			res := runAction(t, env, nil)
			if res.code != 1 {
				t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
			}
			testcheck.OneErrorLine(t, res.stdout, c.want)
		})
	}
}
