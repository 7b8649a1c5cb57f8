// Package version reads an image's release version from its sources when
// no version is given: the default of an ARG in its Dockerfile, or a
// regular expression's first group in a file (default.nix's
// `version = "1.2.3";`), with a prefix added when the value has none.
// Errors say what was looked for where; they do not name the input
// (internal/config does, Source.Input says which).
package version

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/blumeops/build-push-image/internal/repofile"
)

// Source is where the version comes from: an ARG of the Dockerfile, or a
// file of the context and the expression that finds the version in it.
// The zero Source reads nothing.
type Source struct {
	// Arg names an ARG of the Dockerfile: its default is the version.
	Arg string
	// File is a path relative to the context; Pattern's first group is the
	// version in it (nil: the whole file, trimmed).
	File    string
	Pattern *regexp.Regexp
	// Prefix is added to a value that does not start with it ("v": 1.2.3
	// is v1.2.3); empty keeps the value as written.
	Prefix string
	// Command prints the version (version-command) where the file or ARG
	// names none (missing, or no match); with CommandFirst it is run first,
	// and the file or ARG is read only where it prints nothing.
	Command      *Command // nil: none
	CommandFirst bool
}

// IsZero reports whether the Source reads nothing (no version-arg, no
// version-file, no version-command).
func (s Source) IsZero() bool { return s.Arg == "" && s.File == "" && s.Command == nil }

// Input is the input a Source's errors concern.
func (s Source) Input() string {
	switch {
	case s.Arg != "":
		return "version-arg"
	case s.File != "":
		return "version-file"
	}
	return "version-command"
}

// Path is the file the version is read from: the Dockerfile, or File in
// the context dir.
func (s Source) Path(dir, dockerfile string) string {
	if s.Arg != "" {
		return dockerfile
	}
	return filepath.Join(dir, s.File)
}

// Found is a version and where it was read: the file and its line
// (1-based), and the other lines of the file that matched with another
// value, which a notice names (a dependency's version further down).
type Found struct {
	Version string
	Path    string // for a command, the directory it ran in
	Line    int
	Others  []Match
	Command string // the version command that printed it, if one did
}

// Match is one line's match of a version-pattern.
type Match struct {
	Line  int
	Value string
}

// Where is the file and line the version was read from, as a log names
// it: default.nix:4.
func (f Found) Where() string {
	if f.Command != "" {
		return fmt.Sprintf("the output of `%s` in %s", f.Command, f.Path)
	}
	return fmt.Sprintf("%s:%d", f.Path, f.Line)
}

// Notice says, when other lines matched with other values, which line was
// used and which were not; "" when none did.
func (f Found) Notice() string {
	if len(f.Others) == 0 {
		return ""
	}
	others := make([]string, len(f.Others))
	for i, o := range f.Others {
		others[i] = fmt.Sprintf("line %d (%q)", o.Line, o.Value)
		if plausible(o.Value) != nil { // named, not quoted
			others[i] = fmt.Sprintf("line %d", o.Line)
		}
	}
	return fmt.Sprintf("version %s read from %s, the first match in the file; also matched, not used: %s (make version-pattern match only the image's own version line if that is not it)",
		f.Version, f.Where(), strings.Join(others, ", "))
}

// Read returns the version of the image built from dir with dockerfile,
// and where it was read. With a command, the order is: the file (or ARG),
// then the command where the file is missing or names no version; with
// CommandFirst, the command, then the file where the command printed
// nothing. A command that fails is an error, never passed over.
func (s Source) Read(dir, dockerfile string) (Found, error) {
	switch {
	case s.Command == nil:
		return s.finish(s.readFile(dir, dockerfile))
	case s.Arg == "" && s.File == "":
		return s.finish(s.runCommand(dir, dockerfile))
	}
	first, then := s.readFile, s.runCommand
	if s.CommandFirst {
		first, then = s.runCommand, s.readFile
	}
	f, err := first(dir, dockerfile)
	if errors.Is(err, ErrNoVersion) || (!s.CommandFirst && errors.Is(err, ErrMissing)) {
		f, err = then(dir, dockerfile)
	}
	return s.finish(f, err)
}

// runCommand is the version the command prints in dir, for the image
// named after dir.
func (s Source) runCommand(dir, _ string) (Found, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Found{}, err
	}
	return s.Command.Run(dir, abs)
}

// readFile is the version in the file or the Dockerfile's ARG.
func (s Source) readFile(dir, dockerfile string) (Found, error) {
	path := s.Path(dir, dockerfile)
	b, err := repofile.Read(repofile.Root(path, dir), path)
	if err != nil {
		return Found{}, s.readError(err)
	}
	if s.Arg != "" {
		return s.fromDockerfile(path, b)
	}
	return s.fromFile(path, b)
}

// finish holds what was read to what a version may be and adds the
// prefix.
func (s Source) finish(f Found, err error) (Found, error) {
	if err != nil {
		return Found{}, err
	}
	if err := plausible(f.Version); err != nil && f.Command != "" {
		return Found{}, &CommandError{Dir: f.Path, Command: f.Command, Err: fmt.Errorf("printed what is not a version: %w", err)}
	} else if err != nil {
		return Found{}, fmt.Errorf("%s: %w", f.Where(), err)
	}
	if !strings.HasPrefix(f.Version, s.Prefix) {
		f.Version = s.Prefix + f.Version
	}
	return f, nil
}

// readError says which file could not be read and, when it is missing
// (ErrMissing), how to fix that; repofile's errors say it for the other
// problems (a link out of the workspace, a FIFO, a file over 1 MiB).
func (s Source) readError(err error) error {
	what, fix := "", "check version-file (relative to the context)"
	if s.Arg != "" {
		what, fix = "the Dockerfile ", "check the path (is the repository checked out?)"
	}
	if errors.Is(err, fs.ErrNotExist) {
		return sourceErr(err, fmt.Errorf("cannot read %s%w; %s", what, err, fix))
	}
	return fmt.Errorf("%s%w", what, err)
}

// MaxLength is the longest value taken for a version: a tag's length.
const MaxLength = 128

// plausible refuses a value that cannot be a version before anything
// prints it: a file that is not what version-file says it is (the
// environment, a binary) is never echoed.
func plausible(v string) error {
	if len(v) > MaxLength {
		return fmt.Errorf("what was read is %d bytes long, not a version (at most %d); check that the file holds the version", len(v), MaxLength)
	}
	for _, r := range v {
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			return errors.New("what was read holds control characters or invalid text, not a version; check that the file holds the version")
		}
	}
	return nil
}

func (s Source) fromDockerfile(path string, b []byte) (Found, error) {
	v, line, err := fromArg(b, s.Arg)
	if err != nil {
		return Found{}, fmt.Errorf("%s: %w", path, err)
	}
	return Found{Version: v, Path: path, Line: line}, nil
}

func (s Source) fromFile(path string, b []byte) (Found, error) {
	if s.Pattern == nil {
		v := strings.TrimSpace(string(b))
		if v == "" || strings.ContainsAny(v, "\r\n") {
			return Found{}, &kindError{fmt.Errorf("%s holds no version on one line; give version-pattern to find it in the file", path), ErrNoVersion}
		}
		return Found{Version: v, Path: path, Line: lineOf(b, bytes.Index(b, []byte(v)))}, nil
	}
	f, ok := Find(b, s.Pattern)
	if !ok {
		return Found{}, &kindError{fmt.Errorf("version-pattern %s matches no version outside comments in %s; check the pattern against the file", s.Pattern, path), ErrNoVersion}
	}
	f.Path = path
	return f, nil
}

// Find returns the first match of pattern's first group in file order,
// outside comments, with the lines that matched with other values. A line
// whose first character other than a blank is # is a comment (nix, shell,
// YAML, TOML), and so is the rest of a line from a # that follows a blank
// outside quotes: code before it still matches.
func Find(file []byte, pattern *regexp.Regexp) (Found, bool) {
	var f Found
	for _, m := range pattern.FindAllSubmatchIndex(file, -1) {
		if m[2] < 0 || m[3] == m[2] || inComment(file, m[0]) {
			continue
		}
		v, line := string(file[m[2]:m[3]]), lineOf(file, m[0])
		switch {
		case f.Line == 0:
			f.Version, f.Line = v, line
		case v != f.Version:
			f.Others = append(f.Others, Match{Line: line, Value: v})
		}
	}
	return f, f.Line != 0
}

// inComment reports whether offset at of file is inside a # comment: a #
// at the start of its line (after blanks), or after a blank outside
// single or double quotes.
func inComment(file []byte, at int) bool {
	start := bytes.LastIndexByte(file[:at], '\n') + 1
	var quote byte
	for i := start; i < at; i++ {
		switch c := file[i]; {
		case quote != 0 && c == '\\':
			i++
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == start || file[i-1] == ' ' || file[i-1] == '\t'):
			return true
		}
	}
	return false
}

// lineOf is the 1-based line of offset at in file.
func lineOf(file []byte, at int) int { return bytes.Count(file[:at], []byte("\n")) + 1 }

// ParsePattern compiles a version-pattern: a regular expression (Go
// syntax) with at least one group, the version.
func ParsePattern(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("%q does not compile (%v); write a Go regular expression, e.g. version\\s*=\\s*\"([^\"]+)\"", expr, errors.Unwrap(err))
	}
	if re.NumSubexp() == 0 {
		return nil, fmt.Errorf("%q has no group; put the version in parentheses, e.g. version\\s*=\\s*\"([^\"]+)\"", expr)
	}
	return re, nil
}

// The ways a source names no version, which a caller may tell apart
// (errors.Is): the plan leaves such a directory out instead of failing.
var (
	// ErrMissing means the file the version is read from is not there.
	ErrMissing = errors.New("no such file")
	// ErrNoVersion means the file is there but names no version: the
	// pattern matches nothing, the file is empty, the ARG has no default.
	ErrNoVersion = errors.New("names no version")
	// ErrNoDefault means the Dockerfile holds no default for the ARG.
	ErrNoDefault error = &kindError{errors.New("no default"), ErrNoVersion}
)

// kindError is an error whose text is Err's and which is also Kind
// (errors.Is), so that a message keeps its wording and hint.
type kindError struct{ err, kind error }

func (e *kindError) Error() string        { return e.err.Error() }
func (e *kindError) Unwrap() error        { return e.err }
func (e *kindError) Is(target error) bool { return target == e.kind }

// sourceErr is msg, also ErrMissing when the read failed because the
// file does not exist.
func sourceErr(read, msg error) error {
	if errors.Is(read, fs.ErrNotExist) {
		return &kindError{msg, ErrMissing}
	}
	return msg
}

// FromArg returns the default of ARG name in a Dockerfile: the global one
// (before the first FROM), else the first stage's. A default may be quoted
// and may use ARGs declared before it, as BuildKit expands it.
func FromArg(dockerfile []byte, name string) (string, error) {
	v, _, err := fromArg(dockerfile, name)
	return v, err
}

// fromArg is FromArg with the line of the ARG that set the default.
func fromArg(dockerfile []byte, name string) (string, int, error) {
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return "", 0, fmt.Errorf("not a Dockerfile BuildKit can parse: %w", err)
	}
	lex := shell.NewLex(res.EscapeToken)
	env := map[string]string{} // the defaults so far, for expansion
	found, stages, line := false, 0, 0
	for _, n := range res.AST.Children {
		switch strings.ToLower(n.Value) {
		case "from": // the global scope ends, then the first stage
			if stages++; env[name] != "" || stages > 1 {
				v, err := result(env, name, found)
				return v, line, err
			}
		case "arg":
			declared, err := args(lex, n, env)
			if err != nil {
				return "", 0, err
			}
			valued, ok := declared[name]
			found = found || ok
			if valued {
				line = n.StartLine
			}
		}
	}
	v, err := result(env, name, found)
	return v, line, err
}

// result is the ARG's default once its scope has been read.
func result(env map[string]string, name string, declared bool) (string, error) {
	v, ok := env[name]
	switch {
	case !declared:
		return "", fmt.Errorf("no ARG %s before the first FROM or in the first stage: %w", name, ErrNoDefault)
	case !ok || v == "":
		return "", fmt.Errorf("ARG %s has no default: %w", name, ErrNoDefault)
	}
	return v, nil
}

// args reads one ARG instruction (ARG A=1 B="2 x" C) into env and says
// which names it declared, true for those it gave a value.
func args(lex *shell.Lex, n *parser.Node, env map[string]string) (map[string]bool, error) {
	declared := map[string]bool{}
	if n.Next == nil {
		return nil, fmt.Errorf("line %d: ARG without a name", n.StartLine)
	}
	for w := n.Next; w != nil; w = w.Next {
		key, raw, hasValue := strings.Cut(w.Value, "=")
		if !argName.MatchString(key) {
			return nil, fmt.Errorf("line %d: %q is not NAME or NAME=value", n.StartLine, w.Value)
		}
		declared[key] = hasValue
		if !hasValue {
			continue // keeps an earlier default, as a stage's ARG keeps the global one
		}
		v, _, err := lex.ProcessWord(raw, shell.EnvsFromSlice(environ(env)))
		if err != nil {
			return nil, fmt.Errorf("line %d: ARG %s: %w", n.StartLine, key, err)
		}
		env[key] = v
	}
	return declared, nil
}

var argName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func environ(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}
