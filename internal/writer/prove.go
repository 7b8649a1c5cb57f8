package writer

import (
	"context"
	"errors"
	"fmt"
	"io"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/blumeops/build-push-image/internal/compression"
)

// Claim is an image's word, in a repository, that one of its blobs is a
// layer: its manifest names the blob where its config names the diff ID.
// Anyone who may create a tag there can claim anything, so a claim is
// proven before a manifest of this run names the blob.
type Claim struct {
	// DiffID is the layer, uncompressed, as the config names it.
	DiffID digest.Digest
	// Blob is the blob the manifest names for it (an OCI layer type).
	Blob ocispec.Descriptor
	// Image is the repository:tag (or @digest) whose manifest names it;
	// Manifest is that manifest's digest.
	Image    string
	Manifest digest.Digest
	// Registry is the repository holding it.
	Registry Registry
}

// Prover says whether a claim holds. Unpacked proves it from the blob
// itself; a prover that trusts a manifest signed with the run's own key
// (and verified) would prove it from Claim.Manifest without a download.
type Prover interface {
	// Prove returns nil when the claim holds, else why not. limit is the
	// most bytes the blob may unpack to (Limits): one that unpacks to
	// more is not proven.
	Prove(ctx context.Context, c Claim, limit int64) error
}

// ErrFalseClaim is a claim that does not hold: the blob is not the layer
// (errors.Is). A claim that cannot be checked (the registry fails) is
// not proven either, but is not false.
var ErrFalseClaim = errors.New("the blob is not that layer")

// Unpacked proves a claim by streaming the blob once: its bytes hashed
// against its digest, unpacked as its media type says and hashed against
// the diff ID. Nothing is stored.
type Unpacked struct{}

// Prove streams, unpacks and hashes the blob.
func (Unpacked) Prove(ctx context.Context, c Claim, limit int64) error {
	_, err := measure(ctx, c, limit)
	return err
}

// measure proves c as Unpacked does and returns how many bytes the blob
// unpacked to.
func measure(ctx context.Context, c Claim, limit int64) (int64, error) {
	body, err := c.Registry.Blob(ctx, c.Blob.Digest)
	if err != nil {
		return 0, err
	}
	defer func() { _ = body.Close() }()
	packed, count := digest.SHA256.Digester(), &counting{ctx: ctx}
	src := io.TeeReader(io.LimitReader(body, c.Blob.Size+1), io.MultiWriter(count, packed.Hash()))
	zr, alg, err := compression.NewReader(src)
	if err != nil {
		return 0, fmt.Errorf("%w: it is not %s (%v)", ErrFalseClaim, c.Blob.MediaType, err)
	}
	defer func() { _ = zr.Close() }()
	if got := (compression.Compression{Algorithm: alg}).MediaType(); got != c.Blob.MediaType {
		return 0, fmt.Errorf("%w: it is %s, not the %s its manifest says", ErrFalseClaim, got, c.Blob.MediaType)
	}
	unpacked := digest.SHA256.Digester()
	n, err := io.Copy(unpacked.Hash(), io.LimitReader(zr, limit+1))
	if err == nil && n <= limit {
		_, err = io.Copy(io.Discard, src) // the rest of the blob, for its digest
	}
	switch {
	case ctx.Err() != nil:
		return 0, ctx.Err()
	case n > limit:
		return 0, fmt.Errorf("%w: it unpacks to more than %s", ErrFalseClaim, human(limit))
	case err != nil:
		return 0, fmt.Errorf("cannot read it: %w", err)
	case count.n != c.Blob.Size || packed.Digest() != c.Blob.Digest:
		return 0, fmt.Errorf("%w: the registry sent %d bytes of sha256 %s for it", ErrFalseClaim, count.n, packed.Digest().Encoded())
	case unpacked.Digest() != c.DiffID:
		return 0, fmt.Errorf("%w: it unpacks to sha256 %s", ErrFalseClaim, unpacked.Digest().Encoded())
	}
	return n, nil
}

// counting counts the bytes written to it, and fails once ctx is done:
// a SIGTERM stops a download at its next block.
type counting struct {
	ctx context.Context
	n   int64
}

func (c *counting) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	c.n += int64(len(p))
	return len(p), nil
}
