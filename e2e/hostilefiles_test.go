package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// hostileKey is a key with the characters that change under quoting,
// JSON escaping and the tag hint: '+', '"' and '\'. Runs that use it fail
// on their inputs, before the registry is asked.
const hostileKey = `zak_hostile+"key\with+forms_0123456789`

// otherSecret is any other secret of the step's environment.
const otherSecret = "other_secret_in_the_environment_4567"

// hostileRun runs the action, or the plan in dir with plan set, under a
// runner, with hostileKey and otherSecret in its environment, and checks
// that it fails on its inputs with one line holding want and that no form
// of either secret is printed or written anywhere. A run that hangs is
// stopped after a minute and fails the test.
func hostileRun(t *testing.T, env map[string]string, plan bool, dir, want string) {
	t.Helper()
	env["GITHUB_ACTIONS"] = "true"
	env["INPUT_API-KEY"] = hostileKey
	env["OTHER_SECRET"] = otherSecret
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := actionCommand(t, ctx, env)
	if plan {
		cmd.Args = append(cmd.Args, "plan")
		cmd.Dir = dir
	}
	res := runCommand(t, cmd, nil)
	if ctx.Err() != nil {
		t.Fatalf("still running after a minute (a read that blocks?):\n%s", res.stdout)
	}
	if res.code != 2 {
		t.Fatalf("exit %d, want 2:\n%s%s", res.code, res.stdout, res.stderr)
	}
	testcheck.OneErrorLine(t, res.stdout, want)
	for _, secret := range []string{hostileKey, otherSecret, "INPUT_"} {
		testcheck.NoSecret(t, secret, res.all()...)
	}
}

// linkTo makes name in dir a symbolic link to target.
func linkTo(t *testing.T, dir, name, target string) {
	t.Helper()
	if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// TestVersionFileLinkToEnviron: a version file that is a link to
// /proc/self/environ (a pull request can add one) is refused as a link
// out of the workspace, by the action and by the plan, and neither the
// key in any form nor anything else of the environment is printed.
func TestVersionFileLinkToEnviron(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	t.Run("action", func(t *testing.T) {
		dir := uniqueContext(t, 16)
		linkTo(t, dir, "VERSION", "/proc/self/environ")
		env := r.inputs(randomName("hostile/environ"), "", dir)
		env["INPUT_VERSION-FILE"] = "VERSION"
		hostileRun(t, env, false, "", "version-file: "+filepath.Join(dir, "VERSION")+" is a link that leads outside the workspace")
	})
	t.Run("plan", func(t *testing.T) {
		dir := testcheck.WriteTree(t, map[string]string{"containers/env/Dockerfile": "FROM scratch\n"})
		linkTo(t, dir, "containers/env/VERSION", "/proc/self/environ")
		env := map[string]string{
			"INPUT_CONTEXTS":     "containers/*",
			"INPUT_IMAGE":        r.registry + "/hostile/{name}",
			"INPUT_VERSION-FILE": "VERSION",
			"INPUT_USERNAME":     r.user,
			"INPUT_REGISTRY-TLS": "disabled",
		}
		hostileRun(t, env, true, dir, "version-file: containers/env/VERSION is a link that leads outside the workspace")
	})
}

// TestVersionFromDevZero: /dev/zero as the version file (through a link)
// and as the Dockerfile version-arg reads is refused before it is read:
// one line, at once, no memory filled.
func TestVersionFromDevZero(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	t.Run("version-file", func(t *testing.T) {
		dir := uniqueContext(t, 16)
		linkTo(t, dir, "VERSION", "/dev/zero")
		env := r.inputs(randomName("hostile/zero"), "", dir)
		env["INPUT_VERSION-FILE"] = "VERSION"
		hostileRun(t, env, false, "", "version-file: "+filepath.Join(dir, "VERSION")+" is a link that leads outside the workspace")
	})
	t.Run("dockerfile", func(t *testing.T) {
		env := r.inputs(randomName("hostile/zero"), "", uniqueContext(t, 16))
		env["INPUT_FILE"] = "/dev/zero"
		env["INPUT_VERSION-ARG"] = "APP_VERSION"
		hostileRun(t, env, false, "", "file: /dev/zero is a device, not a regular file")
	})
}

// TestVersionFileFIFO: a FIFO as the version file fails at once, with one
// line, instead of blocking for ever on a writer that never comes.
func TestVersionFileFIFO(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	dir := uniqueContext(t, 16)
	if err := syscall.Mkfifo(filepath.Join(dir, "VERSION"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := r.inputs(randomName("hostile/fifo"), "", dir)
	env["INPUT_VERSION-FILE"] = "VERSION"
	hostileRun(t, env, false, "", "version-file: "+filepath.Join(dir, "VERSION")+" is a named pipe (FIFO), not a regular file")
}

// TestPlanAbsoluteGlob: an absolute contexts glob is refused like one
// that climbs out with ../: the plan reads only the workspace.
func TestPlanAbsoluteGlob(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	res := runPlan(t, t.TempDir(), map[string]string{
		"INPUT_CONTEXTS":     "/etc",
		"INPUT_IMAGE":        r.registry + "/hostile/{name}",
		"INPUT_VERSION-FILE": "hostname",
		"INPUT_REGISTRY-TLS": "disabled",
	})
	if res.code != 2 {
		t.Fatalf("exit %d, want 2:\n%s", res.code, res.stdout)
	}
	testcheck.OneErrorLine(t, res.stdout, `contexts: "/etc" is absolute: the plan reads only the workspace`)
	if strings.Contains(res.stdout, "::set-output") || res.outputs["matrix"] != "" {
		t.Errorf("outputs written after a refused glob: %v", res.outputs)
	}
}
