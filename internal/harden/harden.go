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

// cloexecEach marks close-on-exec each descriptor above 2 that dir (a
// /proc/<pid>/fd, or /dev/fd) lists. The one reading dir is among them,
// closed by the time it is marked: that is no failure.
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
