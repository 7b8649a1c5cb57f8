package source

import (
	"context"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/blumeops/build-push-image/internal/repofile"
)

// notRegular names what a file is when it is neither a regular file nor
// a directory: a FIFO blocks its reader until a writer comes (for ever,
// in a job), a device never ends, a socket cannot be opened at all. Such
// a file is refused before it is opened for reading. "" for a regular
// file or a directory.
func notRegular(mode fs.FileMode) string {
	if mode.IsDir() {
		return ""
	}
	return repofile.Kind(mode)
}

// openRegular opens a file that stat said is regular, without blocking
// (O_NONBLOCK: a FIFO swapped in after the stat opens at once instead of
// blocking), and checks
// again what was opened, so that a swap after the stat is refused too.
func openRegular(open func(flag int) (*os.File, error), name string) (*os.File, error) {
	f, err := open(os.O_RDONLY | syscall.O_NONBLOCK)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = bad("%s is %s, not a regular file", name, notRegular(st.Mode()))
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// stopping is a reader that fails once ctx is done: a SIGTERM stops the
// reading of a layer that decompresses for minutes at the next block,
// not at the next tar entry.
type stopping struct {
	ctx context.Context
	r   io.Reader
}

func (s stopping) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	return s.r.Read(p)
}
