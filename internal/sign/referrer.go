package sign

import (
	"encoding/json"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The referrer is laid out as cosign v3 writes it
// (pkg/oci/remote/write.go, WriteAttestationNewBundleFormat and
// WriteReferrer), so that cosign verify, cosign clean and zot's signature
// listing see it as cosign's own.
const (
	// emptyConfig is the config blob: "{}" under the empty media type.
	emptyConfig = "{}"
	// cosign's manifest annotations: what the bundle holds and the
	// statement's predicate type.
	contentAnnotation       = "dev.sigstore.bundle.content"
	predicateTypeAnnotation = "dev.sigstore.bundle.predicateType"
)

// blob is one blob of the referrer: its descriptor and bytes.
type blob struct {
	desc ocispec.Descriptor
	data []byte
}

// referrer is the OCI 1.1 manifest that attaches a bundle to subject, and
// the blobs it names.
type referrer struct {
	raw   []byte
	blobs []blob
}

// newReferrer lays out the manifest: artifactType and the one layer the
// bundle's media type, the empty config (cosign also sets the config's
// artifactType, which cosign clean looks for), subject the image, and
// cosign's annotations.
func newReferrer(subject ocispec.Descriptor, bundle []byte, created time.Time) (referrer, error) {
	config := blob{ocispec.Descriptor{MediaType: ocispec.MediaTypeEmptyJSON, ArtifactType: BundleMediaType,
		Digest: digest.FromString(emptyConfig), Size: int64(len(emptyConfig))}, []byte(emptyConfig)}
	layer := blob{ocispec.Descriptor{MediaType: BundleMediaType, Digest: digest.FromBytes(bundle), Size: int64(len(bundle))}, bundle}
	raw, err := json.Marshal(ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: BundleMediaType,
		Config:       config.desc,
		Layers:       []ocispec.Descriptor{layer.desc},
		Subject:      &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations: map[string]string{
			ocispec.AnnotationCreated: created.UTC().Format(time.RFC3339),
			contentAnnotation:         "dsse-envelope",
			predicateTypeAnnotation:   predicateType,
		},
	})
	return referrer{raw: raw, blobs: []blob{config, layer}}, err
}
