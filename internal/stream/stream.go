// Package stream is an image archive read as it is written: the output of
// a program (nix's streamLayeredImage leaves one as result: it writes the
// uncompressed docker-archive to its standard output) or standard input
// (archive: -). Nothing of it is copied anywhere: internal/archive reads
// it once, as it reads a file.
//
// The program is the user's code, started while the API key is in the
// step: it gets no argument, the environment it is given (procenv's, with
// neither the key nor any INPUT_*), its own process group (stopped as a
// whole), and this process turns itself non-dumpable before it starts it,
// so that it cannot read the key from /proc/<pid>/environ (the kernel keeps
// the environment a process was started with, whatever Unsetenv does).
package stream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrFailed is a program that did not write a whole image: it exited
// non-zero, was killed, or stayed silent longer than the idle limit.
var ErrFailed = errors.New("the program writing the image failed")

// Error is what went wrong with the program, in one line naming neither
// the input nor the path (the caller writes those), with the last lines of
// its standard error.
type Error struct {
	// Reason is the line for the user.
	Reason string
	// Err is the underlying failure (an exit status), when there is one.
	Err error
}

func (e *Error) Error() string { return e.Reason }

// Is makes every Error match ErrFailed.
func (e *Error) Is(target error) bool { return target == ErrFailed }

func (e *Error) Unwrap() error { return e.Err }

// DefaultIdle is how long a program may write nothing while it is read
// before it is stopped: nix hashes each store path before it writes it,
// a few seconds per GiB, so ten minutes is a program that never ends.
const DefaultIdle = 10 * time.Minute

// trailing is the most a program may write after the image's end (tar
// pads its end to a record: 10 KiB for Python's tarfile).
const trailing = 1 << 20

// keptLines is how many of the program's last stderr lines its error
// quotes.
const keptLines = 5

// IsProgram says whether name is a program to run rather than an archive
// to read: an executable regular file that starts as a script (#!) or an
// ELF binary. An archive with its executable bit set starts as neither.
func IsProgram(name string) bool {
	st, err := os.Stat(name)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return false
	}
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	return strings.HasPrefix(string(head[:n]), "#!") || string(head[:n]) == "\x7fELF"
}

type options struct {
	env    []string
	dir    string
	stderr func(line string)
	idle   time.Duration
}

// Option configures Start.
type Option func(*options)

// WithEnv is the program's whole environment (procenv's: never nil, or the
// program would inherit this process's).
func WithEnv(env []string) Option { return func(o *options) { o.env = env } }

// WithDir is where the program runs: the workspace.
func WithDir(dir string) Option { return func(o *options) { o.dir = dir } }

// WithStderr gets each line the program writes to its standard error, as
// it comes.
func WithStderr(line func(string)) Option { return func(o *options) { o.stderr = line } }

// WithIdle is how long the program may be silent while it is read
// (DefaultIdle).
func WithIdle(d time.Duration) Option { return func(o *options) { o.idle = d } }

// Program is a started program whose standard output is the image.
type Program struct {
	name   string
	cmd    *exec.Cmd
	out    *os.File
	idle   time.Duration
	done   chan struct{} // closed when the program has exited
	exit   error         // its exit, once done is closed
	idled  bool          // stopped for its silence
	mu     sync.Mutex
	last   []string // its last stderr lines
	stderr sync.WaitGroup
}

// Start runs the program at name with no argument. Its output must be read
// to the end and Finish called, whatever happens: Finish stops it.
func Start(ctx context.Context, name string, opts ...Option) (*Program, error) {
	o := options{env: []string{}, idle: DefaultIdle, stderr: func(string) {}}
	for _, opt := range opts {
		opt(&o)
	}
	// Before the user's code runs: no process of the same user may read
	// this one's memory or /proc/<pid>/environ from now on.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("making this process non-dumpable before starting %s: %w", name, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, errors.Join(err, outR.Close(), outW.Close())
	}
	abs, err := filepath.Abs(name) // never looked up in PATH
	if err != nil {
		return nil, errors.Join(err, outR.Close(), outW.Close(), errR.Close(), errW.Close())
	}
	cmd := exec.Command(abs)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = o.env, o.dir, outW, errW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	_, _ = outW.Close(), errW.Close()
	if err != nil {
		_, _ = outR.Close(), errR.Close()
		return nil, &Error{Reason: fmt.Sprintf("cannot start it (%v)", err), Err: err}
	}
	p := &Program{name: name, cmd: cmd, out: outR, idle: o.idle, done: make(chan struct{})}
	p.stderr.Add(1)
	go p.readStderr(errR, o.stderr)
	go func() {
		p.exit = cmd.Wait()
		close(p.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			p.kill()
		case <-p.done:
		}
	}()
	return p, nil
}

// readStderr passes on each line and keeps the last ones.
func (p *Program) readStderr(r *os.File, line func(string)) {
	defer p.stderr.Done()
	defer func() { _ = r.Close() }()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		l := sc.Text()
		line(l)
		p.mu.Lock()
		p.last = append(p.last, l)
		if len(p.last) > keptLines {
			p.last = p.last[1:]
		}
		p.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r) // a line longer than the buffer: the rest unread
}

// Read reads the program's output; a program silent for the idle limit
// is stopped.
func (p *Program) Read(b []byte) (int, error) {
	t := time.AfterFunc(p.idle, func() {
		p.mu.Lock()
		p.idled = true
		p.mu.Unlock()
		p.kill()
	})
	n, err := p.out.Read(b)
	t.Stop()
	return n, err
}

// kill stops the program and every process of its group.
func (p *Program) kill() { _ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) }

// Finish ends the program once its output was read: readErr is nil when
// the whole image was read, else why reading failed. It returns the
// program's failure (which explains a short read better than the read
// does), or nil. The program's group is stopped in every case: no child
// of it outlives the step.
func (p *Program) Finish(readErr error) error {
	defer func() { _ = p.out.Close() }()
	if readErr == nil {
		// The image's end was read: the rest (tar padding) must follow,
		// then the program must exit 0.
		n, err := io.CopyN(io.Discard, p, trailing+1)
		switch {
		case n > trailing:
			p.kill()
			<-p.done
			return p.failure(fmt.Sprintf("it wrote more than %d bytes after the image's end", trailing))
		case err != nil && err != io.EOF:
			readErr = err
		}
		if readErr == nil {
			p.waitIdle()
		}
	} else {
		// A short read sees the program's end: give it a moment to exit
		// on its own (its status is the better reason), else stop it.
		select {
		case <-p.done:
		case <-time.After(200 * time.Millisecond):
		}
	}
	p.kill() // its group: what it left running behind it
	<-p.done
	p.stderr.Wait()
	if p.exit != nil {
		return p.failure(p.exitReason())
	}
	return nil
}

// waitIdle waits for the program's exit, within the idle limit.
func (p *Program) waitIdle() {
	select {
	case <-p.done:
	case <-time.After(p.idle):
		p.mu.Lock()
		p.idled = true
		p.mu.Unlock()
	}
}

func (p *Program) exitReason() string {
	p.mu.Lock()
	idled := p.idled
	p.mu.Unlock()
	if idled {
		return fmt.Sprintf("it wrote nothing for %s and was stopped (a program that never ends?)", p.idle)
	}
	var ee *exec.ExitError
	if errors.As(p.exit, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("it was killed by signal %s", ws.Signal())
		}
		return fmt.Sprintf("it exited with status %d", ee.ExitCode())
	}
	return fmt.Sprintf("it failed (%v)", p.exit)
}

// failure is the program's error, with its last stderr lines.
func (p *Program) failure(reason string) error {
	p.mu.Lock()
	last := strings.Join(p.last, " | ")
	p.mu.Unlock()
	line := "the program writing the image failed: " + reason
	if last != "" {
		line += "; its last lines: " + last
	}
	return &Error{Reason: line, Err: p.exit}
}

// Stdin is the image on standard input (archive: -).
type Stdin struct{ io.Reader }

// Finish has nothing to stop.
func (Stdin) Finish(error) error { return nil }
