package repofile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRead: a regular file inside the root is read, also through a link
// that stays inside; every other kind of path is refused before it is
// read, with an error that names the file and what it is, never what it
// holds.
func TestRead(t *testing.T) {
	t.Setenv("REPOFILE_TEST_SECRET", "zak_environ+\"\\secret")
	root := t.TempDir()
	write := func(name, content string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(name, target string) {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	write("shared/VERSION", "1.2.3\n")
	link("VERSION", "shared/VERSION")
	link("environ", "/proc/self/environ")
	link("zero", "/dev/zero")
	link("climb", "../../../../../../../../proc/self/environ")
	write("big", strings.Repeat("x", MaxSize+1))
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	link("tofifo", "fifo")

	if b, err := Read(root, filepath.Join(root, "VERSION")); err != nil || string(b) != "1.2.3\n" {
		t.Errorf("a link inside the root: %q, %v", b, err)
	}
	cases := []struct {
		name string
		want error
		says string
	}{
		{"environ", ErrOutside, "is a link that leads outside the workspace"},
		{"climb", ErrOutside, "is a link that leads outside the workspace"},
		{"zero", ErrOutside, "is a link that leads outside the workspace"},
		{"big", ErrTooLarge, "is larger than 1 MiB (1048577 bytes)"},
		{"fifo", ErrNotRegular, "is a named pipe (FIFO), not a regular file"},
		{"tofifo", ErrNotRegular, "is a named pipe (FIFO), not a regular file"},
		{"shared", ErrNotRegular, "is a directory, not a regular file"},
		{"missing", fs.ErrNotExist, "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(root, tc.name)
			for what, err := range map[string]error{"Read": func() error { _, err := Read(root, path); return err }(), "Check": Check(root, path)} {
				if !errors.Is(err, tc.want) {
					t.Fatalf("%s: %v, want %v", what, err, tc.want)
				}
				if msg := err.Error(); !strings.Contains(msg, path+" "+tc.says) || strings.Contains(msg, "zak_environ") || strings.Contains(msg, "xxxx") {
					t.Errorf("%s: %q, want the path and %q, nothing of the content", what, msg, tc.says)
				}
			}
		})
	}
}

// TestReadDevice: a device named by its own path (the file input, given
// as an absolute path) is refused, unread.
func TestReadDevice(t *testing.T) {
	_, err := Read(Root("/dev/zero", t.TempDir()), "/dev/zero")
	if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "/dev/zero is a device") {
		t.Fatalf("got %v, want /dev/zero refused as a device", err)
	}
}

// TestRoot: the working directory when the path is in it, else the
// context, else the file's own directory.
func TestRoot(t *testing.T) {
	wd, _ := os.Getwd()
	ctx := t.TempDir()
	for path, want := range map[string]string{
		"testdata/x/Dockerfile":                 wd,
		filepath.Join(ctx, "sub", "Dockerfile"): ctx,
		filepath.Join(wd, "..", "..", "go.mod"): filepath.Clean(filepath.Join(wd, "..", "..")),
		"/dev/zero":                             "/dev",
	} {
		if got := Root(path, ctx); got != want {
			t.Errorf("Root(%s) = %s, want %s", path, got, want)
		}
	}
}
