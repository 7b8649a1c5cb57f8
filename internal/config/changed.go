package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/blumeops/build-push-image/internal/procenv"
)

// Changed is how the plan finds the images that changed since the base
// commit of the event (inputs changed and shared-paths): in a pull
// request they are checked even when their version is published; on a
// push such an image is reported (a change without a version bump).
type Changed struct {
	// Mode is changed: auto looks when the base commit is in the checkout
	// (else says why not, once), on makes a missing base an error, off
	// never looks.
	Mode ChangedMode
	// PullRequest is the event a pull request's (the changed images join
	// the matrix); else a push's (they are reported).
	PullRequest bool
	// Base is the commit compared with: pull_request.base.sha or the
	// push's before, from $GITHUB_EVENT_PATH; "" when the event names none,
	// and NoBase says why.
	Base, NoBase string
	// Shared are files or globs (flake.lock) whose change changes every
	// image, relative to the working directory.
	Shared []string
	// GitEnv is git's environment: procenv's allow list and git's own
	// variables, no input, no secret.
	GitEnv []string
}

// ChangedMode is the changed input.
type ChangedMode int

const (
	// ChangedAuto looks for changed images when the base is in the checkout.
	ChangedAuto ChangedMode = iota
	// ChangedOn makes a base that cannot be compared with an error.
	ChangedOn
	// ChangedOff never looks.
	ChangedOff
)

// maxEvent is the largest event file read: a push of many commits is a
// few hundred KiB.
const maxEvent = 16 << 20

// parseChanged reads changed and shared-paths, and the base commit from
// the event the runner describes ($GITHUB_EVENT_NAME, $GITHUB_EVENT_PATH).
func parseChanged(errs *inputErrs, raw map[string]string, getenv func(string) string) Changed {
	var c Changed
	switch raw["changed"] {
	case "auto":
	case "true":
		c.Mode = ChangedOn
	case "false":
		c.Mode = ChangedOff
	default:
		errs.add("changed", fmt.Errorf("%q is not auto, true or false; auto looks for images changed since the event's base commit when it is in the checkout, true requires it (fetch-depth: 0), false never looks", raw["changed"]))
	}
	for _, s := range strings.Fields(raw["shared-paths"]) {
		clean, err := cleanPath(s)
		if err == nil && filepath.IsAbs(clean) {
			err = fmt.Errorf("%q is absolute; give a path relative to the working directory, e.g. flake.lock", s)
		}
		if _, merr := filepath.Match(clean, ""); err == nil && merr != nil {
			err = fmt.Errorf("%q is not a valid glob (%w)", s, merr)
		}
		errs.add("shared-paths", err)
		c.Shared = append(c.Shared, clean)
	}
	c.PullRequest, c.Base, c.NoBase = eventBase(getenv)
	c.GitEnv = procenv.Environ(getenv, procenv.WithVars(gitVars...), procenv.WithoutValues(rawSecrets(raw)...))
	return c
}

// eventBase is the base commit of the runner's event: a pull request's
// base.sha, a push's before (all zeros for a new branch: none). Without
// one, why says why.
func eventBase(getenv func(string) string) (pullRequest bool, base, why string) {
	name, path := getenv("GITHUB_EVENT_NAME"), getenv("GITHUB_EVENT_PATH")
	pullRequest = strings.HasPrefix(name, "pull_request")
	switch {
	case name == "":
		return false, "", "no event ($GITHUB_EVENT_NAME is not set: a run by hand)"
	case name != "push" && !pullRequest:
		return false, "", fmt.Sprintf("the event is %s, not a push or a pull request", name)
	}
	var event struct {
		Before      string `json:"before"`
		PullRequest struct {
			Base struct {
				SHA string `json:"sha"`
			} `json:"base"`
		} `json:"pull_request"`
	}
	if err := readEvent(path, &event); err != nil {
		return pullRequest, "", fmt.Sprintf("the event file $GITHUB_EVENT_PATH cannot be read (%v)", err)
	}
	base, field := event.Before, "before"
	if pullRequest {
		base, field = event.PullRequest.Base.SHA, "pull_request.base.sha"
	}
	switch {
	case base == "":
		return pullRequest, "", fmt.Sprintf("the %s event names no base commit (no %s)", name, field)
	case strings.Trim(base, "0") == "":
		return pullRequest, "", fmt.Sprintf("the %s event names no base commit (%s is zero: a new branch)", name, field)
	}
	if !shaPattern.MatchString(base) {
		return pullRequest, "", fmt.Sprintf("the %s event's %s %q is not a commit", name, field, base)
	}
	return pullRequest, base, ""
}

func readEvent(path string, event any) error {
	if path == "" {
		return errors.New("not set")
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err == nil && st.Size() > maxEvent {
		err = fmt.Errorf("%d bytes, more than %d", st.Size(), maxEvent)
	}
	if err == nil {
		err = json.NewDecoder(f).Decode(event)
	}
	return err
}
