//go:build !linux

package stream

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Outside Linux there is no child subreaper (macOS has neither
// PR_SET_CHILD_SUBREAPER nor FreeBSD's PROC_REAP_ACQUIRE) and no /proc to
// walk, so the program's process group is killed, as it was on Linux
// before the subreaper: its descendants that leave the group (setsid, a
// double fork, a daemon) survive the step. Nor can an unprivileged process
// close itself to its user there: a process of the same user reads any
// process's arguments and environment through sysctl(KERN_PROCARGS2)
// (internal/harden says so too). SECURITY.md ("The archive program") says
// what darwin runners do not get.

// adopt has nothing to ready: no subreaper, no dumpable flag.
func adopt(string) error { return nil }

// disown has no subreaper to end.
func disown() {}

// children is nil: the group kill reaches the program's group alone, never
// a child this process started before it.
func children() map[int]bool { return nil }

// stopTree kills the program's process group (program is its leader, by
// Setsid, so the group's id is its pid). It returns that id when a
// process of the group could not be signalled (EPERM: another user's,
// through a setuid program); a group already gone (ESRCH) left nothing.
func stopTree(_ map[int]bool, program int) []int {
	if err := unix.Kill(-program, unix.SIGKILL); errors.Is(err, unix.EPERM) {
		return []int{program}
	}
	return nil
}
