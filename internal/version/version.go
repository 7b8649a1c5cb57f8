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
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
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
}

// IsZero reports whether the Source reads nothing (no version-arg, no
// version-file).
func (s Source) IsZero() bool { return s.Arg == "" && s.File == "" }

// Input is the input a Source's errors concern.
func (s Source) Input() string {
	if s.Arg != "" {
		return "version-arg"
	}
	return "version-file"
}

// Path is the file the version is read from: the Dockerfile, or File in
// the context dir.
func (s Source) Path(dir, dockerfile string) string {
	if s.Arg != "" {
		return dockerfile
	}
	return filepath.Join(dir, s.File)
}

// Read returns the version of the image built from dir with dockerfile.
func (s Source) Read(dir, dockerfile string) (string, error) {
	var v string
	var err error
	if s.Arg != "" {
		v, err = s.fromDockerfile(dockerfile)
	} else {
		v, err = s.fromFile(s.Path(dir, dockerfile))
	}
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(v, s.Prefix) {
		v = s.Prefix + v
	}
	return v, nil
}

func (s Source) fromDockerfile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read the Dockerfile %s; check the path (is the repository checked out?)", path)
	}
	v, err := FromArg(b, s.Arg)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

func (s Source) fromFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read %s; check version-file (relative to the context)", path)
	}
	if s.Pattern == nil {
		v := strings.TrimSpace(string(b))
		if v == "" || strings.ContainsAny(v, "\r\n") {
			return "", fmt.Errorf("%s holds no version on one line; give version-pattern to find it in the file", path)
		}
		return v, nil
	}
	m := s.Pattern.FindSubmatch(b)
	if m == nil || len(m[1]) == 0 {
		return "", fmt.Errorf("version-pattern %s matches no version in %s; check the pattern against the file", s.Pattern, path)
	}
	return string(m[1]), nil
}

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

// ErrNoDefault means the Dockerfile holds no default for the ARG.
var ErrNoDefault = errors.New("no default")

// FromArg returns the default of ARG name in a Dockerfile: the global one
// (before the first FROM), else the first stage's. A default may be quoted
// and may use ARGs declared before it, as BuildKit expands it.
func FromArg(dockerfile []byte, name string) (string, error) {
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return "", fmt.Errorf("not a Dockerfile BuildKit can parse: %w", err)
	}
	lex := shell.NewLex(res.EscapeToken)
	env := map[string]string{} // the defaults so far, for expansion
	found, stages := false, 0
	for _, n := range res.AST.Children {
		switch strings.ToLower(n.Value) {
		case "from": // the global scope ends, then the first stage
			if stages++; env[name] != "" || stages > 1 {
				return result(env, name, found)
			}
		case "arg":
			declared, err := args(lex, n, env)
			if err != nil {
				return "", err
			}
			found = found || declared[name]
		}
	}
	return result(env, name, found)
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
// which names it declared.
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
		declared[key] = true
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
