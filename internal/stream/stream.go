// Package stream is an image archive read as it is written: the output of
// a program (nix's streamLayeredImage leaves one as result: it writes the
// uncompressed docker-archive to its standard output) or standard input
// (archive: -). Nothing of it is copied anywhere: internal/source reads
// it once, as it reads a file.
//
// The program is the user's code, started while the API key is in the
// step: it gets no argument, the environment it is given (procenv's, with
// neither the key nor any INPUT_*), no file descriptor but its standard
// ones (internal/harden marks the rest close-on-exec), and this process is
// non-dumpable (internal/harden, and again here before it starts it), so
// that it cannot read the key from /proc/<pid>/environ (the kernel keeps
// the environment a process was started with, whatever Unsetenv does).
// Nothing it starts outlives it: this process is their child subreaper,
// and every descendant is killed when it ends (tree_linux.go; elsewhere
// its process group is, tree_other.go). Its standard
// error is shown line by line, each made inert (after "| "): none is a workflow
// command. Its exit, its silence (the idle limit) and cancellation each
// end the read of its output at once, whoever holds the pipe.
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
)

// ErrFailed is a stream whose writer did not write a whole image: the
// program exited non-zero, was killed, or stayed silent longer than the
// idle limit; standard input stayed silent that long.
var ErrFailed = errors.New("the program writing the image failed")

// Error is what went wrong with the writer, in one line naming neither
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

// DefaultIdle is how long a program (or standard input) may write nothing
// while it is read before it is stopped. nix's stream_layered_image.py is
// silent while it tars and hashes a layer before writing it: measured
// (docs/usage.md), Python's pass runs at about 1.3 GB/s of CPU, and a cold
// cloud disk reads 70 MB/s and more, so two minutes covers a layer of
// 8 GiB; a failed script (its producer thread hung, its output open) is
// then reported after two minutes, not ten (archive-idle-timeout sets it).
const DefaultIdle = 2 * time.Minute

// held is how long a read may wait once the program has ended and every
// process it left was killed: its output then ends at once, unless a
// process out of this user's reach holds the pipe.
const held = time.Second

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
// it comes, made inert: after "| ", and split at \r.
func WithStderr(line func(string)) Option { return func(o *options) { o.stderr = line } }

// WithIdle is how long the program, or standard input, may be silent
// while it is read (DefaultIdle).
func WithIdle(d time.Duration) Option { return func(o *options) { o.idle = d } }

// Program is a started program whose standard output is the image.
type Program struct {
	name      string
	cmd       *exec.Cmd
	out       *os.File // the read end of its standard output
	r         *watched // out, as it is read
	idle      time.Duration
	exempt    map[int]bool  // this process's children before it: not its
	stopWatch func() bool   // ends the watch on cancellation
	done      chan struct{} // closed when it has exited and its tree is stopped
	exit      error         // its exit, once done is closed
	mu        sync.Mutex
	last      []string // its last stderr lines
	left      []int    // processes of its tree that could not be stopped
	stderr    sync.WaitGroup
	// tree is held while its tree is stopped; closed once Finish or Stop
	// is done, so that no late stop (a cancellation, an idle timer) kills
	// what this process starts after.
	tree   sync.Mutex
	closed bool
}

// Start runs the program at name with no argument. Its output must be read
// to the end and Finish called, whatever happens: Finish stops it.
func Start(ctx context.Context, name string, opts ...Option) (*Program, error) {
	o := options{env: []string{}, idle: DefaultIdle, stderr: func(string) {}}
	for _, opt := range opts {
		opt(&o)
	}
	if err := adopt(name); err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, errors.Join(err, outR.Close(), outW.Close())
	}
	widen(outR)
	abs, err := filepath.Abs(name) // never looked up in PATH
	if err != nil {
		return nil, errors.Join(err, outR.Close(), outW.Close(), errR.Close(), errW.Close())
	}
	cmd := exec.Command(abs)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = o.env, o.dir, outW, errW
	// Its own session, so its own group: a ^C at a terminal reaches this
	// process alone, which then stops the program's whole tree. The
	// session is also, on Linux with autogroup (sched_autogroup_enabled),
	// a scheduling group of its own: the single-threaded program keeps a
	// core against the compressing threads of this one instead of a
	// third of two (case 11 of docs/benchmarks.md: about 5 % less time).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	exempt := children()
	err = cmd.Start()
	_, _ = outW.Close(), errW.Close()
	if err != nil {
		_, _ = outR.Close(), errR.Close()
		return nil, &Error{Reason: fmt.Sprintf("cannot start it (%v)", err), Err: err}
	}
	p := &Program{name: name, cmd: cmd, out: outR, idle: o.idle, exempt: exempt, done: make(chan struct{})}
	p.r = watch(outR, o.idle, p.stopAll)
	p.stderr.Add(1)
	go p.readStderr(errR, o.stderr)
	go func() {
		p.exit = cmd.Wait()
		p.stopAll() // what it left behind
		p.r.shorten(held, errHeld)
		_ = errR.SetReadDeadline(time.Now().Add(held))
		close(p.done)
	}()
	p.stopWatch = context.AfterFunc(ctx, func() {
		p.r.stop(ctx.Err())
		p.stopAll()
	})
	return p, nil
}

// stopAll kills the program and every process it left, whatever group or
// session they made (on Linux; elsewhere those of its group: tree_other.go).
func (p *Program) stopAll() {
	p.tree.Lock()
	defer p.tree.Unlock()
	if p.closed {
		return
	}
	left := stopTree(p.exempt, p.cmd.Process.Pid)
	p.mu.Lock()
	p.left = left
	p.mu.Unlock()
}

// readStderr passes on each line, made inert, and keeps the last ones.
func (p *Program) readStderr(r *os.File, line func(string)) {
	defer p.stderr.Done()
	defer func() { _ = r.Close() }()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		for _, l := range inert(sc.Text()) {
			line(l)
			p.mu.Lock()
			p.last = append(p.last, strings.TrimPrefix(l, inertPrefix))
			if len(p.last) > keptLines {
				p.last = p.last[1:]
			}
			p.mu.Unlock()
		}
	}
	_, _ = io.Copy(io.Discard, r) // a line longer than the buffer: the rest unread
}

// inertPrefix starts every line of the program's shown: no workflow
// command starts with it, even once leading spaces are trimmed.
const inertPrefix = "| "

// inert is line as it may be shown in the step's log: a runner reads a
// workflow command (::add-mask::, ::stop-commands::, ::set-output, ...)
// from a line starting with :: after leading spaces (GitHub's runner;
// act and Forgejo's runner at the very start), and a legacy one from ##[
// anywhere in it (GitHub's runner; act at the start). A runner also ends a
// line at a lone \r. So each part between \r is its own line, prefixed
// with "| ", and each ##[ becomes ##\[: shown, never obeyed. A prefix on
// every line, rather than a ::stop-commands:: block around the program's
// output: the action's own warnings, printed while the program runs,
// would be silenced too, and a prefix holds on every runner.
func inert(line string) []string {
	var out []string
	for _, part := range strings.Split(line, "\r") {
		if part != "" {
			out = append(out, inertPrefix+strings.ReplaceAll(part, "##[", `##\[`))
		}
	}
	return out
}

// Read reads the program's output; a program silent for the idle limit
// is stopped, and its exit or cancellation ends a Read at once.
func (p *Program) Read(b []byte) (int, error) { return p.r.Read(b) }

// Finish ends the program once its output was read: readErr is nil when
// the whole image was read, else why reading failed. It returns the
// program's failure (which explains a short read better than the read
// does), or nil. The program and every process it left are stopped in
// every case: none outlives the step.
func (p *Program) Finish(readErr error) error {
	defer p.close()
	if readErr == nil {
		// The image's end was read: the rest (tar padding) must follow,
		// then the program must exit 0.
		n, err := io.CopyN(io.Discard, p, trailing+1)
		if n > trailing {
			p.end()
			return p.failure(fmt.Sprintf("it wrote more than %d bytes after the image's end", trailing))
		}
		if err == io.EOF {
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
	p.end()
	p.stderr.Wait()
	if p.exit != nil || p.stopped() {
		return p.failure(p.exitReason())
	}
	p.mu.Lock()
	left := p.left
	p.mu.Unlock()
	if len(left) > 0 {
		return p.failure(fmt.Sprintf("it left processes this user cannot stop (pids %v: another user's, through a setuid program?)", left))
	}
	return nil
}

// Stop stops the program and every process it left, whether or not
// Finish ran: a caller defers it, so that a failure before the read (no
// Finish) leaves nothing running either.
func (p *Program) Stop() {
	p.end()
	p.close()
}

// end stops the program and waits for its exit. Once it has exited, the
// goroutine that waited for it has stopped its tree already: no second
// walk of /proc.
func (p *Program) end() {
	select {
	case <-p.done:
	default:
		p.stopAll()
		<-p.done
	}
}

// close ends the watch and the read; orphans stop coming to this process.
func (p *Program) close() {
	p.stopWatch()
	p.r.stop(io.ErrClosedPipe)
	p.tree.Lock()
	p.closed = true
	p.tree.Unlock()
	_ = p.out.Close()
	disown()
}

// waitIdle waits for the program's exit, within the idle limit.
func (p *Program) waitIdle() {
	select {
	case <-p.done:
	case <-time.After(p.idle):
		p.r.stop(errIdle)
	}
}

// stopped says whether its output was cut for its silence, or held open
// after it ended.
func (p *Program) stopped() bool {
	why := p.r.reason()
	return errors.Is(why, errIdle) || errors.Is(why, errHeld)
}

func (p *Program) exitReason() string {
	switch why := p.r.reason(); {
	case errors.Is(why, errIdle):
		return fmt.Sprintf("it wrote nothing for %s and was stopped (a program that never ends? If it pauses longer, raise archive-idle-timeout)", p.idle)
	case errors.Is(why, errHeld) && p.exit == nil:
		return "it exited, but its output stayed open: a process it started, out of this user's reach, holds it"
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

// Stdin is the image on standard input (archive: -), with the idle limit
// of a program's output: whatever feeds it may die or hang without ever
// closing it. Cancellation ends a read at once.
type Stdin struct {
	r         *watched
	idle      time.Duration
	stopWatch func() bool
}

// ReadStdin reads in as the image; of the options, only WithIdle counts.
func ReadStdin(ctx context.Context, in io.Reader, opts ...Option) *Stdin {
	o := options{idle: DefaultIdle}
	for _, opt := range opts {
		opt(&o)
	}
	if f, ok := in.(*os.File); ok {
		widen(f) // when it is a pipe: result | this action
	}
	s := &Stdin{r: watch(in, o.idle, func() {}), idle: o.idle}
	s.stopWatch = context.AfterFunc(ctx, func() { s.r.stop(ctx.Err()) })
	return s
}

// Read reads standard input, waiting at most the idle limit.
func (s *Stdin) Read(b []byte) (int, error) { return s.r.Read(b) }

// Finish says why standard input was cut, if for its silence.
func (s *Stdin) Finish(error) error {
	s.stopWatch()
	if errors.Is(s.r.reason(), errIdle) {
		return &Error{Reason: fmt.Sprintf("nothing came on standard input for %s: does what writes the image into the step still run? If it pauses longer, raise archive-idle-timeout", s.idle), Err: errIdle}
	}
	return nil
}
