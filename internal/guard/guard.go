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

// Guard protects the tags of one repository.
type Guard struct {
	r     Resolver
	image string
}

// New returns a Guard for image, reading tags through r.
func New(r Resolver, image string) *Guard {
	return &Guard{r: r, image: image}
}

// CheckVersion fails with an *ExistsError when tag already exists. It is
// called before the build (fail fast) and again right before tagging
// (another job may have pushed the tag while we built).
func (g *Guard) CheckVersion(ctx context.Context, tag string) error {
	d, ok, err := g.r.Lookup(ctx, tag)
	if err != nil {
		return fmt.Errorf("check version tag %s: %w", tag, err)
	}
	if ok {
		return &ExistsError{Image: g.image, Tag: tag, Digest: d}
	}
	return nil
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
