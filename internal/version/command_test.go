package version

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	stdregexp "regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseCommand(t *testing.T) {
	cases := []struct {
		text string
		want []string
	}{
		{"nix eval --raw .#{name}.version", []string{"nix", "eval", "--raw", ".#{name}.version"}},
		{`sh -c 'echo "$1"; x' _ {name}`, []string{"sh", "-c", `echo "$1"; x`, "_", "{name}"}},
		{`a "b c" d\ e $HOME`, []string{"a", "b c", "d e", "$HOME"}},
		{"  a\n\tb  ", []string{"a", "b"}},
		{`''`, []string{""}},
	}
	for _, tc := range cases {
		c, err := ParseCommand(tc.text)
		if err != nil || !slices.Equal(c.Args, tc.want) {
			t.Errorf("ParseCommand(%q) = %v, %v; want %q", tc.text, c, err, tc.want)
		}
	}
	for _, bad := range []string{`sh -c 'echo`, `a "b`, `a\`} {
		if _, err := ParseCommand(bad); err == nil {
			t.Errorf("ParseCommand(%q): no error", bad)
		}
	}
	if c, err := ParseCommand(" \n "); c != nil || err != nil {
		t.Errorf("blank: %v, %v; want no command", c, err)
	}
}

// run parses text and runs it in dir.
func run(t *testing.T, text, dir string, env ...string) (Found, error) {
	t.Helper()
	c, err := ParseCommand(text)
	if err != nil {
		t.Fatal(err)
	}
	c.Env, c.Timeout = append([]string{"PATH=" + os.Getenv("PATH")}, env...), 500*time.Millisecond
	abs, _ := filepath.Abs(dir)
	return c.Run(dir, abs)
}

// TestCommandPlaceholders: {name} and {dir} are replaced inside words
// after the split, so a hostile directory name stays one argument and is
// never run by a shell; the command runs in the directory.
func TestCommandPlaceholders(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x;touch pwned;$(touch pwned2)")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := run(t, `sh -c 'test "$(pwd)" = "$2" && printf "%s\n" "$1"' _ v-{name} {dir}`, dir)
	if err != nil || f.Version != "v-x;touch pwned;$(touch pwned2)" {
		t.Fatalf("Run = %+v, %v", f, err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "pwned*")); len(m) != 0 {
		t.Errorf("the directory's name was run: %v", m)
	}
	if !strings.HasPrefix(f.Where(), "the output of `sh -c") {
		t.Errorf("Where = %q", f.Where())
	}
}

// TestCommandFailures: each way a command fails is one error naming the
// directory, with its exit status and last stderr line; a command past
// its time limit is killed with its children.
func TestCommandFailures(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ text, want string }{
		{`sh -c 'echo noise >&2; echo "error: no attribute dex" >&2; exit 3'`, "exited with status 3: error: no attribute dex"},
		{`sh -c 'sleep 30 & sleep 30'`, "ran out of time (500ms)"},
		{`sh -c 'printf "1.0\n2.0\n"'`, "printed more than one line"},
		{`sh -c 'head -c 2000 /dev/zero | tr "\0" 1'`, "printed more than 512 bytes"},
		{`no-such-program-here`, "executable file not found"},
	}
	for _, tc := range cases {
		start := time.Now()
		_, err := run(t, tc.text, dir)
		var ce *CommandError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), dir+": `") {
			t.Errorf("%s: %v; want a CommandError naming %s with %q", tc.text, err, dir, tc.want)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("%s: took %s: the time limit did not kill it", tc.text, time.Since(start))
		}
	}
	if _, err := run(t, "true", dir); !errors.Is(err, ErrNoVersion) {
		t.Errorf("printed nothing: %v, want ErrNoVersion", err)
	}
}

// TestCommandEnvironment: the command gets only the environment it is
// given (config passes procenv's allow list), nothing of this process.
func TestCommandEnvironment(t *testing.T) {
	t.Setenv("INPUT_API-KEY", "secret-value-123")
	t.Setenv("SOME_TOKEN", "secret-value-123")
	f, err := run(t, `sh -c 'env | grep -c secret-value || true'`, t.TempDir(), "HOME=/nowhere")
	if err != nil || f.Version != "0" {
		t.Errorf("the command saw the secret: %+v, %v", f, err)
	}
}

// TestSourceCommandOrder: the file first and the command where it names
// none, or with CommandFirst the command first and the file where it
// prints nothing; a failing command is never passed over; what a command
// prints gets the prefix and the rules of a version file.
func TestSourceCommandOrder(t *testing.T) {
	root := t.TempDir()
	mk := func(name, file string) string {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if file != "" {
			if err := os.WriteFile(filepath.Join(dir, "default.nix"), []byte(file), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	versioned, unversioned, missing := mk("api", `version = "1.0.0";`), mk("dex", "tag = \"latest\";"), mk("nettest", "")
	echo := func(text string) *Command {
		c, _ := ParseCommand(text)
		c.Env = []string{"PATH=" + os.Getenv("PATH")}
		return c
	}
	src := Source{File: "default.nix", Pattern: stdregexp.MustCompile(`version = "([^"]+)"`), Prefix: "v", Command: echo("echo 2.0.0-{name}")}
	for _, tc := range []struct {
		dir   string
		first bool
		want  string
	}{
		{versioned, false, "v1.0.0"}, {unversioned, false, "v2.0.0-dex"}, {missing, false, "v2.0.0-nettest"},
		{versioned, true, "v2.0.0-api"}, {unversioned, true, "v2.0.0-dex"},
	} {
		src.CommandFirst = tc.first
		if f, err := src.Read(tc.dir, ""); err != nil || f.Version != tc.want {
			t.Errorf("%s (first %v): %+v, %v; want %s", filepath.Base(tc.dir), tc.first, f, err, tc.want)
		}
	}
	src.CommandFirst, src.Command = true, echo("true")
	if f, err := src.Read(versioned, ""); err != nil || f.Version != "v1.0.0" {
		t.Errorf("command first printing nothing: %+v, %v; want the file's v1.0.0", f, err)
	}
	src.Command = echo("false")
	var ce *CommandError
	if _, err := src.Read(versioned, ""); !errors.As(err, &ce) {
		t.Errorf("command first failing: %v, want its CommandError, not the file's version", err)
	}
	src.CommandFirst, src.Command = false, echo(`printf '\033[31m'`)
	if _, err := src.Read(unversioned, ""); !errors.As(err, &ce) || !strings.Contains(err.Error(), "not a version") {
		t.Errorf("control characters: %v, want refused as no version", err)
	}
}

// TestCommandLeavesNothingRunning: what a command started in the
// background and left behind (its stdout not held) is killed with its
// group when it ends: nothing of the user's outlives the look-up.
func TestCommandLeavesNothingRunning(t *testing.T) {
	dir := t.TempDir()
	f, err := run(t, `sh -c 'sleep 300 >/dev/null 2>&1 & echo $! > pid; echo 1.2.3'`, dir)
	if err != nil || f.Version != "1.2.3" {
		t.Fatalf("%+v, %v", f, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for range 100 { // killed: gone, or a zombie until init reaps it
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if errors.Is(err, os.ErrNotExist) || strings.Contains(string(stat), ") Z ") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("the command's background process %d still runs", pid)
}
