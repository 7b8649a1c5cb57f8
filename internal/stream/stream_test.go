// These tests pin Linux's guarantees (the subreaper, /proc, prctl), which
// tree_other.go says other platforms do not have.

//go:build linux

package stream

import (
	"context"
	"errors"
	"golang.org/x/sys/unix"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "result")
	if err := os.WriteFile(name, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return name
}

// run starts the program, reads its output whole and finishes it.
func run(t *testing.T, name string, opts ...Option) (string, error) {
	t.Helper()
	p, err := Start(context.Background(), name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(p)
	return string(out), p.Finish(err)
}

func TestIsProgram(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct {
		data string
		mode os.FileMode
		want bool
	}{
		"script":          {"#!/bin/sh\n", 0o755, true},
		"elf":             {"\x7fELF....", 0o755, true},
		"not executable":  {"#!/bin/sh\n", 0o644, false},
		"executable gzip": {"\x1f\x8b\x08\x00", 0o755, false},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(p, []byte(c.data), c.mode); err != nil {
			t.Fatal(err)
		}
		if got := IsProgram(p); got != c.want {
			t.Errorf("%s: IsProgram = %v, want %v", name, got, c.want)
		}
	}
	if IsProgram(dir) {
		t.Error("a directory is a program")
	}
}

func TestStreamReadsOutputInEnvAndDir(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	out, err := run(t, script(t, `echo "$#:$FOO:$(pwd)"; echo warming >&2`),
		WithEnv([]string{"FOO=bar", "PATH=/usr/bin:/bin"}), WithDir(dir), WithStderr(func(l string) { lines = append(lines, l) }))
	if err != nil {
		t.Fatal(err)
	}
	if want := "0:bar:" + dir + "\n"; out != want {
		t.Errorf("output %q, want %q (no argument, the given environment and directory)", out, want)
	}
	if len(lines) != 1 || lines[0] != "| warming" {
		t.Errorf("stderr lines %q, want [| warming]", lines)
	}
}

func TestStreamRelativeNameIsNotLookedUpInPath(t *testing.T) {
	name := script(t, "echo mine\n")
	t.Chdir(filepath.Dir(name))
	t.Setenv("PATH", "/usr/bin:/bin")
	out, err := run(t, "result")
	if err != nil || out != "mine\n" {
		t.Errorf("out %q err %v, want ./result run", out, err)
	}
}

func TestStreamFailureQuotesLastLines(t *testing.T) {
	_, err := run(t, script(t, "for i in 1 2 3 4 5 6 7; do echo line$i >&2; done; echo partial; exit 3\n"))
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("err = %v, want ErrFailed", err)
	}
	for _, want := range []string{"exited with status 3", "line3 | line4 | line5 | line6 | line7"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "line2") {
		t.Errorf("%q quotes more than the last %d lines", err, keptLines)
	}
}

func TestStreamIdleStopsProgramAndChildren(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	start := time.Now()
	_, err := run(t, script(t, "sleep 300 & echo $! > "+pidFile+"; echo started; wait\n"), WithIdle(300*time.Millisecond))
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "wrote nothing for 300ms") {
		t.Fatalf("err = %v, want the idle limit", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("stopped after %s", time.Since(start))
	}
	wantGone(t, pidFile)
}

// wantGone fails when the process whose PID the file holds still runs
// (a zombie waiting for init to reap it has stopped).
func wantGone(t *testing.T, pidFile string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b))
	for range 50 {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return
		}
		if _, after, _ := strings.Cut(string(stat), ") "); strings.HasPrefix(after, "Z") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("the program's child %s still runs", pid)
}

func TestStreamChildLeftBehindIsStopped(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	out, err := run(t, script(t, "sleep 300 >/dev/null 2>&1 & echo $! > "+pidFile+"; echo image\n"))
	if err != nil || out != "image\n" {
		t.Fatalf("out %q, err %v", out, err)
	}
	wantGone(t, pidFile)
}

func TestStreamCancelStopsProgram(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, script(t, "echo a; sleep 300\n"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(p, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, err = io.ReadAll(p)
	if ferr := p.Finish(io.ErrUnexpectedEOF); !errors.Is(ferr, ErrFailed) || !strings.Contains(ferr.Error(), "killed") {
		t.Errorf("Finish = %v (read %v), want killed", ferr, err)
	}
}

func TestStreamNonDumpableWhileRunning(t *testing.T) {
	out, err := run(t, script(t, "cat /proc/$PPID/status | grep -c . >/dev/null; echo ok\n"))
	if err != nil || out != "ok\n" {
		t.Fatalf("out %q err %v", out, err)
	}
	// PR_GET_DUMPABLE is 3.
	r, _, errno := syscall.Syscall(syscall.SYS_PRCTL, 3, 0, 0)
	if errno != 0 || r != 0 {
		t.Errorf("dumpable = %d (errno %v), want 0 once a program was started", r, errno)
	}
}

// pidOf reads the PID a program wrote to file, waiting for it.
func pidOf(t *testing.T, file string) string {
	t.Helper()
	for range 100 {
		if b, err := os.ReadFile(file); err == nil && strings.HasSuffix(string(b), "\n") {
			return strings.TrimSpace(string(b))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", file)
	return ""
}

// TestStreamOutsideItsGroupIsStopped: a setsid child and a double-forked
// daemon leave the program's process group and session; both are stopped
// when the program ends, and reaped (no zombie of theirs is left).
func TestStreamOutsideItsGroupIsStopped(t *testing.T) {
	dir := t.TempDir()
	out, err := run(t, script(t, `setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > `+dir+`/setsid
( ( setsid sh -c 'echo $$ > `+dir+`/daemon; exec sleep 300' </dev/null >/dev/null 2>&1 & ) & )
while [ ! -s `+dir+`/daemon ]; do sleep 0.01; done
echo image
`))
	if err != nil || out != "image\n" {
		t.Fatalf("out %q err %v", out, err)
	}
	for _, name := range []string{"setsid", "daemon"} {
		pid := pidOf(t, filepath.Join(dir, name))
		if _, err := os.Stat("/proc/" + pid); err == nil {
			t.Errorf("%s child %s still there (running or a zombie)", name, pid)
		}
	}
}

// TestStreamHeldPipeEndsAtExit: a setsid child holds the program's output
// open after it exits 0; the read ends at its exit all the same.
func TestStreamHeldPipeEndsAtExit(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	start := time.Now()
	out, err := run(t, script(t, "echo image; setsid sleep 300 & echo $! > "+pidFile+"\n"), WithIdle(time.Minute))
	if err != nil || out != "image\n" {
		t.Fatalf("out %q err %v", out, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the read ended %s after the program, want at its exit", d)
	}
	wantGone(t, pidFile)
}

// TestStreamCancelEndsHeldRead: a setsid child holds the output of a
// program that sleeps: cancellation ends the read at once.
func TestStreamCancelEndsHeldRead(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, script(t, "echo a; setsid sleep 300 & sleep 300\n"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(p, buf); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = io.ReadAll(p)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("read ended with %v, want context.Canceled", err)
	}
	if ferr := p.Finish(err); !errors.Is(ferr, ErrFailed) {
		t.Errorf("Finish = %v, want ErrFailed", ferr)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancelled read and Finish took %s", d)
	}
}

func TestStdinIdleAndCancel(t *testing.T) {
	r, w := io.Pipe() // never written to, never closed
	t.Cleanup(func() { _ = w.Close() })
	s := ReadStdin(context.Background(), r, WithIdle(200*time.Millisecond))
	_, err := io.ReadAll(s)
	if ferr := s.Finish(err); !errors.Is(ferr, ErrFailed) || !strings.Contains(ferr.Error(), "nothing came on standard input for 200ms") {
		t.Errorf("Finish = %v (read %v), want the idle limit", ferr, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	s = ReadStdin(ctx, r, WithIdle(time.Hour))
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := io.ReadAll(s); !errors.Is(err, context.Canceled) {
		t.Errorf("read = %v, want context.Canceled", err)
	}
	if ferr := s.Finish(err); ferr != nil {
		t.Errorf("Finish = %v after cancellation, want nil (the read says why)", ferr)
	}

	s = ReadStdin(context.Background(), strings.NewReader("whole"))
	if b, err := io.ReadAll(s); err != nil || string(b) != "whole" || s.Finish(nil) != nil {
		t.Errorf("read %q, %v", b, err)
	}
}

func TestStreamStderrInert(t *testing.T) {
	for line, want := range map[string][]string{
		"::add-mask::x":                   {"| ::add-mask::x"},
		"  ::stop-commands::tok":          {"|   ::stop-commands::tok"},
		"ok\r::error::pwned":              {"| ok", "| ::error::pwned"},
		"see ##[error]x and ###[warning]": {`| see ##\[error]x and ###\[warning]`},
		"plain":                           {"| plain"},
		"\r":                              nil,
	} {
		got := inert(line)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("inert(%q) = %q, want %q", line, got, want)
		}
		for _, l := range got {
			if strings.HasPrefix(strings.TrimLeft(l, " \t"), "::") || strings.Contains(l, "##[") || strings.Contains(l, "\r") {
				t.Errorf("inert(%q) line %q could be a command", line, l)
			}
		}
	}
}

// TestStreamStopWithoutFinish: a publish that fails before the read stops
// the program and what it left all the same.
func TestStreamStopWithoutFinish(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	p, err := Start(context.Background(), script(t, "setsid sleep 300 & echo $! > "+pidFile+"; sleep 300\n"))
	if err != nil {
		t.Fatal(err)
	}
	pidOf(t, pidFile)
	p.Stop()
	wantGone(t, pidFile)
}

// TestStreamSparesEarlierChildren: what this process started before the
// program (a buildkitd of the job, say) is not the program's to stop.
func TestStreamSparesEarlierChildren(t *testing.T) {
	earlier := exec.Command("sleep", "300")
	if err := earlier.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = earlier.Process.Kill(); _ = earlier.Wait() })
	if out, err := run(t, script(t, "setsid sleep 300 & echo image\n")); err != nil || out != "image\n" {
		t.Fatalf("out %q err %v", out, err)
	}
	if err := earlier.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("a child started before the program was stopped: %v", err)
	}
}

// TestStreamPipesAreWide: the program's output and a piped standard input
// hold pipeSize, so the writer runs a MiB ahead (widen).
func TestStreamPipesAreWide(t *testing.T) {
	p, err := Start(context.Background(), script(t, "exec cat\n"))
	if err != nil {
		t.Fatal(err)
	}
	if n := pipeHolds(t, p.out); n < pipeSize {
		t.Errorf("the program's output pipe holds %d, want %d", n, pipeSize)
	}
	_, _ = io.Copy(io.Discard, p)
	if err := p.Finish(nil); err != nil {
		t.Fatal(err)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	s := ReadStdin(context.Background(), r)
	if n := pipeHolds(t, r); n < pipeSize {
		t.Errorf("standard input's pipe holds %d, want %d", n, pipeSize)
	}
	if _, err := io.ReadAll(s); err != nil || s.Finish(nil) != nil {
		t.Errorf("read: %v", err)
	}
}

// pipeHolds is the size of the pipe f is an end of.
func pipeHolds(t *testing.T, f *os.File) int {
	t.Helper()
	c, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c.Control(func(fd uintptr) { n, err = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0) }); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}
