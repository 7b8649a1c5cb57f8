package writer

import (
	"context"
	"sync/atomic"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	proofstore "github.com/blumeops/build-push-image/internal/proofs"
)

// Memory is what jobs on this runner proved before (internal/proofs'
// Store): a blob proven once to be a layer is that layer for ever.
type Memory interface {
	// Recall returns how many bytes f's blob unpacks to when a job
	// holding the key proved it to be f's layer.
	Recall(f proofstore.Fact) (int64, bool)
	// Remember records a fact proven by download.
	Remember(f proofstore.Fact)
}

// Remembered proves a claim from Memory without a download when an
// earlier job proved it (and it unpacks to no more than the limit),
// else as Unpacked does, and remembers what the download proved.
type Remembered struct {
	memory Memory
	// recalled and downloaded count the claims proven each way, for
	// the log.
	recalled, downloaded atomic.Int64
}

// NewRemembered returns a prover backed by m.
func NewRemembered(m Memory) *Remembered { return &Remembered{memory: m} }

// Prove recalls the claim, else streams, unpacks and hashes the blob.
func (r *Remembered) Prove(ctx context.Context, c Claim, limit int64) error {
	if r.Recalls(c, limit) {
		r.recalled.Add(1)
		return nil
	}
	f := fact(c)
	n, err := measure(ctx, c, limit)
	if err != nil {
		return err
	}
	r.downloaded.Add(1)
	f.Unpacked = n
	r.memory.Remember(f)
	return nil
}

// Recalls says whether Memory proves the claim, without a download:
// Prove then returns at once.
func (r *Remembered) Recalls(c Claim, limit int64) bool {
	n, ok := r.memory.Recall(fact(c))
	return ok && n <= limit
}

// fact is what Memory holds of the claim c.
func fact(c Claim) proofstore.Fact {
	return proofstore.Fact{Blob: c.Blob.Digest, MediaType: c.Blob.MediaType, Size: c.Blob.Size, DiffID: c.DiffID}
}

// Made remembers a layer this run compressed itself: blob unpacks to
// diffID, unpacked bytes (Options.Made), so the next release proves it
// without a download.
func (r *Remembered) Made(blob ocispec.Descriptor, diffID digest.Digest, unpacked int64) {
	r.memory.Remember(proofstore.Fact{Blob: blob.Digest, MediaType: blob.MediaType, Size: blob.Size, DiffID: diffID, Unpacked: unpacked})
}

// Counts are how many claims were recalled and how many proven by
// download (and remembered).
func (r *Remembered) Counts() (recalled, downloaded int64) {
	return r.recalled.Load(), r.downloaded.Load()
}
