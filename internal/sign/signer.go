package sign

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// Store is one repository where signatures are read and written
// (internal/push's Registry). Referrers uses the referrers API, or the
// referrers tag (sha256-<hex>) where the registry has none; so does
// PutManifest for a manifest with a subject. Descriptor is the image's,
// from what the run pushed when it can (no round trip); UploadBlob
// uploads with no look-up first (a signature's blobs are new).
type Store interface {
	Manifest(ctx context.Context, reference string) (mediaType string, raw []byte, found bool, err error)
	Descriptor(ctx context.Context, d digest.Digest) (ocispec.Descriptor, error)
	Blob(ctx context.Context, d digest.Digest) (io.ReadCloser, error)
	UploadBlob(ctx context.Context, desc ocispec.Descriptor, open func() (io.ReadCloser, error)) error
	PutManifest(ctx context.Context, mediaType string, raw []byte) (digest.Digest, error)
	Referrers(ctx context.Context, d digest.Digest, artifactType string) ([]ocispec.Descriptor, error)
}

// State is what became of an image's signature.
type State int

const (
	// Written: this run stored the signature.
	Written State = iota
	// Unchanged: the image carried a signature by the key already
	// (a re-run); no second one was added.
	Unchanged
)

// Signature is the image's signature in one repository: the referrer's
// digest, and whether this run wrote it.
type Signature struct {
	Digest digest.Digest
	State  State
}

// ErrSignature wraps every failure of Ensure: the image could not be
// given its signature (a registry refusal or failure, or ErrNotListed).
var ErrSignature = errors.New("the signature could not be stored")

// ErrNotListed: the registry stored the signature but does not list it
// among the image's referrers, so no verifier would find it.
var ErrNotListed = errors.New("is stored but not listed among the image's referrers")

// maxBundle bounds how much of a referrer's layer is read to check it: a
// bundle without log entries or certificates is a few KiB.
const maxBundle = 1 << 20

// Find's bounds: anyone who may push to a repository may plant
// referrers on its images, each costing Find a manifest and a bundle to
// read. It examines at most MaxReferrers signature referrers of one image
// and reads at most MaxReferrerBytes (their manifests and bundles) in
// all; past either the image counts as not signed (ErrTooManyReferrers).
// A run's own signature is one referrer of a few KiB.
const (
	MaxReferrers     = 64
	MaxReferrerBytes = 4 << 20
)

// ErrTooManyReferrers: the image has more signature referrers than Find
// examines, or they take more bytes to read; it is treated as unsigned.
var ErrTooManyReferrers = errors.New("more signature referrers than are examined")

// Signer signs images with one key and stores the signatures.
type Signer struct {
	key *Key
	now func() time.Time
	// made keeps the referrer made for each image, so that every
	// repository of a run gets the same bytes (one signature digest).
	made map[digest.Digest]referrer
}

// New returns a Signer for key.
func New(key *Key) *Signer {
	return &Signer{key: key, now: time.Now, made: map[digest.Digest]referrer{}}
}

// Ensure makes sure the image d in store carries a signature by the key:
// it finds one there already, or stores one (blobs, then the manifest by
// digest) and reads it back among the image's referrers.
func (s *Signer) Ensure(ctx context.Context, store Store, d digest.Digest) (Signature, error) {
	sig, err := s.ensure(ctx, store, d)
	if err != nil {
		return Signature{}, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	return sig, nil
}

func (s *Signer) ensure(ctx context.Context, store Store, d digest.Digest) (Signature, error) {
	found, err := s.Find(ctx, store, d)
	if errors.Is(err, ErrTooManyReferrers) { // not examined: sign it (again)
		found, err = "", nil
	}
	if err != nil || found != "" {
		return Signature{Digest: found, State: Unchanged}, err
	}
	r, err := s.referrer(ctx, store, d)
	if err != nil {
		return Signature{}, err
	}
	// The two blobs go up side by side, each with no look-up first:
	// two round trips each (regclient's POST, PUT).
	g, gctx := errgroup.WithContext(ctx)
	for _, b := range r.blobs {
		open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b.data)), nil }
		g.Go(func() error { return store.UploadBlob(gctx, b.desc, open) })
	}
	if err := g.Wait(); err != nil {
		return Signature{}, err
	}
	sd, err := store.PutManifest(ctx, ocispec.MediaTypeImageManifest, r.raw)
	if err != nil {
		return Signature{}, err
	}
	listed, err := store.Referrers(ctx, d, BundleMediaType)
	if err != nil {
		return Signature{}, fmt.Errorf("read it back: %w", err)
	}
	if !slices.ContainsFunc(listed, func(l ocispec.Descriptor) bool { return l.Digest == sd }) {
		return Signature{}, fmt.Errorf("%s %w", sd, ErrNotListed)
	}
	return Signature{Digest: sd, State: Written}, nil
}

// Find returns the first of the image d's referrers in store that is a
// signature by the key, "" when there is none. Other referrers (another
// key's signatures, attestations, damaged ones) are passed over, within
// MaxReferrers and MaxReferrerBytes: past them ErrTooManyReferrers.
func (s *Signer) Find(ctx context.Context, store Store, d digest.Digest) (digest.Digest, error) {
	listed, err := store.Referrers(ctx, d, BundleMediaType)
	if err != nil {
		return "", fmt.Errorf("look for signatures of %s: %w", d, err)
	}
	if len(listed) > MaxReferrers {
		return "", fmt.Errorf("%s has %d signature referrers, more than the %d examined: %w", d, len(listed), MaxReferrers, ErrTooManyReferrers)
	}
	budget := int64(MaxReferrerBytes)
	for _, l := range listed {
		switch ok, err := s.signs(ctx, store, l.Digest, d, &budget); {
		case err != nil:
			return "", err
		case ok:
			return l.Digest, nil
		}
	}
	return "", nil
}

// signs says whether the referrer sd holds a bundle by the key over d,
// taking what it reads from *budget. Only a failed read (or a spent
// budget) is an error; what is not ours is false.
func (s *Signer) signs(ctx context.Context, store Store, sd, d digest.Digest, budget *int64) (bool, error) {
	_, raw, found, err := store.Manifest(ctx, sd.String())
	if err != nil || !found {
		return false, err
	}
	var m ocispec.Manifest
	if json.Unmarshal(raw, &m) != nil || len(m.Layers) != 1 || m.Layers[0].MediaType != BundleMediaType || m.Layers[0].Size > maxBundle {
		return false, spend(budget, int64(len(raw)), d)
	}
	if err := spend(budget, int64(len(raw))+m.Layers[0].Size, d); err != nil {
		return false, err
	}
	rc, err := store.Blob(ctx, m.Layers[0].Digest)
	if err != nil {
		return false, err
	}
	defer func() { _ = rc.Close() }()
	bundle, err := io.ReadAll(io.LimitReader(rc, maxBundle))
	if err != nil {
		return false, fmt.Errorf("read the signature %s: %w", sd, err)
	}
	return s.key.Verify(bundle, d) == nil, nil
}

// spend takes n bytes from *budget, failing once MaxReferrerBytes were
// read looking for a signature of d.
func spend(budget *int64, n int64, d digest.Digest) error {
	if *budget -= n; *budget < 0 {
		return fmt.Errorf("the signature referrers of %s take more than the %d bytes read: %w", d, MaxReferrerBytes, ErrTooManyReferrers)
	}
	return nil
}

// referrer is the signature of d, made once per run: the image's
// descriptor comes from store.
func (s *Signer) referrer(ctx context.Context, store Store, d digest.Digest) (referrer, error) {
	if r, ok := s.made[d]; ok {
		return r, nil
	}
	subject, err := store.Descriptor(ctx, d)
	if err != nil {
		return referrer{}, fmt.Errorf("sign %s: %w", d, err)
	}
	bundle, err := s.key.Bundle(d)
	if err != nil {
		return referrer{}, err
	}
	r, err := newReferrer(subject, bundle, s.now())
	if err != nil {
		return referrer{}, err
	}
	s.made[d] = r
	return r, nil
}
