package plan

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/ref"
	"golang.org/x/sync/errgroup"

	"github.com/blumeops/build-push-image/internal/guard"
	"github.com/blumeops/build-push-image/internal/tags"
)

// Repo is what adopting an old tag needs of a repository (internal/push's
// Registry): its tags, what a tag names, and a tag write by digest.
type Repo interface {
	guard.Resolver
	Tags(ctx context.Context) ([]string, error)
	Tag(ctx context.Context, d digest.Digest, tag string) error
}

// RepoOf is the Repo of a repository.
type RepoOf func(repository ref.Ref) (Repo, error)

// Repo is the client of repository, as a Repo.
func (r *Registries) Repo(repository ref.Ref) (Repo, error) { return r.client(repository) }

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
	return fmt.Sprintf("%s: the old tags of %s name %d images (%s), and none names a commit of the checkout's history: not adopted, built instead; check out the history (fetch-depth: 0) for the plan to take the newest commit's, or write the version tag to the right one by hand",
		e.Image, e.Version, len(e.Tags), strings.Join(parts, "; "))
}

// Adopt looks, for each image whose version tag is not published, for
// tags of the old scheme matching pattern ({version} standing for the
// version, e.g. {version}-*-nix for v1.2.0-abc1234-nix). When they all
// name one image, or (WithHistory) one of them names the newest commit of
// the checkout's history that any of them names, the image is adoptable
// (Adopt names that tag) and, WithWrite, adopted: its version tag is
// written to that digest under the guard (only while the tag is free;
// re-read after), nothing built or uploaded. The images whose old tags
// name several images that the history cannot order are returned in
// ambiguous, left to build. The first other failure stops the others.
func Adopt(ctx context.Context, res Result, pattern string, repoOf RepoOf, opts ...AdoptOpt) (ambiguous []error, err error) {
	o := adoptOptions{history: func(context.Context) ([]string, error) { return nil, nil }}
	for _, opt := range opts {
		opt(&o)
	}
	o.history = onceHistory(o.history)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(Concurrency)
	found := make([]error, len(res))
	for i := range res {
		s := &res[i]
		if s.Published || s.Skipped != "" {
			continue
		}
		g.Go(func() error {
			repo, err := repoOf(s.Image.Ref)
			if err != nil {
				return err
			}
			from, d, err := oldTag(ctx, repo, s, pattern, o.history)
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
			if !o.write {
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

// oldTag is the tag of repo matching pattern for the image's version
// that the image is adopted from, and its digest; "" when none matches.
// Tags naming different images are decided by history (newest), else
// they are an *AmbiguousError.
func oldTag(ctx context.Context, repo Repo, s *Status, pattern string, history History) (string, digest.Digest, error) {
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
	if len(byDigest) <= 1 {
		return first, d, nil
	}
	s.OutOf = len(byDigest)
	commits, _ := history(ctx) // no history: the images cannot be told apart
	if t, d, ok := newest(commits, match, byDigest); ok {
		return t, d, nil
	}
	return "", "", &AmbiguousError{Image: s.Image.Image, Version: s.Version, Tags: byDigest}
}

// newest is the tag whose commit (a part * matched that is a commit's
// hash, or its start) comes first in commits, HEAD's history newest first:
// the last build of the version, and the digest it names. false when no
// tag names one of them.
func newest(commits []string, match *regexp.Regexp, byDigest map[digest.Digest][]string) (string, digest.Digest, bool) {
	best, bestDigest, at := "", digest.Digest(""), len(commits)
	for d, tags := range byDigest {
		for _, t := range tags {
			for _, part := range match.FindStringSubmatch(t)[1:] {
				if !commitPrefix.MatchString(part) {
					continue
				}
				if i := slices.IndexFunc(commits, func(c string) bool { return strings.HasPrefix(c, part) }); i >= 0 && (i < at || i == at && t < best) {
					best, bestDigest, at = t, d, i
				}
			}
		}
	}
	return best, bestDigest, best != ""
}

// commitPrefix is what may abbreviate a commit in a tag: git's shortest
// (7) to a whole SHA-256 one.
var commitPrefix = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

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
			case '*': // a group: newest reads the commit from it
				re.WriteString(`([A-Za-z0-9_.]*)`)
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
// as the build's transaction writes a version tag (tags.Writer's Commit,
// with nothing before or after it): the guard first (the tag must still
// be free; one that names another image now is its *guard.ExistsError),
// the write, a refusal re-checked against what the tag names, the settle
// pause and the guard's re-read.
func adopt(ctx context.Context, repo Repo, s *Status) error {
	g := guard.New(repo, s.Image.Image)
	done, err := tags.New(repo, g).Commit(ctx, tags.Plan{Digest: s.Digest, Version: s.Tag})
	var exists *guard.ExistsError
	if errors.As(err, &exists) || errors.Is(err, guard.ErrLostRace) {
		return err // the guard's line names the tag and the image already
	}
	for _, t := range done {
		err = errors.Join(err, t.Err) // a version tag written but not read back
	}
	if err != nil {
		return fmt.Errorf("adopt %s as %s:%s: %w", s.Adopt, s.Image.Image, s.Tag, err)
	}
	return nil
}

// History is the commits of the checkout's HEAD, newest first (git
// rev-list HEAD): which of a version's old tags is the newest build.
type History func(ctx context.Context) ([]string, error)

// GitHistory is the History of the checkout in the working directory,
// git run with env.
func GitHistory(env []string) History {
	return func(ctx context.Context) ([]string, error) {
		out, err := git(ctx, env, "rev-list", "HEAD")
		return strings.Fields(out), err
	}
}

// onceHistory asks h once, however many images need it.
func onceHistory(h History) History {
	var once sync.Once
	var commits []string
	var err error
	return func(ctx context.Context) ([]string, error) {
		once.Do(func() { commits, err = h(ctx) })
		return commits, err
	}
}

type adoptOptions struct {
	write   bool
	history History
}

// AdoptOpt configures Adopt.
type AdoptOpt func(*adoptOptions)

// WithWrite makes Adopt write the version tags (the plan has the key);
// without it the images are only found.
func WithWrite() AdoptOpt { return func(o *adoptOptions) { o.write = true } }

// WithHistory lets Adopt take, of old tags naming several images, the one
// of the newest commit in h.
func WithHistory(h History) AdoptOpt { return func(o *adoptOptions) { o.history = h } }
