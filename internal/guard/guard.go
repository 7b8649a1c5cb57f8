// Package guard decides whether tags may be written. A version tag is
// immutable: once it names an image, no later build may move it. The guard
// asks the registry what a tag points at (through a Resolver) and answers
// with a decision or a typed error; it never writes anything itself.
package guard

import (
	"context"
	"errors"
	"fmt"
	"time"

	digest "github.com/opencontainers/go-digest"
)

var (
	// ErrVersionExists means the version tag already names an image.
	ErrVersionExists = errors.New("version tag already exists")
	// ErrLostRace means another job moved the version tag after we wrote it.
	ErrLostRace = errors.New("lost a race for the version tag")
	// ErrAlreadyPublished means the version tag names another image than
	// the one a pull-request check read: a merge would fail on it.
	ErrAlreadyPublished = errors.New("already published")
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
	// Refusal is the registry's answer when it refused our write of the
	// tag because the tag was taken (registry-enforced immutability).
	Refusal error
	// Differs, under SkipIdentical, is why the image the tag names is not
	// the one built (Difference): the first field that differs.
	Differs string
}

func (e *ExistsError) Error() string {
	return fmt.Sprintf("version tag %s already exists in %s (%s)%s; version tags are immutable: bump the version",
		e.Tag, e.Image, e.Digest, e.NotOurs())
}

// NotOurs is Differs as a clause of the error's line ("" without it).
func (e *ExistsError) NotOurs() string {
	if e.Differs == "" {
		return ""
	}
	return ", not this run's image (" + e.Differs + ")"
}

// Is makes errors.Is(err, ErrVersionExists) true.
func (e *ExistsError) Is(target error) bool { return target == ErrVersionExists }

// Unwrap is the registry's refusal, if there was one.
func (e *ExistsError) Unwrap() error { return e.Refusal }

// Policy says what to do when the version tag already exists.
type Policy int

const (
	// Fail fails, before anything is built.
	Fail Policy = iota
	// SkipIdentical builds anyway, and succeeds without writing anything
	// when the tag already names the image built (a re-run of a job whose
	// later step failed; a reproducible build published again from a
	// later commit: see Difference). Any other image is still a failure.
	SkipIdentical
)

// Guard protects the tags of one repository.
type Guard struct {
	r         Resolver
	manifests Manifests
	image     string
	policy    Policy
	reread    []time.Duration
}

// Opt configures New.
type Opt func(*Guard)

// WithPolicy sets what an existing version tag means (default Fail).
func WithPolicy(p Policy) Opt {
	return func(g *Guard) { g.policy = p }
}

// WithManifests lets the guard see that two images are the same although
// their digests differ: the same config and layers (what runs), other
// annotations (the commit and time a reproducible nix build is published
// at). Without it only equal digests are the same image.
func WithManifests(m Manifests) Opt {
	return func(g *Guard) { g.manifests = m }
}

// New returns a Guard for image, reading tags through r.
func New(r Resolver, image string, opts ...Opt) *Guard {
	g := &Guard{r: r, image: image, reread: defaultReread}
	for _, opt := range opts {
		opt(g)
	}
	return g
}

// Image is the repository the guard protects.
func (g *Guard) Image() string { return g.image }

// CheckVersion decides whether tag may be written to point at ours, the
// image built (zero before the build). It fails with an *ExistsError when
// the tag exists, except under SkipIdentical, where it returns what the tag
// names when that is ours (Difference "": a digest whose every descriptor equals
// one of ours, so a caller may sign it) or, before the build, any image
// (never to be signed or tagged: only to decide what to build): then
// the build only has to compute its digest to compare (an identical
// image is complete in the registry, any other one fails). "" means the
// tag is free. The image the tag names keeps it: the caller points its
// other tags there. It is called before the build (fail fast), after it,
// and right before tagging (another job may have pushed the tag
// meanwhile).
func (g *Guard) CheckVersion(ctx context.Context, tag string, ours Image) (names digest.Digest, err error) {
	d, err := g.Names(ctx, tag)
	switch {
	case err != nil, d == "":
		return "", err
	case g.policy == SkipIdentical && ours.Digest == "":
		return d, nil
	case g.policy == SkipIdentical:
		differs, err := g.Difference(ctx, d, ours)
		if err != nil {
			return "", fmt.Errorf("check version tag %s: %w", tag, err)
		}
		if differs == "" {
			return d, nil
		}
		return "", &ExistsError{Image: g.image, Tag: tag, Digest: d, Differs: differs}
	}
	return "", &ExistsError{Image: g.image, Tag: tag, Digest: d}
}

// Names is what tag names, "" when it is free: CheckVersion's look-up,
// deciding nothing. The pull-request check looks the version tag up with
// it before the image is read, and decides once it is (CheckPublished).
func (g *Guard) Names(ctx context.Context, tag string) (digest.Digest, error) {
	d, ok, err := g.r.Lookup(ctx, tag)
	switch {
	case err != nil:
		return "", fmt.Errorf("check version tag %s: %w", tag, err)
	case !ok:
		return "", nil
	}
	return d, nil
}

// CheckPublished is the pull-request check's decision: tag, which named
// names when looked up (Names, "" for free), lets ours be published when
// it is free or names ours exactly; else the error wraps
// ErrAlreadyPublished. Nothing is looked up again.
func (g *Guard) CheckPublished(tag string, names, ours digest.Digest) error {
	if names == "" || names == ours {
		return nil
	}
	return fmt.Errorf("version tag %s already exists in %s (%s) and names another image than this one (%s): %w: bump the version", tag, g.image, names, ours, ErrAlreadyPublished)
}

// VerifyVersion re-reads tag after it was written. On a registry that lets
// tags be overwritten, two jobs can pass CheckVersion at once; the one whose
// digest is no longer there lost, and must fail rather than report success.
// A tag not found right after its write is read again with backoff (an
// eventually consistent registry) before it counts as lost.
func (g *Guard) VerifyVersion(ctx context.Context, tag string, want digest.Digest) error {
	var d digest.Digest
	for i := 0; ; i++ {
		var ok bool
		var err error
		d, ok, err = g.r.Lookup(ctx, tag)
		if err != nil {
			return fmt.Errorf("verify version tag %s: %w", tag, err)
		}
		if !ok {
			d = ""
		}
		if ok || i >= len(g.reread) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(g.reread[i]):
		}
	}
	if d != want {
		return fmt.Errorf("%w %s in %s: it now points at %s, not at our %s", ErrLostRace, tag, g.image, orNothing(d), want)
	}
	return nil
}

// defaultReread waits about 5 s in all for a tag to appear after its write.
var defaultReread = []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 1250 * time.Millisecond, 2 * time.Second}

// WithReread sets the pauses between re-reads of a version tag that is not
// found right after its write (default: about 5 s in all).
func WithReread(pauses ...time.Duration) Opt {
	return func(g *Guard) { g.reread = pauses }
}

// Difference is "" when theirs, an image in the repository, is ours, and
// else the first field that differs, as one line. The same image is the
// same digest, or (WithManifests) manifests equal in everything but
// annotations (of the manifest and of each descriptor): the same media
// type, the same config descriptor and the same layer descriptors
// (digest, size, media type, and any other field), in order; for an index
// the same manifest descriptors (digest, size, media type, platform).
// Adopting theirs is then as safe as publishing ours: every descriptor a
// client follows is one this run made and checked. Ours is read from the
// repository when its manifest is not given; an image read from neither
// is not the same.
func (g *Guard) Difference(ctx context.Context, theirs digest.Digest, ours Image) (string, error) {
	return difference(ctx, g.manifests, theirs, ours)
}
