// Package repofile reads the small files of the repository that the
// program reads itself (a version file, a Dockerfile) without trusting
// them: a pull request controls what they are. A file must be a regular
// file inside its root (symbolic links followed only while they stay
// inside it), of at most MaxSize bytes, and is read with that limit, so a
// link to /proc/self/environ, /dev/zero or a FIFO is refused before it
// is read, and nothing can make a read hang or fill the memory. Errors
// name the file and the problem, never what it holds.
package repofile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// MaxSize is the largest file read: a version file or a Dockerfile is a
// few KiB, and anything past 1 MiB is not one.
const MaxSize = 1 << 20

// The problems a file can have, for errors.Is.
var (
	// ErrOutside is a path that leads out of its root, through a link.
	ErrOutside = errors.New("leads outside the workspace")
	// ErrNotRegular is a directory, FIFO, device or socket.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge is a file over MaxSize.
	ErrTooLarge = errors.New("larger than 1 MiB")
)

// Read returns the content of path (relative to the working directory,
// or absolute), which must be a regular file of at most MaxSize bytes
// inside root.
func Read(root, path string) ([]byte, error) {
	f, err := open(root, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("cannot read %s (%v)", path, errors.Unwrap(err))
	case len(b) > MaxSize: // a size stat did not tell (/proc, /sys)
		return nil, fmt.Errorf("%s is %w", path, ErrTooLarge)
	}
	return b, nil
}

// Check is Read without reading, for a file another program reads (the
// Dockerfile BuildKit reads): it is there, regular, small enough, inside
// root, and may be opened.
func Check(root, path string) error {
	f, err := open(root, path)
	if err != nil {
		return err
	}
	return f.Close()
}

// Root is the directory a file at path is confined to: the workspace
// (the working directory) when path is inside it, else dir (a context
// given as an absolute path elsewhere) when path is inside that, else
// path's own directory.
func Root(path, dir string) string {
	abs, _ := filepath.Abs(path)
	wd, _ := os.Getwd()
	absDir, _ := filepath.Abs(dir)
	for _, root := range []string{wd, absDir} {
		if root != "" && inside(root, abs) {
			return root
		}
	}
	return filepath.Dir(abs)
}

// inside reports whether path is root or lexically below it.
func inside(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// open opens path inside root for reading once it is known to be a
// regular file of at most MaxSize: the stat through root refuses a link
// out of it and a FIFO before anything opens it; the open does not
// block (O_NONBLOCK) and is checked again, in case the file changed.
func open(root, path string) (*os.File, error) {
	abs, err := filepath.Abs(path)
	if err != nil || !inside(root, abs) {
		return nil, fmt.Errorf("%s is outside %s; give a path inside it", path, root)
	}
	rel, _ := filepath.Rel(root, abs)
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s (%v)", root, errors.Unwrap(err))
	}
	defer r.Close()
	st, err := r.Stat(rel)
	if err != nil {
		return nil, statError(path, err)
	}
	if err := check(path, st); err != nil {
		return nil, err
	}
	f, err := r.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s (%v); check its permissions", path, errors.Unwrap(err))
	}
	if st, err = f.Stat(); err == nil {
		err = check(path, st)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// statError says why path could not be found inside root: missing, or a
// link that leads out of it (os.Root refuses those; a plain stat, which
// opens nothing, tells the two apart).
func statError(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &problem{fmt.Sprintf("%s not found", path), fs.ErrNotExist}
	}
	if _, plain := os.Stat(path); plain == nil {
		return fmt.Errorf("%s is a link that %w; only links that stay inside it are followed", path, ErrOutside)
	}
	return fmt.Errorf("cannot read %s (%v)", path, errors.Unwrap(err))
}

// problem is an error whose message is its own, wrapping a sentinel.
type problem struct {
	msg string
	err error
}

func (p *problem) Error() string { return p.msg }
func (p *problem) Unwrap() error { return p.err }

// check refuses what is not a regular file of at most MaxSize.
func check(path string, st fs.FileInfo) error {
	if kind := Kind(st.Mode()); kind != "" {
		return fmt.Errorf("%s is %s, %w", path, kind, ErrNotRegular)
	}
	if st.Size() > MaxSize {
		return fmt.Errorf("%s is %w (%d bytes)", path, ErrTooLarge, st.Size())
	}
	return nil
}

// Kind names what a file that is not regular is ("" for a regular one):
// the one wording of every refusal of a FIFO, device or socket, here and
// in internal/source.
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return ""
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}
