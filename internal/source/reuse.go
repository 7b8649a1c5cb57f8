package source

import (
	"io"
	"os"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Reuser says, while the archive is read, which layers need not be
// compressed because a repository holds them already (internal/writer's
// reuse of Known layers): one question, asked in two steps so that the
// reader does not wait on the answer before it reads.
type Reuser interface {
	// Claimed says whether a repository claims to hold the layer diffID
	// (named for it in the archive); a claim is proven in the background
	// from then on.
	Claimed(diffID digest.Digest) bool
	// Reuse says whether a blob of the layer diffID is held and proven,
	// waiting for the proof: such a layer is only hashed.
	Reuse(diffID digest.Digest) bool
	// Proven says, without waiting, whether the claim for diffID is
	// proven already (recalled from the proof store): such a layer is
	// hashed as it is read, and no copy of it is kept while it is
	// proven. True implies Reuse.
	Proven(diffID digest.Digest) bool
}

// reuseNone holds no layer.
type reuseNone struct{}

func (reuseNone) Claimed(digest.Digest) bool { return false }
func (reuseNone) Reuse(digest.Digest) bool   { return false }
func (reuseNone) Proven(digest.Digest) bool  { return false }

// Blob is one blob of the image, opened lazily, once per try.
type Blob struct {
	Desc ocispec.Descriptor
	Open func() (io.ReadCloser, error)
}

// opener opens the file name.
func opener(name string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return os.Open(name) }
}
