// Package guard decides whether tags may be written. A version tag is
// immutable: once it names an image, no later build may move it. The guard
// asks the registry what a tag points at (through a Resolver) and answers
// with a decision or a typed error; it never writes anything itself.
package guard

import (
	"context"
	"errors"
	"fmt"

	digest "github.com/opencontainers/go-digest"
)

var (
	// ErrVersionExists means the version tag already names an image.
	ErrVersionExists = errors.New("version tag already exists")
	// ErrLostRace means another job moved the version tag after we wrote it.
	ErrLostRace = errors.New("lost a race for the version tag")
)

// Resolver reports the digest a tag points at, and false when the tag does
// not exist. It must not list tags: a repository may hold millions.
type Resolver interface {
	Lookup(ctx context.Context, tag string) (digest.Digest, bool, error)
}

// ExistsError is returned when the version tag already names an image.
// errors.Is(err, ErrVersionExists) holds for it.
type ExistsError struct {
	Image  string
	Tag    string
	Digest digest.Digest
}

func (e *ExistsError) Error() string {
	return fmt.Sprintf("version tag %s already exists in %s (%s); version tags are immutable: bump the version",
		e.Tag, e.Image, e.Digest)
}

// Is makes errors.Is(err, ErrVersionExists) true.
func (e *ExistsError) Is(target error) bool { return target == ErrVersionExists }

// Policy says what to do when the version tag already exists.
type Policy int

const (
	// Fail fails, before anything is built.
	Fail Policy = iota
	// SkipIdentical builds anyway, and succeeds without writing anything
	// when the tag already names exactly the image built (a re-run of a
	// job whose later step failed). Any other image is still a failure.
	SkipIdentical
)

// Guard protects the tags of one repository.
type Guard struct {
	r      Resolver
	image  string
	policy Policy
}

// Opt configures New.
type Opt func(*Guard)

// WithPolicy sets what an existing version tag means (default Fail).
func WithPolicy(p Policy) Opt {
	return func(g *Guard) { g.policy = p }
}

// New returns a Guard for image, reading tags through r.
func New(r Resolver, image string, opts ...Opt) *Guard {
	g := &Guard{r: r, image: image}
	for _, opt := range opts {
		opt(g)
	}
	return g
}

// CheckVersion decides whether tag may be written to point at ours, the
// digest built ("" before the build). It fails with an *ExistsError when
// the tag exists, except under SkipIdentical, where it goes on before the
// build and reports published=true when the tag already names ours. It is
// called before the build (fail fast), after it, and right before tagging
// (another job may have pushed the tag meanwhile).
func (g *Guard) CheckVersion(ctx context.Context, tag string, ours digest.Digest) (published bool, err error) {
	d, ok, err := g.r.Lookup(ctx, tag)
	switch {
	case err != nil:
		return false, fmt.Errorf("check version tag %s: %w", tag, err)
	case !ok:
		return false, nil
	case g.policy == SkipIdentical && ours == "":
		return false, nil
	case g.policy == SkipIdentical && d == ours:
		return true, nil
	}
	return false, &ExistsError{Image: g.image, Tag: tag, Digest: d}
}

// VerifyVersion re-reads tag after it was written. On a registry that lets
// tags be overwritten, two jobs can pass CheckVersion at once; the one whose
// digest is no longer there lost, and must fail rather than report success.
func (g *Guard) VerifyVersion(ctx context.Context, tag string, want digest.Digest) error {
	d, ok, err := g.r.Lookup(ctx, tag)
	if err != nil {
		return fmt.Errorf("verify version tag %s: %w", tag, err)
	}
	if !ok || d != want {
		return fmt.Errorf("%w %s in %s: it now points at %s, not at our %s", ErrLostRace, tag, g.image, orNothing(d), want)
	}
	return nil
}

// NeedsTag reports whether a mutable tag (the commit SHA tag) must be
// written to point at want: false when it already does, so that a registry
// which forbids updating tags is not asked to rewrite it with the same value.
func (g *Guard) NeedsTag(ctx context.Context, tag string, want digest.Digest) (bool, error) {
	d, ok, err := g.r.Lookup(ctx, tag)
	if err != nil {
		return false, fmt.Errorf("check tag %s: %w", tag, err)
	}
	return !ok || d != want, nil
}

func orNothing(d digest.Digest) string {
	if d == "" {
		return "nothing"
	}
	return d.String()
}
