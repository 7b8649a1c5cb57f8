package e2e

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
	"github.com/blumeops/build-push-image/internal/testrig"
)

// rootlessUser is the unprivileged user the rootless test runs the action
// as, with /etc/subuid and /etc/subgid entries; make test creates it
// (the Makefile's rootless-user target).
const rootlessUser = "bpi-rootless"

// TestRootlessBuildkitd runs the action as a user that is not root, with
// a buildkitd and rootlesskit on PATH and nothing else to build with: it
// starts buildkitd rootless, builds a RUN step and pushes.
func TestRootlessBuildkitd(t *testing.T) {
	r := requireRig(t)
	as := rootless(t)
	dir := as.dir(t, "")
	bin := as.dir(t, "bin")
	as.copy(t, binary(t), filepath.Join(bin, "build-push-image"))
	as.copy(t, filepath.Join(os.Getenv(testrig.EnvTools), "buildkitd"), filepath.Join(bin, "buildkitd"))
	context := as.dir(t, "context")
	as.copy(t, "/bin/busybox", filepath.Join(context, "busybox"))
	as.write(t, filepath.Join(context, "Dockerfile"),
		"FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox id -u > /ran-rootless\"]\n")
	xdg := as.dir(t, "run")
	// rootlesskit, recording its environment (buildkitd's, but for what
	// rootlesskit adds): no input, no key.
	kit := as.dir(t, "kit")
	environ := filepath.Join(kit, "rootlesskit-environ")
	as.write(t, filepath.Join(kit, "rootlesskit"), "#!/bin/sh\ncat /proc/$$/environ >> "+environ+"\nexec /usr/bin/rootlesskit \"$@\"\n")
	if err := os.Chmod(filepath.Join(kit, "rootlesskit"), 0o755); err != nil {
		t.Fatal(err)
	}

	image := randomName("it/rootless")
	env := r.inputs(image, "v1.0.0", context)
	delete(env, "INPUT_BUILDKIT-ADDRESS")
	env["PATH"] = bin + ":" + kit + ":/usr/bin:/bin:/usr/sbin:/sbin"
	res := runCommand(t, as.command(t, dir, bin, xdg, env), nil)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	wantLine(t, res.stdout, "started "+filepath.Join(bin, "buildkitd")+" for this job, rootless (rootlesskit) (unix://"+xdg+"/buildkitd-")
	wantPushed(t, r, image, res)
	assertHasFile(t, r, image, res.outputs["digest"], "ran-rootless")
	wantStopped(t, bin, xdg)
	wantEmpty(t, xdg)
	b, err := os.ReadFile(environ)
	if err != nil {
		t.Fatalf("rootlesskit was not started: %v", err)
	}
	testcheck.CleanEnviron(t, "rootlesskit", b, r.key)
	testcheck.NoSecret(t, r.key, res.all()...)

	t.Run("two jobs at once", func(t *testing.T) { // the same user and runtime directory
		var jobs []*running
		for range 2 {
			env := r.inputs(randomName("it/rootless"), "v1.0.0", context)
			delete(env, "INPUT_BUILDKIT-ADDRESS")
			jobs = append(jobs, startCommand(t, as.command(t, dir, bin, xdg, env)))
		}
		for _, job := range jobs {
			if res := job.wait(t); res.code != 0 {
				t.Errorf("exit %d\n%s", res.code, res.stdout)
			}
		}
		wantStopped(t, bin, xdg)
		wantEmpty(t, xdg)
	})

	t.Run("no XDG_RUNTIME_DIR", func(t *testing.T) { // a runner service may set none
		env := r.inputs(randomName("it/rootless"), "v1.0.0", context)
		delete(env, "INPUT_BUILDKIT-ADDRESS")
		cmd := as.command(t, dir, bin, "", env)
		res := runCommand(t, cmd, nil)
		if res.code != 0 {
			t.Fatalf("exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
		}
		wantLine(t, res.stdout, "for this job, rootless (rootlesskit) (unix://"+res.runnerTemp+"/buildkitd-")
		wantStopped(t, bin, res.runnerTemp)
	})

	t.Run("no rootlesskit", func(t *testing.T) {
		env := r.inputs(randomName("it/rootless"), "v1.0.0", context)
		delete(env, "INPUT_BUILDKIT-ADDRESS")
		cmd := as.command(t, dir, bin, xdg, env)
		cmd.Env = append(cmd.Env, "PATH="+bin+":/nonexistent") // buildkitd, but no rootlesskit, runc or docker
		res := runCommand(t, cmd, nil)
		if res.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
		}
		testcheck.OneErrorLine(t, res.stdout, "buildkit-address: no rootlesskit: the buildkitd on PATH ("+filepath.Join(bin, "buildkitd")+") cannot run as this user (uid "+strconv.Itoa(as.uid)+", not root) without rootlesskit; install rootlesskit and uidmap")
	})
}

// wantStopped checks that no process of bin runs any more and that the
// buildkitd's directory under dir is gone.
func wantStopped(t *testing.T, bin, dir string) {
	t.Helper()
	if pids := processesMentioning(t, bin); len(pids) > 0 {
		t.Errorf("the rootless buildkitd is still running: pids %v", pids)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "buildkitd-*")); len(left) > 0 {
		t.Errorf("buildkitd's directory not removed: %v", left)
	}
}

// wantEmpty checks that the runtime directory is left as it was found:
// what rootless buildkitd and runc keep there (sockets, runc's state) was
// the job's own, and went with it.
func wantEmpty(t *testing.T, xdg string) {
	t.Helper()
	if left, _ := os.ReadDir(xdg); len(left) > 0 {
		t.Errorf("$XDG_RUNTIME_DIR not left as it was: %v", left)
	}
}

// unprivileged is a user that is not root, and what the test made for it.
type unprivileged struct {
	uid, gid int
	home     string
	root     string // the test's directory, the user's
}

// rootless returns the rootless test user; it fails when make test has not
// set it up.
func rootless(t *testing.T) *unprivileged {
	t.Helper()
	u, err := user.Lookup(rootlessUser)
	if err != nil {
		t.Fatalf("user %s: %v (make test creates it: make rootless-user)", rootlessUser, err)
	}
	for _, tool := range []string{"rootlesskit", "newuidmap", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s: %v (make test installs rootlesskit, uidmap and runc)", tool, err)
		}
	}
	as := &unprivileged{home: u.HomeDir}
	as.uid, _ = strconv.Atoi(u.Uid)
	as.gid, _ = strconv.Atoi(u.Gid)
	root, err := os.MkdirTemp("", "bpi-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	as.root = root
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	return as
}

// dir makes a directory of the user's under the test's (name "" is the
// test's own).
func (u *unprivileged) dir(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(u.root, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	u.chown(t, dir)
	return dir
}

func (u *unprivileged) chown(t *testing.T, path string) {
	t.Helper()
	if err := os.Chown(path, u.uid, u.gid); err != nil {
		t.Fatal(err)
	}
}

// copy copies an executable file to dst, the user's.
func (u *unprivileged) copy(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	u.chown(t, dst)
}

func (u *unprivileged) write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	u.chown(t, path)
}

// command is the program run as the user with env and a clean
// environment of its own: the outputs and temp dir in dir, bin first on
// PATH, and xdg as $XDG_RUNTIME_DIR ("" for none; no $USER: a runner
// service may not set it).
func (u *unprivileged) command(t *testing.T, dir, bin, xdg string, env map[string]string) *exec.Cmd {
	t.Helper()
	temp := u.dir(t, "temp-"+randomName("run"))
	cmd := exec.Command(filepath.Join(bin, "build-push-image"))
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)}}
	cmd.Env = []string{
		"PATH=" + bin + ":/usr/bin:/bin:/usr/sbin:/sbin", "HOME=" + u.home,
		"GITHUB_OUTPUT=" + filepath.Join(temp, "output"), "GITHUB_STEP_SUMMARY=" + filepath.Join(temp, "summary"),
		"RUNNER_TEMP=" + temp,
	}
	if xdg != "" {
		cmd.Env = append(cmd.Env, "XDG_RUNTIME_DIR="+xdg)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}
