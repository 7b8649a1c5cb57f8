package version

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/blumeops/build-push-image/internal/harden"
)

// Command is a program that prints an image's version (version-command:
// `nix eval --raw .#{name}.version`), for images whose files name none.
// Its words are split once, as a shell would split them (quotes group,
// nothing is expanded); {name} and {dir} are then replaced inside each
// word, so a directory's name is never parsed by a shell: it stays part
// of the word it was put in. The program runs in the image's directory,
// with Env (an allow list without secrets) and a time limit, in a process
// group of its own, and this process is made non-dumpable first (as
// internal/stream does for an archive program): the command cannot read
// the key from /proc/<pid>/environ.
type Command struct {
	Args    []string
	Env     []string      // never nil when run: nil would inherit everything
	Timeout time.Duration // 0: CommandTimeout
}

// CommandTimeout is how long a version command may run per directory: a
// nix evaluation that has to fetch its flake inputs takes a minute.
const CommandTimeout = 2 * time.Minute

// The placeholders a command's words may hold.
const (
	NamePlaceholder = "{name}"
	DirPlaceholder  = "{dir}"
)

// maxOutput is how much of a command's output is kept: more than a
// version (MaxLength) needs, so that a longer one is refused, not cut.
const maxOutput = 4 * MaxLength

// ParseCommand splits a version-command into words: blanks separate
// them, single or double quotes group (a backslash escapes the next
// character outside single quotes), nothing is expanded. Empty (or only
// blanks): nil, no command.
func ParseCommand(text string) (*Command, error) {
	var words []string
	var word strings.Builder
	inWord, quote := false, rune(0)
	escaped := false
	for _, r := range text {
		switch {
		case escaped:
			word.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			word.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || escaped {
		return nil, fmt.Errorf("%q has an unclosed quote or a trailing backslash; close it, e.g. sh -c 'echo 1.2.3'", text)
	}
	if inWord {
		words = append(words, word.String())
	}
	if len(words) == 0 {
		return nil, nil
	}
	return &Command{Args: words}, nil
}

// CommandError is a version command that failed in a directory: it could
// not start, it ran out of time, or it exited non-zero (Stderr is the last
// line it wrote there).
type CommandError struct {
	Dir, Command string
	Err          error
	Stderr       string
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("%s: `%s` %v", e.Dir, e.Command, e.Err)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg + "; run it in that directory by hand to see why, or leave the directory out with !" + e.Dir
}

func (e *CommandError) Unwrap() error { return e.Err }

// ErrTimeout means a version command ran past its time limit.
var ErrTimeout = errors.New("ran out of time")

// Run runs the command in dir (abs is its absolute path; the image is
// named after its last element) and returns what it printed, trimmed: one
// line, or ErrNoVersion when it printed nothing. Source.Read then holds
// it to the rules of a version file's. {dir} is abs: it means the same
// inside the directory, and it starts with /, never read as an option.
func (c Command) Run(dir, abs string) (Found, error) {
	r := strings.NewReplacer(NamePlaceholder, filepath.Base(abs), DirPlaceholder, abs)
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = r.Replace(a)
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = CommandTimeout
	}
	if harden.Err != nil { // the command could read the key through /proc
		return Found{}, fmt.Errorf("before running %s: %w", c.Args[0], harden.Err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = append([]string{}, c.Env...)
	// Its own process group, killed whole: sh -c's children die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	stdout, stderr := &capped{max: maxOutput}, &capped{max: 64 << 10, tail: true}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	// Its group is killed whatever its end: nothing it started in the
	// background outlives the look-up (its group is gone: ESRCH).
	if cmd.Process != nil { // nil: it never started
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	ran := strings.Join(args, " ") // as run: what to try by hand
	found := Found{Command: ran, Path: dir}
	fail := func(err error, stderr string) (Found, error) {
		return found, &CommandError{Dir: dir, Command: ran, Err: err, Stderr: stderr}
	}
	var exit *exec.ExitError
	switch v := strings.TrimSpace(string(stdout.Bytes())); {
	case ctx.Err() != nil:
		return fail(fmt.Errorf("%w (%s)", ErrTimeout, timeout), lastLine(stderr.Bytes()))
	case errors.As(err, &exit):
		return fail(fmt.Errorf("exited with status %d", exit.ExitCode()), lastLine(stderr.Bytes()))
	case err != nil:
		return fail(err, "")
	case stdout.over:
		return fail(fmt.Errorf("printed more than %d bytes, not a version; make it print the version alone", maxOutput), "")
	case v == "":
		return fail(&kindError{errors.New("printed nothing"), ErrNoVersion}, "")
	case strings.ContainsAny(v, "\r\n"):
		return fail(errors.New("printed more than one line, not a version; make it print the version alone (nix eval --raw)"), "")
	default:
		found.Version = v
		return found, nil
	}
}

// lastLine is the last non-blank line of b, printable, at most a line's
// worth: what a failing command said last is usually why.
func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	line := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(lines[len(lines)-1]))
	if len(line) > 300 {
		line = line[:300] + "…"
	}
	return line
}

// capped keeps at most max bytes written to it: the first ones, or with
// tail the last ones. Writes never fail, so the program is not cut off.
type capped struct {
	buf  bytes.Buffer
	max  int
	tail bool
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	c.buf.Write(p)
	if c.buf.Len() > c.max {
		c.over = true
		b := c.buf.Bytes()
		keep := b[:c.max]
		if c.tail {
			keep = b[len(b)-c.max:]
		}
		c.buf = *bytes.NewBuffer(append([]byte{}, keep...))
	}
	return len(p), nil
}

func (c *capped) Bytes() []byte { return c.buf.Bytes() }
