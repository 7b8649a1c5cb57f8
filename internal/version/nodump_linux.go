package version

import "golang.org/x/sys/unix"

// noDump makes this process non-dumpable before it starts the user's
// command: no process of the same user (the command among them) may then
// read its memory or /proc/<pid>/environ, where the kernel keeps the
// environment it was started with, the API key's input included.
func noDump() error { return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) }
