package stream

import (
	"os"

	"golang.org/x/sys/unix"
)

// widen grows the pipe f reads from 64 KiB to pipeSize, so the program
// writes a whole MiB ahead of this process: with 64 KiB the writer and
// the reader wake each other every 64 KiB (3,000 times for 192 MiB) and
// take turns instead of running side by side; the nix stream's first
// release took about 15 % longer that way (docs/benchmarks.md, case 11).
// A file that is no pipe, or a limit lower than pipeSize, leaves f as it
// is: the stream is read all the same, only slower. Control, not Fd: Fd
// would turn f blocking, and a Close would no longer end a read under way.
func widen(f *os.File) {
	if c, err := f.SyscallConn(); err == nil {
		_ = c.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize) })
	}
}
