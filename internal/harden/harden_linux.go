package harden

import (
	"fmt"

	"golang.org/x/sys/unix"
)

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
	// Linux 5.11: the range marked close-on-exec, not closed.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	// Before Linux 5.11: each open descriptor, as /proc lists them.
	if err := cloexecEach("/proc/self/fd"); err != nil {
		return fmt.Errorf("%w: marking inherited file descriptors close-on-exec: %w", ErrNotClosed, err)
	}
	return nil
}
