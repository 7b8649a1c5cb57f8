package writer

import (
	"context"
	"sync"

	digest "github.com/opencontainers/go-digest"
)

// Signatures says whether a manifest carries a signature by the run's own
// signing-key that verifies (internal/sign's Signer.Find, through the
// registry holding the claim). Only a failed look-up is an error.
type Signatures interface {
	Signed(ctx context.Context, r Registry, manifest digest.Digest) (bool, error)
}

// Signed proves a claim without a download when the manifest that makes
// it is signed with the run's own key: that manifest (its digest computed
// here from the bytes read) was published by a run holding the key, which
// checked its layers then. That holds because a run signs only a manifest
// whose every layer it checked against its config's diff ID before the
// manifest was put (docker-archive, OCI archive and layout, the stream,
// BuildKit's layout on the fallback path: Publish), or
// proved (a reused layer, by download or by this same rule), or one
// BuildKit made and pushed itself from the layers it compressed; and,
// under skip-identical, a manifest whose every descriptor equals such a
// one (internal/guard's Difference, internal/tags' sign). Any other claim
// (unsigned, another key's signature, a look-up that fails or finds more
// referrers than internal/sign examines) is proven by Else.
type Signed struct {
	signatures Signatures
	els        Prover
	mu         sync.Mutex
	// seen is each manifest's look-up: one per distinct manifest, since
	// an image's layers all share it.
	seen map[digest.Digest]*signedLookup
}

type signedLookup struct {
	once   sync.Once
	signed bool
}

// NewSigned returns a Signed prover trusting what v finds signed and
// falling back to els.
func NewSigned(v Signatures, els Prover) *Signed {
	return &Signed{signatures: v, els: els, seen: map[digest.Digest]*signedLookup{}}
}

// Prove accepts a claim Else recalls (a proof store's, at once: no
// signature look-up), then one of a manifest signed with the key, else
// asks Else.
func (s *Signed) Prove(ctx context.Context, c Claim, limit int64) error {
	if !s.Recalls(c, limit) && s.signed(ctx, c) {
		return nil
	}
	return s.els.Prove(ctx, c, limit)
}

// Recalls passes Else's recall through (Remembered), so that with
// signing-key a layer the proof store proved before is still settled at
// once and only hashed while read, never copied to disk to be proven.
func (s *Signed) Recalls(c Claim, limit int64) bool {
	r, ok := s.els.(recaller)
	return ok && r.Recalls(c, limit)
}

// signed looks the claim's manifest up once; a failed look-up counts as
// unsigned (the blob is streamed instead).
func (s *Signed) signed(ctx context.Context, c Claim) bool {
	s.mu.Lock()
	v, ok := s.seen[c.Manifest]
	if !ok {
		v = &signedLookup{}
		s.seen[c.Manifest] = v
	}
	s.mu.Unlock()
	v.once.Do(func() {
		ok, err := s.signatures.Signed(ctx, c.Registry, c.Manifest)
		v.signed = ok && err == nil
	})
	return v.signed
}
