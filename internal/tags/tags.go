// Package tags writes the tags of one pushed image as one transaction. The
// version tag is the commit point: the image's signature (when it is
// signed) and mutable tags that must exist with the image (the commit SHA
// tag) are written before it, tags that follow
// releases (latest, v1) after it, best-effort. Until the version tag is
// written, a failure leaves no release behind and a re-run repairs; after
// it, only a verified lost race fails. Every failed write is checked
// against what the tag then names: a refusal that changed nothing, a write
// that landed although its answer was lost, and an identical job that was
// faster are each seen for what they are. Nothing here reads statuses:
// the tag's content decides.
package tags

import (
	"context"
	"errors"
	"fmt"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/blumeops/build-push-image/internal/guard"
)

// Registry reads and writes the tags of one repository
// (internal/push's Registry).
type Registry interface {
	guard.Resolver
	// Tag points tag at the manifest d, already in the repository.
	Tag(ctx context.Context, d digest.Digest, tag string) error
}

// State is what became of one tag.
type State int

const (
	// Written: the tag names the image now, written by this run (or, when
	// our write was refused, by an identical job just before).
	Written State = iota
	// Unchanged: the tag already named the image; nothing was written.
	Unchanged
	// Taken: a mutable tag names another image and the registry refused
	// to move it; it was left alone.
	Taken
	// Failed: a tag after the commit point could not be written.
	Failed
	// Kept: a tag that follows releases names a newer release (Other,
	// Version); it is not moved backwards.
	Kept
)

// Tag is the outcome for one tag. Err says why a tag is Taken or Failed,
// or why a Written version tag could not be read back.
type Tag struct {
	Name  string
	State State
	// Other is what a Taken or Kept tag names, or the image an Unchanged
	// version tag names when it is the same image as ours by another
	// digest (guard.Difference): then every tag of the plan names Other.
	// Version is the release a Kept tag's image says it is.
	Other   digest.Digest
	Version string
	Err     error
	// Immediate says a Written version tag was read back without the
	// settle pause, twice its write's round trip after it, where the
	// registry refuses overwrites (WithImmutable).
	Immediate bool
	// Moved: a Written tag named another image before (the registry let
	// it be overwritten).
	Moved bool
}

// Plan is what to write for one image.
type Plan struct {
	Digest digest.Digest
	// Manifest is the image's manifest when the caller has it (one never
	// uploaded, compared only): the guard compares it with the image the
	// version tag names.
	Manifest []byte
	// Version is the version tag, the commit point.
	Version string
	// Release is the release version the image is, which the
	// never-backwards rule compares; empty means Version. They differ when
	// the tags carry a suffix: version tag v1.2.0-nix, release v1.2.0.
	Release string
	// Before are mutable tags written before the version tag (the SHA
	// tag): a failure there fails the run with no release made.
	Before []string
	// After are tags that follow releases, written once the version tag
	// is, best-effort.
	After []string
}

// VersionReader reads the release version an image says it is (its
// org.opencontainers.image.version annotation), "" when it says none.
type VersionReader interface {
	Version(ctx context.Context, d digest.Digest) (string, error)
}

// Signer stores a signature of the image in the repository before any
// tag names it (internal/sign's Signer, bound to one repository): a
// release is never without its signature.
type Signer interface {
	Sign(ctx context.Context, d digest.Digest) error
}

// Writer commits plans to one repository.
type Writer struct {
	reg   Registry
	guard *guard.Guard
	// signer, when set, signs the image before its first tag.
	signer Signer
	// versions, when set, keeps tags that follow releases from moving to
	// an older release than the one they name.
	versions VersionReader
	// settleMin and settleMax bound the pause before the version tag is
	// read back.
	settleMin, settleMax time.Duration
	// immutable: the registry refuses to overwrite a tag, so no racing
	// job can replace the version tag once written: no settle pause.
	immutable bool
}

// Opt configures New.
type Opt func(*Writer)

// WithSettle bounds the pause between writing the version tag and reading
// it back (default 100 ms to 2 s, 3× a look-up's round trip in between).
func WithSettle(lo, hi time.Duration) Opt {
	return func(w *Writer) { w.settleMin, w.settleMax = lo, hi }
}

// WithImmutable says the registry refuses to overwrite an existing tag
// (zot's create-only users, Harbor's immutability rules, ECR's immutable
// repositories; the registry-immutable-tags input): a job racing for the
// version tag is refused rather than replacing it, so the version tag is
// read back without the settle pause: only twice its own write's round
// trip later, because zot checks create against update before it writes,
// not atomically, and a job whose write passed that check beside ours
// lands about one write later. A registry seen to move a tag of the plan
// from another image in the same commit gets the pause.
func WithImmutable() Opt {
	return func(w *Writer) { w.immutable = true }
}

// WithNoDowngrade keeps a tag that follows releases (v1, latest) where it
// is when the image it names says it is a newer release than the one being
// published: a hotfix of an older line does not take it over.
func WithNoDowngrade(r VersionReader) Opt {
	return func(w *Writer) { w.versions = r }
}

// WithSigner signs the image before its first tag is written: a
// signature that cannot be stored fails the commit with no tag written,
// and the re-run repairs it.
func WithSigner(s Signer) Opt {
	return func(w *Writer) { w.signer = s }
}

// New returns a Writer that writes through reg, deciding with g.
func New(reg Registry, g *guard.Guard, opts ...Opt) *Writer {
	w := &Writer{reg: reg, guard: g, settleMin: 100 * time.Millisecond, settleMax: 2 * time.Second}
	for _, opt := range opts {
		opt(w)
	}
	return w
}

// Commit signs the image (WithSigner), writes plan's tags in order and returns what became of each. An
// error means the release did not happen (or was lost to a race); the tags
// returned with it say what was written before it.
func (w *Writer) Commit(ctx context.Context, plan Plan) ([]Tag, error) {
	if plan.Digest == "" { // the guard would name any image: nothing to sign or tag
		return nil, errors.New("no image to tag: the plan has no digest")
	}
	names, err := w.guard.CheckVersion(ctx, plan.Version, plan.image())
	if err != nil {
		return nil, err
	}
	version := Tag{Name: plan.Version, State: Unchanged}
	if names != "" && names != plan.Digest { // the same image, published first: it keeps the tag, the others follow
		version.Other, plan.Digest = names, names
	}
	if err := w.sign(ctx, plan.Digest); err != nil {
		return nil, err
	}
	out, err := w.before(ctx, plan)
	if err != nil {
		return out, err
	}
	if names == "" {
		if version, err = w.commit(ctx, plan, w.immutable && !moved(out)); err != nil {
			return out, err
		}
		if version.Other != "" { // an identical job was first, by another digest
			plan.Digest = version.Other
			if err := w.sign(ctx, plan.Digest); err != nil {
				return out, err
			}
			if out, err = w.before(ctx, plan); err != nil {
				return out, err
			}
		}
	}
	out = append(out, version)
	for _, name := range plan.After {
		out = append(out, w.ensure(context.WithoutCancel(ctx), name, plan, true))
	}
	return out, nil
}

// sign signs d (WithSigner) before a tag names it. d is only ever the
// digest of the plan, which this run uploaded (or computed from the
// image it read and checked), or a digest the guard found to be that
// image (guard.Difference is ""): a manifest whose every descriptor
// (config, layers, each digest, size and media type) equals the plan's,
// annotations aside. So a signature vouches only for descriptors this
// run checked; never for what a version tag merely names.
func (w *Writer) sign(ctx context.Context, d digest.Digest) error {
	if w.signer == nil {
		return nil
	}
	return w.signer.Sign(ctx, d)
}

// before writes the tags before the commit point: a failure there fails
// the run.
func (w *Writer) before(ctx context.Context, plan Plan) ([]Tag, error) {
	var out []Tag
	for _, name := range plan.Before {
		t := w.ensure(ctx, name, plan, false)
		out = append(out, t)
		if t.State == Failed {
			return out, fmt.Errorf("tag %s: %w", name, t.Err)
		}
	}
	return out, nil
}

// moved says whether the registry let one of done be overwritten: then
// it does not refuse overwrites, whatever WithImmutable said.
func moved(done []Tag) bool {
	for _, t := range done {
		if t.Moved {
			return true
		}
	}
	return false
}

// commit writes the version tag, the commit point, and reads it back,
// after twice the write's round trip where the registry refuses
// overwrites (immutable), else after the settle pause.
func (w *Writer) commit(ctx context.Context, plan Plan, immutable bool) (Tag, error) {
	start := time.Now()
	names, err := w.guard.CheckVersion(ctx, plan.Version, plan.image())
	if err != nil || names != "" {
		return unchanged(plan, names), err
	}
	// A job that passed its own check just before this one writes about
	// one round trip later: pause a few of those before reading back.
	// Where the registry refuses overwrites such a job's write is refused,
	// unless it passed the registry's own check beside ours (zot's is not
	// atomic): that one lands within about one write of ours.
	settle := min(max(3*time.Since(start), w.settleMin), w.settleMax)
	wrote := time.Now()
	if err := w.reg.Tag(ctx, plan.Digest, plan.Version); err != nil {
		return w.refused(ctx, plan, err)
	}
	if immutable {
		settle = min(2*time.Since(wrote), w.settleMax)
	}
	// Committed: from here on only a verified lost race fails the run.
	ctx = context.WithoutCancel(ctx)
	time.Sleep(settle)
	err = w.guard.VerifyVersion(ctx, plan.Version, plan.Digest)
	if errors.Is(err, guard.ErrLostRace) {
		return Tag{}, err
	}
	return Tag{Name: plan.Version, State: Written, Err: err, Immediate: immutable}, nil
}

// refused re-checks a refused write of the version tag against what the
// tag names now: ours (an identical job was first), the same image by
// another digest (kept: it was first), or another image.
func (w *Writer) refused(ctx context.Context, plan Plan, werr error) (Tag, error) {
	d, ok, err := w.reg.Lookup(ctx, plan.Version)
	if err != nil || !ok {
		return Tag{}, fmt.Errorf("tag %s: %w", plan.Version, werr)
	}
	if d == plan.Digest {
		return Tag{Name: plan.Version, State: Written}, nil
	}
	differs, err := w.guard.Difference(ctx, d, plan.image())
	switch {
	case err != nil:
		return Tag{}, fmt.Errorf("tag %s: %w", plan.Version, werr)
	case differs == "":
		return unchanged(plan, d), nil
	}
	return Tag{}, &guard.ExistsError{Image: w.guard.Image(), Tag: plan.Version, Digest: d, Refusal: werr, Differs: differs}
}

// unchanged is the version tag left as it is, naming d: Other when that
// is the same image by another digest.
func unchanged(plan Plan, d digest.Digest) Tag {
	t := Tag{Name: plan.Version, State: Unchanged}
	if d != plan.Digest {
		t.Other = d
	}
	return t
}

func (p Plan) image() guard.Image { return guard.Image{Digest: p.Digest, Manifest: p.Manifest} }

func (p Plan) release() string {
	if p.Release != "" {
		return p.Release
	}
	return p.Version
}

// ensure makes a mutable tag name plan's image, unless the registry
// refuses to move it from another image, or (follow, a tag that follows
// releases) that image says it is a newer release.
func (w *Writer) ensure(ctx context.Context, name string, plan Plan, follow bool) Tag {
	d := plan.Digest
	cur, ok, err := w.reg.Lookup(ctx, name)
	switch {
	case err != nil:
		return Tag{Name: name, State: Failed, Err: err}
	case ok && cur == d:
		return Tag{Name: name, State: Unchanged}
	case ok && follow && w.versions != nil:
		if v, verr := w.versions.Version(ctx, cur); verr == nil && Newer(v, plan.release()) {
			return Tag{Name: name, State: Kept, Other: cur, Version: v}
		}
	}
	werr := w.reg.Tag(ctx, d, name)
	if werr == nil {
		return Tag{Name: name, State: Written, Moved: ok}
	}
	cur, ok, err = w.reg.Lookup(ctx, name)
	switch {
	case err == nil && ok && cur == d:
		return Tag{Name: name, State: Written}
	case err == nil && ok:
		return Tag{Name: name, State: Taken, Other: cur, Err: werr}
	}
	return Tag{Name: name, State: Failed, Err: werr}
}
