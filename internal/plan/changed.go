package plan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/blumeops/build-push-image/internal/config"
)

// ErrNoBase means the changed images could not be looked for: the event
// names no base commit, or the checkout does not hold it (a shallow
// clone), or git is missing. Under changed: auto it is said once, not a
// failure.
var ErrNoBase = errors.New("changed images not looked for")

// gitTimeout bounds each git command: a diff of a local repository.
const gitTimeout = time.Minute

// Changes is what changed since the base commit: the files (relative to
// the top of the checkout) and where that top is.
type Changes struct {
	Base  string
	top   string
	files []string
}

// Diff runs git in the working directory: the files changed between the
// base and HEAD (git diff --name-only base...HEAD: since their merge
// base, so a pull request's own changes only). A base that is not in the
// checkout is an ErrNoBase naming the fix (fetch-depth: 0).
func Diff(ctx context.Context, c config.Changed) (*Changes, error) {
	if c.Base == "" {
		return nil, fmt.Errorf("%w: %s", ErrNoBase, c.NoBase)
	}
	top, err := git(ctx, c.GitEnv, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, fmt.Errorf("%w: the working directory is no git checkout (%v)", ErrNoBase, err)
	}
	if _, err := git(ctx, c.GitEnv, "cat-file", "-e", c.Base+"^{commit}"); err != nil {
		return nil, fmt.Errorf("%w: the base commit %s is not in the checkout; check out the history with actions/checkout's fetch-depth: 0 (or set changed: false)", ErrNoBase, c.Base)
	}
	out, err := git(ctx, c.GitEnv, "diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", c.Base+"...HEAD")
	if err != nil {
		return nil, fmt.Errorf("%w: git diff %s...HEAD: %v; check out the history with fetch-depth: 0", ErrNoBase, c.Base, err)
	}
	ch := &Changes{Base: c.Base, top: strings.TrimSpace(top)}
	for _, f := range strings.Split(out, "\x00") {
		if f != "" {
			ch.files = append(ch.files, f)
		}
	}
	return ch, nil
}

// git runs git with args in the working directory and returns its output;
// an error carries the last line git wrote on stderr.
func git(ctx context.Context, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, gitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = append([]string{}, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		return "", fmt.Errorf("%w: %s", err, lines[len(lines)-1])
	}
	return string(out), nil
}

// Touches reports whether a changed file is path (a file or directory,
// relative to the working directory) or inside it, or matches it as a
// glob.
func (c *Changes) Touches(path string) bool {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	if real, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil { // the top is git's real path
		abs = filepath.Join(real, filepath.Base(abs))
	}
	rel, err := filepath.Rel(c.top, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return false
	}
	rel = filepath.ToSlash(rel)
	for _, f := range c.files {
		if ok, _ := filepath.Match(rel, f); ok || f == rel || rel == "." || strings.HasPrefix(f, rel+"/") {
			return true
		}
	}
	return false
}

// MarkChanged sets Changed on every image (not a skipped directory) whose
// directory, or one of shared, changed.
func MarkChanged(res Result, ch *Changes, shared []string) {
	all := false
	for _, s := range shared {
		all = all || ch.Touches(s)
	}
	for i := range res {
		if res[i].Skipped == "" && (all || ch.Touches(res[i].Context)) {
			res[i].Changed = true
		}
	}
}
