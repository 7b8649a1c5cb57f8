package main

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The image, version and sha inputs: where the image goes and its tags.

var (
	// imagePattern is a lowercase repository with an explicit registry host
	// (a name with a dot or a port, or localhost): there is no default
	// registry to fall back to.
	imagePattern = regexp.MustCompile(`^(localhost|[a-z0-9-]+(\.[a-z0-9-]+)+|[a-z0-9-]+(\.[a-z0-9-]+)*:[0-9]+)(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)+$`)
	tagPattern   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	shaPattern   = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
)

func validateImage(image string) error {
	const fix = "; use host[:port]/path, e.g. registry.example/team/app"
	switch {
	case image == "":
		return errors.New("required; set it to the repository to push to, e.g. registry.example/team/app")
	case strings.Contains(image, "://"):
		return fmt.Errorf("%q must not include a scheme; drop %q (registry-tls chooses http or https)", image, image[:strings.Index(image, "://")+3])
	case strings.Contains(image, "@"):
		return fmt.Errorf("%q must not include a digest%s", image, fix)
	case strings.Contains(image[strings.LastIndex(image, "/")+1:], ":"):
		return fmt.Errorf("%q must not include a tag: the tags come from the version and sha inputs%s", image, fix)
	case image != strings.ToLower(image):
		return fmt.Errorf("%q must be lowercase; use %q", image, strings.ToLower(image))
	case !imagePattern.MatchString(image):
		return fmt.Errorf("%q is not a valid repository%s", image, fix)
	}
	return nil
}

func validateTag(tag string) error {
	switch {
	case tag == "":
		return errors.New("required; set it to the tag to publish, e.g. v1.2.0")
	case strings.Contains(tag, "+"):
		return fmt.Errorf("%q contains '+', which tags cannot hold; use '-' instead (e.g. %s)", tag, strings.ReplaceAll(tag, "+", "-"))
	case len(tag) > 128:
		return fmt.Errorf("%d characters long; a tag has at most 128", len(tag))
	case !tagPattern.MatchString(tag):
		return fmt.Errorf("%q is not a valid tag; use letters, digits, '.', '_' and '-', not starting with '.' or '-'", tag)
	}
	return nil
}

func validateSHA(sha string) error {
	switch {
	case sha == "":
		return errors.New("required; set it to the commit SHA (the default, $GITHUB_SHA, is not set here)")
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
