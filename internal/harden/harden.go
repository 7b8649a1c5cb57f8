// Package harden closes this process to the other processes of its user
// from its first instruction, and keeps the file descriptors it inherited
// from the processes it starts. main imports it for its init alone.
//
// The inputs, the API key among them, are in the environment the kernel
// keeps for /proc/<pid>/environ from the moment the process is started,
// and any process of the same user may read that file (and the memory) of
// a dumpable process: on a host runner, a process some earlier job left
// behind. So the process turns non-dumpable before anything else of it
// runs: this package imports nothing but the system call layer, so Go
// initialises it before every package that could read the environment,
// and before the heavy ones (BuildKit's, gRPC's, regclient's registrations)
// whose init would widen the window.
package harden

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Err is why the process could not be closed, or nil: main refuses to
// read any input when it is set.
var Err error

func init() { Err = Apply() }

// ErrNotClosed is a process left open to its own user: the action stops
// rather than read its inputs.
var ErrNotClosed = errors.New("cannot close this process to the other processes of its user")

// closeRangeCloexec is CLOSE_RANGE_CLOEXEC (Linux 5.11): mark the range
// close-on-exec instead of closing it.
const closeRangeCloexec = 1 << 2

// Apply makes this process non-dumpable (its /proc/<pid>/environ, memory
// and ptrace closed to its user; root keeps them) and marks every file
// descriptor above 2 close-on-exec. Go opens its own descriptors so;
// those inherited from the runner or the step's shell are not, and would
// reach every process started, the user's archive program among them.
// Dumpability is not inherited across exec: the processes started get
// their own, as usual.
func Apply() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("%w: prctl(PR_SET_DUMPABLE): %w", ErrNotClosed, err)
	}
	if err := unix.CloseRange(3, ^uint(0), closeRangeCloexec); err == nil {
		return nil
	}
	// Before Linux 5.11: each open descriptor, as /proc lists them.
	if err := cloexecEach("/proc/self/fd"); err != nil {
		return fmt.Errorf("%w: marking inherited file descriptors close-on-exec: %w", ErrNotClosed, err)
	}
	return nil
}

// cloexecEach marks close-on-exec each descriptor above 2 that dir (a
// /proc/<pid>/fd) lists. The one reading dir is among them, closed by the
// time it is marked: that is no failure.
func cloexecEach(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && !errors.Is(err, unix.EBADF) {
			return fmt.Errorf("descriptor %d: %w", fd, err)
		}
	}
	return nil
}
