package guard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Manifests reads what a digest names (internal/push's Registry): the
// guard compares two images' manifests with it.
type Manifests interface {
	Manifest(ctx context.Context, reference string) (mediaType string, raw []byte, found bool, err error)
}

// WithManifests lets the guard see that two images are the same although
// their digests differ: the same config and layers (what runs), other
// annotations (the commit and time a reproducible nix build is published
// at). Without it only equal digests are the same image.
func WithManifests(m Manifests) Opt {
	return func(g *Guard) { g.manifests = m }
}

// Image is an image a run built: its digest and, when the run has it (an
// archive's, even one never uploaded), its manifest.
type Image struct {
	Digest   digest.Digest
	Manifest []byte
}

// Same reports whether theirs, an image in the repository, is ours: the
// same digest, or (WithManifests) the same config and layers, or for an
// index the same manifests for the same platforms. Annotations, of the
// manifest or of its descriptors, do not count. Ours is read from the
// repository when its manifest is not given; an image read from neither
// is not the same.
func (g *Guard) Same(ctx context.Context, theirs digest.Digest, ours Image) (bool, error) {
	if theirs == ours.Digest {
		return true, nil
	}
	if g.manifests == nil || ours.Digest == "" {
		return false, nil
	}
	a, err := g.content(ctx, theirs, nil)
	if err != nil {
		return false, err
	}
	b, err := g.content(ctx, ours.Digest, ours.Manifest)
	if err != nil {
		return false, err
	}
	return a != nil && b != nil && bytes.Equal(a, b), nil
}

// content is what runs of the image d (raw, when given, is its manifest):
// nil when the repository does not have it.
func (g *Guard) content(ctx context.Context, d digest.Digest, raw []byte) ([]byte, error) {
	if raw == nil {
		_, got, found, err := g.manifests.Manifest(ctx, d.String())
		if err != nil {
			return nil, fmt.Errorf("read %s to compare it: %w", d, err)
		}
		if !found {
			return nil, nil
		}
		raw = got
	}
	return runs(raw), nil
}

// runs is a manifest without what does not change what runs: the config
// and layers of an image manifest, the manifests and platforms of an
// index, by digest; nil for what is neither.
func runs(raw []byte) []byte {
	var m struct {
		Config    *ocispec.Descriptor  `json:"config"`
		Layers    []ocispec.Descriptor `json:"layers"`
		Manifests []ocispec.Descriptor `json:"manifests"`
	}
	if json.Unmarshal(raw, &m) != nil || (m.Config == nil && len(m.Manifests) == 0) {
		return nil
	}
	type blob struct {
		Digest   digest.Digest     `json:"d"`
		Platform *ocispec.Platform `json:"p,omitempty"`
	}
	var key struct {
		Config    digest.Digest `json:"c"`
		Layers    []blob        `json:"l"`
		Manifests []blob        `json:"m"`
	}
	if m.Config != nil {
		key.Config = m.Config.Digest
	}
	for _, l := range m.Layers {
		key.Layers = append(key.Layers, blob{Digest: l.Digest})
	}
	for _, c := range m.Manifests {
		key.Manifests = append(key.Manifests, blob{Digest: c.Digest, Platform: c.Platform})
	}
	out, _ := json.Marshal(key)
	return out
}
