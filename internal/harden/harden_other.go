//go:build !linux

package harden

import "fmt"

// Apply marks every file descriptor above 2 close-on-exec, as /dev/fd
// lists them (see the Linux Apply). There is no /proc/<pid>/environ to
// close elsewhere; on macOS a process of the same user can still read the
// environment through sysctl(KERN_PROCARGS2), and nothing an unprivileged
// process does closes that.
func Apply() error {
	if err := cloexecEach("/dev/fd"); err != nil {
		return fmt.Errorf("%w: marking inherited file descriptors close-on-exec: %w", ErrNotClosed, err)
	}
	return nil
}
