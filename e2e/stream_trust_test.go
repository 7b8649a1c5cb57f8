package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// The archive program is the user's code (a pull request's, in its check
// job) run by the action as the runner's user, which is not root: these
// tests run the real action as the rootless test user, as a runner runs
// it, against the rig's registry.

// termBound is how soon a SIGTERM must end a run (issue 29).
const termBound = 2 * time.Second

// trustRig is the rootless user, its copy of the action, a stream program
// that writes a valid image, and that image's bytes.
type trustRig struct {
	r      rig
	as     *unprivileged
	s      *nixStore
	bin    string
	work   string // the user's, where programs write what they saw
	stream string // the program writing a valid image
	image  []byte // what it writes
}

func newTrustRig(t *testing.T) *trustRig {
	t.Helper()
	r := requireRig(t)
	as := rootless(t)
	as.dir(t, "") // the test's directory, the user's
	tr := &trustRig{r: r, as: as, s: newStore(t), bin: as.dir(t, "bin"), work: as.dir(t, "work")}
	as.copy(t, binary(t), filepath.Join(tr.bin, "build-push-image"))
	// 2 MiB of store path: an image larger than a pipe's buffer.
	tr.stream = tr.s.stream(nixImage{packages: []string{tr.s.package_("hello", "hello", 2<<20)}})
	tr.image = output(t, tr.stream)
	return tr
}

// program writes a program of body (run by /bin/sh) and returns its
// result link, in the user's workspace.
func (tr *trustRig) program(t *testing.T, body string) string {
	t.Helper()
	p := tr.s.path("stream-trust")
	tr.s.script(p, body)
	return resultIn(t, tr.as.dir(t, randomName("ws")), p) // where the user can reach it
}

// command is the action as the user, publishing archive to a new
// repository, with extra inputs.
func (tr *trustRig) command(t *testing.T, archive string, extra map[string]string) *exec.Cmd {
	t.Helper()
	env := archiveInputs(t, tr.r, randomName("it/stream-trust"), "v1.0.0", archive)
	delete(env, "PATH") // the user's own: bin, then the system's
	for k, v := range extra {
		env[k] = v
	}
	return tr.as.command(t, tr.work, tr.bin, "", env)
}

// pidFile is a file of the user's work directory a program writes a PID
// to.
func (tr *trustRig) pidFile(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(tr.work, randomName(name))
}

// watchedRun is an action run whose stdout is watched as it comes.
type watchedRun struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    strings.Builder
	stderr strings.Builder
	done   chan struct{}
	err    error
}

func startWatched(t *testing.T, cmd *exec.Cmd) *watchedRun {
	t.Helper()
	w := &watchedRun{cmd: cmd, done: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &w.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // a test that failed early leaves no run behind
		select {
		case <-w.done:
		default:
			_ = cmd.Process.Kill()
			<-w.done
		}
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			w.mu.Lock()
			w.out.WriteString(sc.Text() + "\n")
			w.mu.Unlock()
		}
		w.err = cmd.Wait()
		close(w.done)
	}()
	return w
}

func (w *watchedRun) stdout() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.String()
}

// waitFor waits until a line of stdout holds want.
func (w *watchedRun) waitFor(t *testing.T, want string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		if strings.Contains(w.stdout(), want) {
			return
		}
		select {
		case <-w.done:
			t.Fatalf("the run ended before printing %q:\n%s", want, w.stdout())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no %q printed:\n%s", want, w.stdout())
}

// wait waits for the run's end, at most limit (then it is killed and the
// test fails), and returns how long it took.
func (w *watchedRun) wait(t *testing.T, limit time.Duration) (result, time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case <-w.done:
	case <-time.After(limit):
		_ = w.cmd.Process.Kill()
		<-w.done
		t.Errorf("the run still went on %s later: killed", limit)
	}
	took := time.Since(start)
	return collect(t, w.cmd, w.err, w.stdout(), w.stderr.String()), took
}

// terminate sends SIGTERM and wants the run ended within termBound,
// RUNNER_TEMP left clean.
func (w *watchedRun) terminate(t *testing.T) result {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	res, took := w.wait(t, time.Minute)
	if took > termBound {
		t.Errorf("SIGTERM ended the run after %s, want within %s", took, termBound)
	}
	if res.code == 0 {
		t.Errorf("exit 0 after SIGTERM\n%s", res.stdout)
	}
	wantCleanTemp(t, res)
	return res
}

func wantCleanTemp(t *testing.T, res result) {
	t.Helper()
	if left := actionLeftovers(t, res.runnerTemp); len(left) > 0 {
		t.Errorf("RUNNER_TEMP holds %v", left)
	}
}

// wantGoneNow fails when the process whose PID the file holds is still
// there, running or a zombie: the action reaps what it kills.
func wantGoneNow(t *testing.T, what, pidFile string) {
	t.Helper()
	pid := strings.TrimSpace(string(readAll(t, pidFile)))
	if pid == "" {
		t.Fatalf("%s: no pid in %s", what, pidFile)
	}
	if stat, err := os.ReadFile("/proc/" + pid + "/stat"); err == nil {
		t.Errorf("%s (pid %s) outlived the step: %s", what, pid, stat)
	}
}

// TestStreamTrust: what the archive program does cannot outlast the step
// nor reach beyond it (issue 29): processes it leaves in other sessions,
// a pipe it leaves held, silence, cancellation, its stderr, descriptors
// the action inherited; and a running action's environment is closed to
// its user from the start, with no program of its own.
func TestStreamTrust(t *testing.T) {
	tr := newTrustRig(t)

	t.Run("setsid and daemon children stopped", func(t *testing.T) {
		setsid, daemon := tr.pidFile(t, "setsid"), tr.pidFile(t, "daemon")
		res := runCommand(t, tr.command(t, tr.program(t, fmt.Sprintf(`setsid sleep 900 </dev/null >/dev/null 2>&1 &
echo $! > %[1]s
( ( setsid sh -c 'echo $$ > %[2]s; exec sleep 900' </dev/null >/dev/null 2>&1 & ) & )
while [ ! -s %[2]s ]; do sleep 0.01; done
exec %[3]s
`, setsid, daemon, tr.stream)), nil), nil)
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stdout)
		}
		wantCleanTemp(t, res)
		wantGoneNow(t, "the setsid child", setsid)
		wantGoneNow(t, "the double-forked daemon", daemon)
	})

	t.Run("held pipe ends at the program's exit", func(t *testing.T) {
		holder := tr.pidFile(t, "holder")
		w := startWatched(t, tr.command(t, tr.program(t, fmt.Sprintf("%s\nsetsid sleep 900 &\necho $! > %s\nexit 0\n", tr.stream, holder)), nil))
		res, took := w.wait(t, 10*time.Second) // the holder sleeps 900 s
		if res.code != 0 {
			t.Fatalf("exit %d after %s\n%s", res.code, took, res.stdout)
		}
		wantCleanTemp(t, res)
		wantGoneNow(t, "the setsid holder", holder)
	})

	t.Run("idle limit ends a silent program", func(t *testing.T) {
		holder := tr.pidFile(t, "holder")
		w := startWatched(t, tr.command(t, tr.program(t, fmt.Sprintf("setsid sleep 900 &\necho $! > %s\nhead -c 1048576 %s\nexec sleep 900\n", holder, tr.streamFile(t))),
			map[string]string{"INPUT_ARCHIVE-IDLE-TIMEOUT": "2s"}))
		res, _ := w.wait(t, time.Minute)
		if res.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
		}
		testcheck.OneErrorLine(t, res.stdout, "the program writing the image failed: it wrote nothing for 2s and was stopped")
		wantCleanTemp(t, res)
		wantGoneNow(t, "the setsid holder", holder)
	})

	t.Run("idle limit ends silent standard input", func(t *testing.T) {
		cmd := tr.command(t, "-", map[string]string{"INPUT_ARCHIVE-IDLE-TIMEOUT": "2s"})
		stdin := tr.partialStdin(t, cmd)
		w := startWatched(t, cmd)
		tr.feed(t, stdin)
		res, _ := w.wait(t, time.Minute)
		if res.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
		}
		testcheck.OneErrorLine(t, res.stdout, "archive: -: nothing came on standard input for 2s")
		wantCleanTemp(t, res)
	})

	t.Run("SIGTERM while a silent program holds its pipe", func(t *testing.T) {
		holder := tr.pidFile(t, "holder")
		w := startWatched(t, tr.command(t, tr.program(t, fmt.Sprintf("setsid sleep 900 &\necho $! > %s\nhead -c 1048576 %s\necho program-started >&2\nexec sleep 900\n", holder, tr.streamFile(t))), nil))
		w.waitFor(t, "program-started")
		w.terminate(t)
		wantGoneNow(t, "the setsid holder", holder)
	})

	t.Run("SIGTERM while standard input is silent; environ closed", func(t *testing.T) {
		cmd := tr.command(t, "-", nil)
		stdin := tr.partialStdin(t, cmd)
		w := startWatched(t, cmd)
		tr.feed(t, stdin) // returns once the action reads
		// The action runs no program: it is not dumpable all the same,
		// so another process of its user cannot read its environment; a
		// process of the user that is dumpable can be read (the check
		// can fail).
		pid := fmt.Sprint(w.cmd.Process.Pid)
		if out, err := tr.asUser(t, "cat", "/proc/"+pid+"/environ").CombinedOutput(); err == nil || strings.Contains(string(out), "INPUT_") {
			t.Errorf("the action's environ read by its user: %v\n%.200q", err, out)
		}
		if out, err := tr.asUser(t, "sh", "-c", "cat /proc/$$/environ").CombinedOutput(); err != nil || !strings.Contains(string(out), "PATH=") {
			t.Errorf("the user cannot read its own shell's environ (%v %q): the check proves nothing", err, out)
		}
		status := string(readAll(t, "/proc/"+pid+"/status"))
		if !strings.Contains(status, fmt.Sprintf("Uid:\t%d", tr.as.uid)) {
			t.Errorf("the action does not run as the test user:\n%s", status)
		}
		w.terminate(t)
	})

	t.Run("stderr shown, never obeyed", func(t *testing.T) {
		res := runCommand(t, tr.command(t, tr.program(t, `printf '::add-mask::x\n::error::pwned\n  ::stop-commands::tok\n##[warning]legacy\nok\r::set-output name=digest::sha256:0\n' >&2
exec `+tr.stream+"\n"), nil), nil)
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stdout)
		}
		for _, shown := range []string{"| ::add-mask::x", "| ::error::pwned", "|   ::stop-commands::tok", `| ##\[warning]legacy`, "| ok", "| ::set-output name=digest::sha256:0"} {
			wantLine(t, res.stdout, shown)
		}
		// A runner ends a line at \n or \r, trims leading spaces, then
		// reads :: at its start, or ##[ anywhere.
		for _, l := range strings.FieldsFunc(res.stdout, func(r rune) bool { return r == '\n' || r == '\r' }) {
			trimmed := strings.TrimLeft(l, " \t")
			for _, cmd := range []string{"::add-mask::x", "::error::pwned", "::stop-commands::", "::set-output"} {
				if strings.HasPrefix(trimmed, cmd) {
					t.Errorf("line %q is a workflow command", l)
				}
			}
			if strings.Contains(l, "##[") {
				t.Errorf("line %q holds a legacy command", l)
			}
		}
		if !strings.HasPrefix(res.outputs["digest"], "sha256:") || res.outputs["digest"] == "sha256:0" {
			t.Errorf("digest output %q", res.outputs["digest"])
		}
	})

	t.Run("inherited descriptors not passed on", func(t *testing.T) {
		seen := filepath.Join(tr.work, randomName("fds"))
		list := fmt.Sprintf("ls -l /proc/$$/fd/ > %s 2>&1", seen)
		marker := randomName("inherited")
		extra := []*os.File{tr.markedFile(t, marker+"-3"), tr.markedFile(t, marker+"-4")}
		// The check can fail: a plain child of the harness sees both.
		plain := tr.asUser(t, "sh", "-c", list)
		plain.ExtraFiles = extra
		if out, err := plain.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if got := string(readAll(t, seen)); !strings.Contains(got, marker+"-3") || !strings.Contains(got, marker+"-4") {
			t.Fatalf("a plain child does not see fds 3 and 4: the check proves nothing\n%s", got)
		}
		cmd := tr.command(t, tr.program(t, list+"\nexec "+tr.stream+"\n"), nil)
		cmd.ExtraFiles = extra
		res := runCommand(t, cmd, nil)
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stdout)
		}
		if got := string(readAll(t, seen)); strings.Contains(got, marker) {
			t.Errorf("the program sees descriptors the action inherited:\n%s", got)
		}
	})
}

// streamFile is the valid image as a file the user can read.
func (tr *trustRig) streamFile(t *testing.T) string {
	t.Helper()
	name := filepath.Join(tr.work, randomName("image")+".tar")
	tr.as.write(t, name, string(tr.image))
	return name
}

// markedFile is a file of the user's named name, opened.
func (tr *trustRig) markedFile(t *testing.T, name string) *os.File {
	t.Helper()
	path := filepath.Join(tr.work, name)
	tr.as.write(t, path, "")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// asUser is a command run as the test user.
func (tr *trustRig) asUser(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = tr.work
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(tr.as.uid), Gid: uint32(tr.as.gid)}}
	return cmd
}

// partialStdin makes cmd's standard input a pipe the test holds; it is
// closed when the test ends.
func (tr *trustRig) partialStdin(t *testing.T, cmd *exec.Cmd) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = r
	t.Cleanup(func() { _, _ = r.Close(), w.Close() })
	return w
}

// feed writes the image's first MiB, more than a pipe holds: when it
// returns, the action is reading standard input, then waits for more.
func (tr *trustRig) feed(t *testing.T, w *os.File) {
	t.Helper()
	if _, err := w.Write(tr.image[:1<<20]); err != nil {
		t.Fatal(err)
	}
}
