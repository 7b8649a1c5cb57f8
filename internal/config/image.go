package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/regclient/regclient/types/ref"

	"github.com/blumeops/build-push-image/internal/tags"
)

// The image, version and sha inputs: where the image goes and its tags.

// maxTag is the longest tag the OCI distribution spec allows.
const maxTag = 128

var (
	tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	shaPattern = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
)

// parseImage reads a repository with regclient's reference parser, the
// one place the host of an image is computed (the reference's Registry:
// Docker Hub's aliases are docker.io, localhost:port stays as it is), and
// asks for an explicit registry host: there is no default registry to
// fall back to (team/app would silently mean Docker Hub). The reference
// is returned whenever regclient reads one, with the error too.
func parseImage(image string) (ref.Ref, error) {
	const fix = "; use host[:port]/path, e.g. registry.example/team/app"
	switch {
	case image == "":
		return ref.Ref{}, errors.New("required; set it to the repository to push to, e.g. registry.example/team/app")
	case strings.Contains(image, "://"):
		return ref.Ref{}, fmt.Errorf("%q must not include a scheme; drop %q (registry-tls chooses http or https)", image, image[:strings.Index(image, "://")+3])
	}
	r, err := ref.New(image)
	host, path, _ := strings.Cut(image, "/") // as written: a host spelled, not Docker Hub by default
	switch {
	case image != strings.ToLower(image):
		err = fmt.Errorf("%q must be lowercase; use %q", image, strings.ToLower(image))
	case err != nil:
		err = fmt.Errorf("%q is not a valid repository%s", image, fix)
	case r.Digest != "":
		err = fmt.Errorf("%q must not include a digest%s", image, fix)
	case strings.HasSuffix(image, ":"+r.Tag):
		err = fmt.Errorf("%q must not include a tag: the tags come from the version and sha inputs%s", image, fix)
	case path == "":
		err = fmt.Errorf("%q is not a valid repository: it has no path after the host%s", image, fix)
	case !isHost(host):
		err = fmt.Errorf("%q is not a valid repository: it names no registry host; put the registry first, e.g. registry.example/%s (Docker Hub: docker.io/%s)", image, image, image)
	}
	return r, err
}

// validateImage is parseImage's verdict alone.
func validateImage(image string) error {
	_, err := parseImage(image)
	return err
}

// isHost tells a registry host from a path component the way Docker
// does: it holds a dot or a port, is an [IPv6] literal, or is localhost.
func isHost(s string) bool {
	return strings.ContainsAny(s, ".:[") || s == "localhost"
}

func validateTag(tag string) error {
	switch {
	case tag == "":
		return errors.New("required; set it to the tag to publish, e.g. v1.2.0, or read it from the sources with version-arg, version-file or version-command")
	case strings.Contains(tag, "+"):
		return fmt.Errorf("%q contains '+', which tags cannot hold; use '_' instead, which keeps it build metadata (e.g. %s)", tag, strings.ReplaceAll(tag, "+", "_"))
	case len(tag) > maxTag:
		return fmt.Errorf("%d characters long; a tag has at most %d", len(tag), maxTag)
	case !tagPattern.MatchString(tag):
		return fmt.Errorf("%q is not a valid tag; use letters, digits, '.', '_' and '-', not starting with '.' or '-'", tag)
	}
	return nil
}

func validateSHA(sha string) error {
	switch {
	case sha == "":
		return errors.New("required; set it to the commit SHA (the default, $GITHUB_SHA, is not set here, and the context is no git checkout)")
	case !shaPattern.MatchString(sha):
		return fmt.Errorf("%q is not a full commit SHA; use the 40 (or 64) lowercase hex digits of `git rev-parse HEAD`", sha)
	}
	return nil
}

// parseSHALength reads sha-length; empty is the whole SHA (shaLen).
func parseSHALength(length string, shaLen int) (int, error) {
	if length == "" {
		return shaLen, nil
	}
	n, err := strconv.Atoi(length)
	if err != nil || n < 7 || n > 40 {
		return 0, fmt.Errorf("%q must be a number from 7 to 40", length)
	}
	return n, nil
}

// repositories is the image input read: each line as it is spelled (the
// outputs and messages say it so), and as regclient reads it.
type repositories struct {
	names []string
	refs  []ref.Ref
}

// parseImages reads the image input: one repository per line, each pushed
// the same image with the same tags.
func parseImages(text string) (repositories, error) {
	lines := strings.Fields(text)
	if len(lines) <= 1 {
		r, err := parseImage(firstNonEmpty(append(lines, "")...))
		return repositories{lines, []ref.Ref{r}[:len(lines)]}, err
	}
	out := repositories{names: lines}
	var errs []error
	for i, image := range lines {
		r, err := parseImage(image)
		out.refs = append(out.refs, r)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("line %d: %w", i+1, err))
		case slices.Contains(lines[:i], image):
			errs = append(errs, fmt.Errorf("line %d: %q is listed twice; list each repository once", i+1, image))
		}
	}
	return out, errors.Join(errs...)
}

// extraTag parses one line of the tags input.
func extraTag(version string) func(string) (string, error) {
	return func(tag string) (string, error) {
		if tag == version {
			return "", fmt.Errorf("%q is the version tag; list only extra tags", tag)
		}
		return tag, validateTag(tag)
	}
}

// validateSemverTags: semver-tags needs a version with a major and minor.
func validateSemverTags(on bool, version string) error {
	if !on || validateTag(version) != nil {
		return nil
	}
	if _, err := tags.Moving(version); err != nil {
		return fmt.Errorf("%w; set semver-tags: false, or use a version like v1.2.3", err)
	}
	return nil
}

// Follow is the tags that follow releases: the moving tags of the version
// (v1, v1.2) when semver-tags is on, then the extra tags, each with the tag
// suffix, except latest unless TagSuffixOnLatest (metadata-action's
// onlatest): variants side by side share latest.
func (c Config) Follow() []string {
	var out []string
	if c.SemverTags {
		out, _ = tags.Moving(c.Version) // validated
	}
	for _, t := range c.Tags {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	for i := range out {
		if out[i] != "latest" || c.TagSuffixOnLatest {
			out[i] += c.TagSuffix
		}
	}
	return out
}

// shaPrefix is the SHA tag without the suffix, as far as sha and
// sha-length are valid (for the length check of the suffix).
func (c Config) shaPrefix() string {
	if c.SHALength > 0 && c.SHALength < len(c.SHA) {
		return c.SHA[:c.SHALength]
	}
	return c.SHA
}

var suffixPattern = regexp.MustCompile(`^[A-Za-z0-9._-]*$`)

// validateTagSuffix checks tag-suffix: tag characters only, and the
// longest of the (valid) tags it is appended to stays a tag, 128
// characters at most. One line, however many tags it makes too long.
func validateTagSuffix(suffix string, tags []string) error {
	if !suffixPattern.MatchString(suffix) {
		return fmt.Errorf("%q cannot be part of a tag; use letters, digits, '.', '_' and '-', e.g. -nix", suffix)
	}
	longest := ""
	for _, t := range tags {
		if len(t) > len(longest) && validateTag(t) == nil {
			longest = t
		}
	}
	if n := len(longest) + len(suffix); n > maxTag {
		return fmt.Errorf("%q makes the tag %s%s %d characters long; a tag has at most %d: shorten the suffix", suffix, longest, suffix, n, maxTag)
	}
	return nil
}
