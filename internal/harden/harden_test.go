//go:build linux

package harden

import (
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// inherited opens a descriptor as one inherited would be: not
// close-on-exec.
func inherited(t *testing.T) int {
	t.Helper()
	fd, err := unix.Open("/dev/null", unix.O_RDONLY, 0) // no O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	return fd
}

func cloexec(t *testing.T, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	return flags&unix.FD_CLOEXEC != 0
}

func TestApplyClosesProcessAndDescriptors(t *testing.T) {
	fd := inherited(t)
	if cloexec(t, fd) {
		t.Fatal("the test descriptor is close-on-exec already: the test proves nothing")
	}
	if err := Apply(); err != nil {
		t.Fatal(err)
	}
	if !cloexec(t, fd) {
		t.Errorf("descriptor %d not close-on-exec after Apply", fd)
	}
	if cloexec(t, 1) {
		t.Errorf("stdout became close-on-exec")
	}
	if d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); err != nil || d != 0 {
		t.Errorf("dumpable = %d (%v), want 0", d, err)
	}
	if Err != nil {
		t.Errorf("init: %v", Err)
	}
}

// TestCloexecEachFallback is the path of kernels before 5.11.
func TestCloexecEachFallback(t *testing.T) {
	fd := inherited(t)
	if err := cloexecEach("/proc/self/fd"); err != nil {
		t.Fatal(err)
	}
	if !cloexec(t, fd) {
		t.Errorf("descriptor %d not close-on-exec", fd)
	}
	if err := cloexecEach("/nonexistent"); err == nil {
		t.Error("no /proc: no error")
	}
	if _, err := os.Stat("/proc/self/fd/" + strconv.Itoa(fd)); err != nil {
		t.Errorf("descriptor %d closed, want it open: %v", fd, err)
	}
}
