package plan

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/blumeops/build-push-image/internal/guard"
)

// Repo is what adopting an old tag needs of a repository (internal/push's
// Registry): its tags, what a tag names, and a tag write by digest.
type Repo interface {
	guard.Resolver
	Tags(ctx context.Context) ([]string, error)
	Tag(ctx context.Context, d digest.Digest, tag string) error
}

// RepoOf is the Repo of a repository.
type RepoOf func(repository string) (Repo, error)

// Repo is the client of repository, as a Repo.
func (r *Registries) Repo(repository string) (Repo, error) { return r.client(repository) }

// VersionPlaceholder is what an adopt-tags pattern names the version with.
const VersionPlaceholder = "{version}"

// AmbiguousError is a version whose old tags name more than one image:
// which one the version is cannot be told, so none is adopted.
type AmbiguousError struct {
	Image, Version string
	Tags           map[digest.Digest][]string
}

func (e *AmbiguousError) Error() string {
	var parts []string
	for _, d := range slices.Sorted(maps.Keys(e.Tags)) {
		parts = append(parts, fmt.Sprintf("%s → %s", strings.Join(e.Tags[d], " "), d))
	}
	return fmt.Sprintf("%s: the old tags of %s name %d images (%s): not adopted, built instead; write the version tag to the right one by hand, or remove the others",
		e.Image, e.Version, len(e.Tags), strings.Join(parts, "; "))
}

// Adopt looks, for each image whose version tag is not published, for
// tags of the old scheme matching pattern ({version} standing for the
// version, e.g. {version}-*-nix for v1.2.0-abc1234-nix). When they all
// name one image, the image is adoptable (Adopt names the first such
// tag) and, with write, adopted: its version tag is written to that
// digest under the guard (only while the tag is free; re-read after),
// nothing built or uploaded. The images whose old tags name several
// images are returned in ambiguous, left to build. The first other
// failure stops the others.
func Adopt(ctx context.Context, res Result, pattern string, repoOf RepoOf, write bool) (ambiguous []error, err error) {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(Concurrency)
	found := make([]error, len(res))
	for i := range res {
		s := &res[i]
		if s.Published || s.Skipped != "" {
			continue
		}
		g.Go(func() error {
			repo, err := repoOf(s.Image.Image)
			if err != nil {
				return err
			}
			from, d, err := oldTag(ctx, repo, s, pattern)
			var ae *AmbiguousError
			switch {
			case errors.As(err, &ae):
				found[i] = err
				return nil
			case err != nil:
				return err
			case from == "":
				return nil
			}
			s.Adopt, s.Digest = from, d
			if !write {
				return nil
			}
			if err := adopt(ctx, repo, s); err != nil {
				return err
			}
			s.Adopted, s.Published = true, true
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(found, func(e error) bool { return e == nil }), nil
}

// oldTag is the first tag of repo matching pattern for the image's
// version, and the digest every match names; "" when none matches. Tags
// naming different images are an *AmbiguousError.
func oldTag(ctx context.Context, repo Repo, s *Status, pattern string) (string, digest.Digest, error) {
	tags, err := repo.Tags(ctx)
	if err != nil {
		return "", "", &LookupError{Image: s.Image.Image, Tag: "(list of tags)", Err: err}
	}
	match := adoptMatcher(pattern, s.Version)
	byDigest := map[digest.Digest][]string{}
	var first string
	var d digest.Digest
	for _, t := range tags {
		if !match.MatchString(t) || t == s.Tag {
			continue
		}
		td, ok, err := repo.Lookup(ctx, t)
		if err != nil {
			return "", "", &LookupError{Image: s.Image.Image, Tag: t, Err: err}
		}
		if ok {
			byDigest[td] = append(byDigest[td], t)
			if first == "" {
				first, d = t, td
			}
		}
	}
	if len(byDigest) > 1 {
		return "", "", &AmbiguousError{Image: s.Image.Image, Version: s.Version, Tags: byDigest}
	}
	return first, d, nil
}

// adoptMatcher matches the tags pattern names for version: {version} is
// the version, * any run of tag characters but '-', ? one of them. A * that
// cannot cross a '-' keeps another version's tags out: {version}-*-nix
// for v1.0.0 matches v1.0.0-abc1234-nix, not v1.0.0-rc1-abc1234-nix.
func adoptMatcher(pattern, version string) *regexp.Regexp {
	var re strings.Builder
	re.WriteString("^")
	for i, part := range strings.Split(pattern, VersionPlaceholder) {
		if i > 0 {
			re.WriteString(regexp.QuoteMeta(version))
		}
		for _, r := range part {
			switch r {
			case '*':
				re.WriteString(`[A-Za-z0-9_.]*`)
			case '?':
				re.WriteString(`[A-Za-z0-9_.]`)
			default:
				re.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String())
}

// adopt writes the image's version tag to the digest its old tag names,
// as the build's transaction writes a version tag: the guard first (the
// tag must still be free; one that names another image now is its
// *guard.ExistsError), the write, the guard's re-read.
func adopt(ctx context.Context, repo Repo, s *Status) error {
	g := guard.New(repo, s.Image.Image)
	if _, err := g.CheckVersion(ctx, s.Tag, guard.Image{Digest: s.Digest}); err != nil {
		return err
	}
	if err := repo.Tag(ctx, s.Digest, s.Tag); err != nil {
		return fmt.Errorf("adopt %s as %s:%s: %w", s.Adopt, s.Image.Image, s.Tag, err)
	}
	return g.VerifyVersion(ctx, s.Tag, s.Digest)
}

// Adoptable are the images with an old tag of their version: adopted by
// this run, or to be adopted by a run with the key.
func (r Result) Adoptable() []Status {
	out := []Status{}
	for _, s := range r {
		if s.Adopt != "" {
			out = append(out, s)
		}
	}
	return out
}
