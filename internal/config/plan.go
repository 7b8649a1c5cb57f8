package config

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/regclient/regclient/types/ref"

	"github.com/blumeops/build-push-image/internal/input"
	"github.com/blumeops/build-push-image/internal/version"
)

// Plan is everything the plan command needs (plan/action.yml's inputs):
// which directories hold images, how each is named and versioned, and how
// to ask the registry. Access, Source and TagSuffix are parsed as for the
// build.
type Plan struct {
	Access
	// Contexts are globs of image directories (containers/*), in order.
	Contexts []string
	// Exclude are globs of directories left out (contexts' !containers/lib
	// lines): a directory they match, or one inside it, is no image.
	Exclude []string
	// FailUnversioned (on-unversioned: fail) makes a directory that names
	// no version an error; else it is left out with a warning, since a
	// real tree holds directories that are no image (a shared lib/).
	FailUnversioned bool
	// Image is the repository of each, {name} standing for the directory's
	// name: registry.example/team/{name}.
	Image     string
	Source    version.Source
	TagSuffix string
	Debug     bool // RUNNER_DEBUG=1: regclient's debug log on stderr
	// Changed is how images changed since the event's base are found.
	Changed Changed
	// AdoptTags is the pattern of the old scheme's tags (adopt-tags),
	// {version} standing for the version: {version}-*-nix. Empty: none.
	AdoptTags string
}

// NamePlaceholder is what Plan.Image names a directory's name with.
const NamePlaceholder = "{name}"

// LoadPlan reads the plan command's inputs like Load.
func LoadPlan(inputs Inputs, args []string, env LookupEnv, usage io.Writer) (Plan, error) {
	raw, err := inputs.Read(args, env, usage)
	if err != nil {
		return Plan{}, err
	}
	return ParsePlan(raw, env.Getenv)
}

// ParsePlan turns the plan's raw inputs into a Plan, reporting every bad
// one at once, one line each naming the input.
func ParsePlan(raw map[string]string, getenv func(string) string) (Plan, error) {
	p := Plan{Image: raw["image"], TagSuffix: raw["tag-suffix"], Debug: runnerDebug(getenv)}
	var errs inputErrs
	p.Contexts, p.Exclude = parseGlobs(&errs, raw["contexts"])
	read(&errs, raw, "on-unversioned", &p.FailUnversioned, parseOnUnversioned)
	errs.add("image", validateImageTemplate(p.Image))
	p.Source = parseSource(&errs, raw, getenv)
	if p.Source.IsZero() {
		errs.add("version-arg", errors.New("or version-file is required: the plan reads each image's version from its sources; set version-arg to the Dockerfile ARG holding it, or version-file and version-pattern, or version-command"))
	}
	errs.add("tag-suffix", validateTagSuffix(p.TagSuffix, nil))
	p.Access = parseAccess(&errs, raw, false, true, getenv)
	p.Changed = parseChanged(&errs, raw, getenv)
	p.AdoptTags = raw["adopt-tags"]
	errs.add("adopt-tags", validateAdoptTags(p.AdoptTags))
	if err := errors.Join(errs...); err != nil {
		return Plan{}, err
	}
	return p, nil
}

// parseGlobs reads contexts: globs of directories, one per line (or
// space-separated), relative and inside the workspace (the files the plan
// reads are confined to it, internal/repofile); a glob after ! leaves the
// directories it matches out, as in .gitignore and upload-artifact's path.
func parseGlobs(errs *inputErrs, text string) (include, exclude []string) {
	includes := 0
	for _, g := range strings.Fields(text) {
		pattern, excluded := strings.CutPrefix(g, "!")
		if !excluded {
			includes++
		}
		if _, err := filepath.Match(pattern, ""); err != nil {
			errs.add("contexts", fmt.Errorf("%q is not a valid glob (%w); use *, ? and [...] as the shell does", g, err))
			continue
		}
		clean, err := cleanPath(pattern)
		if err == nil && filepath.IsAbs(clean) {
			err = fmt.Errorf("%q is absolute: the plan reads only the workspace; give a glob relative to it, e.g. containers/*", g)
		}
		errs.add("contexts", err)
		if excluded {
			exclude = append(exclude, clean)
		} else {
			include = append(include, pattern)
		}
	}
	if includes == 0 {
		errs.add("contexts", errors.New("required; set it to the directories that hold an image each, e.g. containers/* (and !containers/lib to leave one out)"))
	}
	return include, exclude
}

// parseOnUnversioned reads on-unversioned: skip (a directory that names
// no version is left out, with a warning) or fail.
func parseOnUnversioned(s string) (bool, error) {
	switch s {
	case "skip":
		return false, nil
	case "fail":
		return true, nil
	}
	return false, fmt.Errorf("%q is not skip or fail; skip leaves a directory without a version out of the matrix (with a warning), fail makes it an error", s)
}

// validateImageTemplate checks the image input of the plan: a repository
// once {name} is replaced by a directory's name.
func validateImageTemplate(image string) error {
	if image == "" {
		return errors.New("required; set it to the repository of each image, {name} standing for its directory's name, e.g. registry.example/team/{name}")
	}
	return validateImage(strings.ReplaceAll(image, NamePlaceholder, "name"))
}

// Registry is the host[:port] of the plan's images, as parseImage reads
// the image template (validated).
func (p Plan) Registry() string {
	r, _ := parseImage(strings.ReplaceAll(p.Image, NamePlaceholder, "name"))
	return r.Registry
}

// ImageOf is the repository of the image in the directory named name, as
// regclient reads it (its Reference is the name as the template spells
// it); the error (a name that makes no valid repository) names the input.
func (p Plan) ImageOf(name string) (ref.Ref, error) {
	image, err := parseImage(strings.ReplaceAll(p.Image, NamePlaceholder, name))
	if err != nil {
		return ref.Ref{}, input.New("image", fmt.Errorf("directory %q: %w", name, err), "")
	}
	return image, nil
}

// validateAdoptTags checks adopt-tags: tag characters, * and ?, and
// {version}, so that only the old tags of the same version match.
func validateAdoptTags(pattern string) error {
	if pattern == "" {
		return nil
	}
	if !strings.Contains(pattern, "{version}") {
		return fmt.Errorf("%q does not name {version}; write the old tags with {version} for the version, e.g. {version}-*-nix for v1.2.0-abc1234-nix", pattern)
	}
	if !adoptPattern.MatchString(strings.ReplaceAll(pattern, "{version}", "v1")) {
		return fmt.Errorf("%q is not a pattern of tags; use letters, digits, '.', '_', '-', * and ? with {version}, e.g. {version}-*-nix", pattern)
	}
	return nil
}

var adoptPattern = regexp.MustCompile(`^[A-Za-z0-9_.*?-]+$`)
