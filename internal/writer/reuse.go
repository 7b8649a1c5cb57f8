package writer

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/regclient/regclient/types/mediatype"

	"github.com/blumeops/build-push-image/internal/source"
	"github.com/blumeops/build-push-image/internal/tags"
)

// Known is which uncompressed layers (diff IDs) the repositories already
// hold, and as which blob, as images there claim: learnt from them, so
// that those layers are neither compressed nor uploaded again once the
// claim is proven (Prover). Nothing is kept on the runner: a fresh runner
// learns the same.
type Known struct {
	byDiffID map[digest.Digest]heldBlob
	// order is the diff IDs in the order learnt: the newest images first,
	// each image's layers bottom up, as archives hold them.
	order []digest.Digest
	// From are the images layers were learnt from (repository:tag), for
	// the log.
	From []string
}

// heldBlob is a blob of a layer, in one of the repositories (from, their
// index), or in another repository of their registry (from -1: mounted
// from Claim.Registry), as an image there claims.
type heldBlob struct {
	Claim
	from int // index of the repository holding it, -1 for another
}

func (k *Known) lookup(diffID digest.Digest) (heldBlob, bool) {
	if k == nil {
		return heldBlob{}, false
	}
	h, ok := k.byDiffID[diffID]
	return h, ok
}

// Len is how many layers are known.
func (k *Known) Len() int {
	if k == nil {
		return 0
	}
	return len(k.byDiffID)
}

// releases is how many of the newest releases are read: a tag scheme
// like v1.2.0-<sha> sorts releases of one version by their SHA, so the
// newest is not always the last.
const releases = 3

// Learn reads the images that refs name in each repository (the run's
// own version and SHA tags first, so that a re-run reproduces what the
// first run pushed, then the reuse-from tags and the tags that follow
// releases, such as latest, which name the release before whatever its
// version scheme), then the newest releases: the highest semantic-version
// tags ending in suffix, or where there are none (versions like 165768b
// or 2026.12.07) the last tags the registry lists (last). A layer known in
// several places is taken from the first. A ref that does not exist, or
// cannot be read, is passed over (warn says why): reuse saves work, it
// is never needed.
func Learn(ctx context.Context, targets []Registry, refs []string, suffix string, warn func(format string, args ...any)) (*Known, error) {
	k := &Known{byDiffID: map[digest.Digest]heldBlob{}}
	for i, t := range targets {
		if err := k.learnAll(ctx, t, i, refs, suffix, warn); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// learnAll learns the images refs name in t, then its newest releases;
// only a cancelled ctx is an error.
func (k *Known) learnAll(ctx context.Context, t Registry, i int, refs []string, suffix string, warn func(format string, args ...any)) error {
	all, err := t.Tags(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		warn("Not reusing layers of earlier releases: %v", err)
	}
	name := "" // a tag of the repositories themselves goes by its name alone
	if i < 0 {
		name = repository(t)
	}
	recent := newest(all, suffix, releases)
	if len(recent) == 0 {
		recent = last(all, suffix, releases)
	}
	read := map[string]bool{}
	for _, ref := range append(slices.Clone(refs), recent...) {
		if read[ref] {
			continue
		}
		read[ref] = true
		before := len(k.byDiffID)
		err := k.learn(ctx, t, i, ref, ref)
		if len(k.byDiffID) > before {
			k.From = append(k.From, name+ref)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			warn("Not reusing the layers of %s: %v", name+ref, err)
		}
	}
	return nil
}

// newest returns the n highest semantic-version tags of all that end in
// suffix, highest first. A release is X.Y.Z (with or without a v):
// semver's shorthand vX would make an all-digit SHA tag the newest.
func newest(all []string, suffix string, n int) []string {
	var found []string
	for _, tag := range all {
		if v, ok := strings.CutSuffix(tag, suffix); ok && tags.IsRelease(v) {
			found = append(found, tag)
		}
	}
	slices.SortStableFunc(found, func(a, b string) int {
		va, vb := strings.TrimSuffix(a, suffix), strings.TrimSuffix(b, suffix)
		switch {
		case tags.Newer(va, vb):
			return -1
		case tags.Newer(vb, va):
			return 1
		}
		return strings.Compare(a, b)
	})
	return found[:min(n, len(found))]
}

// last returns the last n tags of all (in the order the registry lists
// them) that end in suffix, last first, leaving out the tags of
// signatures and attestations (sha256-…, .sig, .att, .sbom). Distribution and
// zot list tags sorted, so a date version (2026.12.07, 20261207) comes
// last when newest; of versions like 165768b it is some n releases,
// whose base layers a next release shares all the same.
func last(all []string, suffix string, n int) []string {
	var found []string
	for _, tag := range slices.Backward(all) {
		if len(found) == n {
			break
		}
		v, ok := strings.CutSuffix(tag, suffix)
		if ok && v != "" && !strings.HasPrefix(tag, "sha256-") && !slices.ContainsFunc([]string{".sig", ".att", ".sbom"}, func(ext string) bool { return strings.HasSuffix(tag, ext) }) {
			found = append(found, tag)
		}
	}
	return found
}

// Elsewhere is another repository of the registry whose layers may be
// mounted into the repositories instead of uploaded (reuse-from's
// repositories: a base image, the plan's other images).
type Elsewhere struct {
	Registry Registry
	// Refs are its tags to read before its newest releases.
	Refs []string
}

// LearnElsewhere adds the layers of other repositories of the registry,
// after those the repositories hold themselves: the images refs name,
// then the newest releases ending in suffix, as Learn reads them.
func (k *Known) LearnElsewhere(ctx context.Context, others []Elsewhere, suffix string, warn func(format string, args ...any)) error {
	for _, e := range others {
		if err := k.learnAll(ctx, e.Registry, -1, e.Refs, suffix, warn); err != nil {
			return err
		}
	}
	return nil
}

// maxConfig is the largest image config read (a large image's is some
// 100 KiB).
const maxConfig = 4 << 20

// maxChildren bounds how many manifests of one index are read.
const maxChildren = 16

// learn records the layers of the image ref names in target i; image is
// the tag it was reached from, for the log.
func (k *Known) learn(ctx context.Context, t Registry, i int, ref, image string) error {
	mediaType, raw, found, err := t.Manifest(ctx, ref)
	if err != nil || !found {
		return err
	}
	var m struct {
		Config    ocispec.Descriptor   `json:"config"`
		Layers    []ocispec.Descriptor `json:"layers"`
		Manifests []ocispec.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	if source.IsIndex(mediaType) {
		for _, child := range m.Manifests[:min(len(m.Manifests), maxChildren)] {
			if source.IsManifest(child.MediaType) {
				if err := k.learn(ctx, t, i, child.Digest.String(), image+"@"+child.Digest.String()); err != nil {
					return err
				}
			}
		}
		return nil
	}
	diffIDs, err := diffIDs(ctx, t, m.Config)
	if err != nil || len(diffIDs) != len(m.Layers) {
		return err
	}
	for j, layer := range m.Layers {
		layer.MediaType = ociLayerType(layer.MediaType)
		if _, seen := k.byDiffID[diffIDs[j]]; !seen && layer.MediaType != "" {
			k.order = append(k.order, diffIDs[j])
			k.byDiffID[diffIDs[j]] = heldBlob{from: i, Claim: Claim{
				DiffID: diffIDs[j], Blob: ocispec.Descriptor{MediaType: layer.MediaType, Digest: layer.Digest, Size: layer.Size},
				Image: repository(t) + image, Manifest: digest.FromBytes(raw), Registry: t,
			}}
		}
	}
	return nil
}

// repository is "host/path:" of t when it says (Mounter), for the log.
func repository(t Registry) string {
	if m, ok := t.(Mounter); ok {
		return m.Ref().CommonName() + ":"
	}
	return ""
}

// diffIDs reads an image config's rootfs.diff_ids.
func diffIDs(ctx context.Context, t Registry, config ocispec.Descriptor) ([]digest.Digest, error) {
	if config.Size > maxConfig {
		return nil, errors.New("its config is too large")
	}
	body, err := t.Blob(ctx, config.Digest)
	if err != nil {
		return nil, err
	}
	defer func() { _ = body.Close() }()
	// Read whole and checked against its digest: a signed manifest (the
	// Signed prover) vouches for the config by digest only.
	raw, err := io.ReadAll(io.LimitReader(body, maxConfig+1))
	if err != nil {
		return nil, err
	}
	if digest.FromBytes(raw) != config.Digest {
		return nil, errors.New("its config is not the blob its manifest names")
	}
	var cfg struct {
		RootFS struct {
			DiffIDs []digest.Digest `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, err
	}
	return cfg.RootFS.DiffIDs, nil
}

// ociLayerType is the OCI media type of a layer blob of another image, ""
// for one that cannot be reused (a foreign or encrypted layer). Docker's
// gzip layer is the same bytes as OCI's.
func ociLayerType(mediaType string) string {
	switch mediaType {
	case ocispec.MediaTypeImageLayerGzip, mediatype.Docker2LayerGzip:
		return ocispec.MediaTypeImageLayerGzip
	case ocispec.MediaTypeImageLayerZstd, mediatype.Docker2LayerZstd:
		return ocispec.MediaTypeImageLayerZstd
	case ocispec.MediaTypeImageLayer, mediatype.Docker2Layer:
		return ocispec.MediaTypeImageLayer
	}
	return ""
}
