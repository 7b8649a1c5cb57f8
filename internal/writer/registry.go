package writer

import (
	"context"
	"io"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/regclient/regclient/types/ref"
)

// Registry is one repository the image goes to (internal/push's
// Registry): what it holds, and uploads by digest.
type Registry interface {
	// Tags lists the repository's tags.
	Tags(ctx context.Context) ([]string, error)
	// Manifest reads what a tag or digest names; found is false when
	// nothing.
	Manifest(ctx context.Context, reference string) (mediaType string, raw []byte, found bool, err error)
	// Blob reads a blob.
	Blob(ctx context.Context, d digest.Digest) (io.ReadCloser, error)
	// PutBlob uploads a blob unless the repository has it; open gives its
	// bytes, once per try.
	PutBlob(ctx context.Context, desc ocispec.Descriptor, open func() (io.ReadCloser, error)) error
	// PutManifest uploads a manifest or index by digest.
	PutManifest(ctx context.Context, mediaType string, raw []byte) (digest.Digest, error)
}

// Mounter is a Registry that can link a blob from another repository of
// the same registry (internal/push's Registry): with several
// repositories, each blob is uploaded once and mounted into the others.
type Mounter interface {
	// Ref is the repository, as regclient reads it (Registry is the host).
	Ref() ref.Ref
	// MountBlob links desc from the repository from; false when it did
	// not, and an upload must follow.
	MountBlob(ctx context.Context, from ref.Ref, desc ocispec.Descriptor) (bool, error)
}
