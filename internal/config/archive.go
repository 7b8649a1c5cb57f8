package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/regclient/regclient/types/ref"

	"github.com/blumeops/build-push-image/internal/input"
)

// The archive inputs: a pre-built image to push instead of a build.

// buildOnly are the inputs only a build reads, besides every buildkit-*
// and buildkitd-* input. With archive nothing is built, so each of them given (set to
// something other than its default) is refused: it would be silently
// ignored otherwise.
var buildOnly = []string{
	"context", "file", "target", "build-args", "labels", "secrets", "cache-from", "cache-to",
	"build-contexts", "no-cache", "pull", "ssh", "network", "add-hosts", "shm-size", "ulimit", "output",
	"attestations-as-referrers", "provenance", "sbom", "push-via", "force-compression", "version-arg",
}

// archiveOnly are the inputs that choose or feed what archive pushes.
var archiveOnly = []string{"archive-image", "reuse-from", "archive-idle-timeout"}

// checkArchiveInputs refuses, in one line, the build inputs given with
// archive, and the archive inputs given without it. Given means not the
// default: under a runner an input left out arrives as its default.
func (inputs Inputs) checkArchiveInputs(raw map[string]string, origin Origin) error {
	var given []string
	for _, in := range inputs {
		if raw[in.Name] == in.Default {
			continue
		}
		switch build := (slices.Contains(buildOnly, in.Name) || strings.HasPrefix(in.Name, "buildkit")) && !versionContext(in.Name, raw); {
		case origin.IsArchive() && build:
			given = append(given, in.Name)
		case !origin.IsArchive() && slices.Contains(archiveOnly, in.Name):
			return input.New(in.Name, errors.New("only used with archive (it says which image of the archive to push, how long its writer may be silent, and from which tags layers may be reused)"), "set archive to the image's path, or remove "+in.Name)
		}
	}
	if len(given) == 0 {
		return nil
	}
	return input.New("archive", fmt.Errorf("%s %s for building an image, and archive pushes one already built", strings.Join(given, ", "), agree(len(given), "is", "are")),
		fmt.Sprintf("remove %s, or remove archive to build", agree(len(given), "it", "them")))
}

// versionContext says whether name is context read as the directory
// version-file is in (or version-command runs in): with archive nothing
// is built, but the version is still read from the image's sources (a
// plan row's context).
func versionContext(name string, raw map[string]string) bool {
	return name == "context" && (raw["version-file"] != "" || strings.TrimSpace(raw["version-command"]) != "")
}

// agree picks the word that agrees with how many inputs the line names.
func agree(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// parseArchiveImage reads archive-image: one name:tag as docker save
// wrote it, or a platform (os/arch[/variant]) of an index.
func parseArchiveImage(s string) (string, error) {
	if strings.ContainsAny(s, " \t\r\n") {
		return "", errors.New("one image: a name:tag as docker save wrote it (e.g. app:latest), or a platform (e.g. linux/amd64)")
	}
	return s, nil
}

// maxIdle is the longest archive-idle-timeout: a day is a program that
// never ends.
const maxIdle = 24 * time.Hour

// parseIdle reads archive-idle-timeout: a Go duration, at least a second.
func parseIdle(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < time.Second || d > maxIdle {
		return 0, fmt.Errorf("%q must be a duration from 1s to %s, e.g. 2m or 90s: how long the program writing the image, or standard input, may send nothing", s, maxIdle)
	}
	return d, nil
}

// Reuse is one line of reuse-from, read: a tag of the image's own
// repositories (Own), or another repository of its registry (Repo, as
// regclient reads it) with a tag, or without one (Tag "") for its newest
// releases.
type Reuse struct {
	Line string
	Own  bool
	Repo ref.Ref
	Tag  string
}

// reuseFrom reads one line of reuse-from: a tag of the image's
// repository, or another repository of its registry (host/path, e.g. the
// plan's other images or a base), with a tag, or without one for its
// newest releases. Layers are mounted from there, so it must be on the
// image's registry. A repository of images (named in full, as a list of
// a plan's images names them) is the image's own.
func reuseFrom(images []ref.Ref) func(string) (Reuse, error) {
	image := ref.Ref{}
	if len(images) > 0 {
		image = images[0]
	}
	return func(line string) (Reuse, error) {
		repo, tag := splitReuse(line)
		if repo == "" {
			return Reuse{Line: line, Own: true, Tag: tag}, validateTag(tag)
		}
		r, err := parseImage(repo)
		if err != nil {
			return Reuse{}, err
		}
		if r.Registry != image.Registry {
			return Reuse{}, fmt.Errorf("%q is not on %s, the image's registry; a layer is mounted from another repository of the same registry only", line, image.Registry)
		}
		own := slices.ContainsFunc(images, func(i ref.Ref) bool { return ref.EqualRepository(i, r) })
		out := Reuse{Line: line, Own: own, Repo: r, Tag: tag}
		if tag != "" {
			return out, validateTag(tag)
		}
		return out, nil
	}
}

// splitReuse splits a line of reuse-from into a repository ("" for a tag
// of the image's own) and a tag ("" for a repository's newest releases).
func splitReuse(line string) (repository, tag string) {
	if !strings.Contains(line, "/") {
		return "", line
	}
	slash := strings.LastIndex(line, "/")
	if colon := strings.LastIndex(line, ":"); colon > slash {
		return line[:colon], line[colon+1:]
	}
	return line, ""
}
