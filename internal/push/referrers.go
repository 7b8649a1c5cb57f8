package push

import (
	"context"
	"fmt"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/regclient/regclient/scheme"
	"github.com/regclient/regclient/types/descriptor"
)

// Referrers lists the manifests whose subject is the image d and whose
// artifactType is artifactType: through the referrers API, or the
// referrers tag (sha256-<hex>) where the registry has none. PutManifest
// keeps both up to date for a manifest with a subject (regclient does).
func (r *Registry) Referrers(ctx context.Context, d digest.Digest, artifactType string) ([]ocispec.Descriptor, error) {
	var out []ocispec.Descriptor
	err := call(ctx, fmt.Sprintf("list the referrers of %s@%s", r.repo.CommonName(), d), func(ctx context.Context) error {
		rl, err := r.rc.ReferrerList(ctx, r.repo.SetDigest(d.String()), scheme.WithReferrerMatchOpt(descriptor.MatchOpt{ArtifactType: artifactType}))
		for _, desc := range rl.Descriptors {
			out = append(out, ocispec.Descriptor{MediaType: desc.MediaType, ArtifactType: desc.ArtifactType, Digest: desc.Digest, Size: desc.Size})
		}
		return err
	})
	return out, err
}

// Descriptor is the image d's descriptor (media type, digest, size), a
// signature's subject: from the manifest this run pushed or read, with
// no round trip, or else read from the registry.
func (r *Registry) Descriptor(ctx context.Context, d digest.Digest) (ocispec.Descriptor, error) {
	m, err := r.manifest(ctx, d)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := m.GetDescriptor()
	return ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}, nil
}
