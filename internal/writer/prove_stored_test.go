package writer

import (
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/blumeops/build-push-image/internal/compression"
	proofstore "github.com/blumeops/build-push-image/internal/proofs"
	"github.com/blumeops/build-push-image/internal/source"
	"github.com/blumeops/build-push-image/internal/testcheck"
)

// TestRememberedProver: a claim proven by download, or a layer a job
// compressed itself, is remembered; the next job with the same key proves
// it without reading the blob; a
// false claim is neither believed nor remembered; a fact whose layer is
// larger than the limit is proven again (and fails).
func TestRememberedProver(t *testing.T) {
	dir, key := t.TempDir(), testcheck.ZotKey()
	reg := newMem()
	raw := layer(t, "a", "b")
	blob := compress(t, compression.Compression{Algorithm: compression.Gzip}, raw)
	reg.blobs[sha(blob)] = blob
	c := Claim{DiffID: sha(raw), Blob: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: sha(blob), Size: int64(len(blob))}, Registry: reg}
	lie := c
	lie.DiffID = sha([]byte("another layer"))

	first := NewRemembered(proofstore.Open(dir, key))
	if err := first.Prove(t.Context(), c, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := first.Prove(t.Context(), lie, 1<<20); err == nil {
		t.Fatal("a false claim was proven")
	}
	if r, d := first.Counts(); r != 0 || d != 1 {
		t.Errorf("first job: %d recalled, %d downloaded; want 0, 1", r, d)
	}

	delete(reg.blobs, sha(blob)) // the next job must not need it
	next := NewRemembered(proofstore.Open(dir, key))
	if err := next.Prove(t.Context(), c, 1<<20); err != nil {
		t.Errorf("a claim proven before: %v", err)
	}
	if err := next.Prove(t.Context(), lie, 1<<20); err == nil {
		t.Error("a false claim was believed the second time")
	}
	if err := next.Prove(t.Context(), c, int64(len(raw))-1); err == nil {
		t.Error("a remembered layer larger than the limit was believed")
	}
	if r, _ := next.Counts(); r != 1 {
		t.Errorf("next job recalled %d claims, want 1", r)
	}
	made := layer(t, "made")
	madeBlob := compress(t, compression.Compression{Algorithm: compression.Gzip}, made)
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: sha(madeBlob), Size: int64(len(madeBlob))}
	next.Made(desc, sha(made), int64(len(made)))
	if err := NewRemembered(proofstore.Open(dir, key)).Prove(t.Context(), Claim{DiffID: sha(made), Blob: desc, Registry: reg}, 1<<20); err != nil {
		t.Errorf("a layer a job compressed itself, claimed by the next: %v", err)
	}
	if err := NewRemembered(proofstore.Open(dir, testcheck.ZotKey())).Prove(t.Context(), c, 1<<20); err == nil {
		t.Error("a job with another key believed the first job's proof")
	}
}

// A claim the store recalls is settled at once, before any proof ran in
// the background (the reader then only hashes the layer); one it does
// not recall is not settled, and asking starts no download. So it is
// with signing-key (Signed over the store), where the recalled claim's
// manifest is not even looked up for a signature.
func TestRecalledClaimSettledAtOnce(t *testing.T) {
	for _, signed := range []bool{false, true} {
		dir, key := t.TempDir(), testcheck.ZotKey()
		raw, other := layer(t, "a"), layer(t, "b")
		held := func(l []byte) heldBlob {
			blob := compress(t, compression.Compression{Algorithm: compression.Gzip}, l)
			return heldBlob{Claim: Claim{DiffID: sha(l), Blob: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: sha(blob), Size: int64(len(blob))}, Manifest: sha(blob), Registry: newMem()}}
		}
		recalled, unknown := held(raw), held(other)
		NewRemembered(proofstore.Open(dir, key)).Made(recalled.Blob, recalled.DiffID, int64(len(raw)))
		k := &Known{byDiffID: map[digest.Digest]heldBlob{recalled.DiffID: recalled, unknown.DiffID: unknown}, order: []digest.Digest{recalled.DiffID, unknown.DiffID}}
		store := NewRemembered(proofstore.Open(dir, key))
		var prover Prover = store
		v := &vouchFor{asked: map[digest.Digest]int{}}
		if signed {
			prover = NewSigned(v, store)
		}
		ps := newProofs(t.Context(), prover, source.DefaultLimits, k)
		if !ps.settled(recalled) || ps.run(recalled) != nil {
			t.Errorf("signed %v: a recalled claim is not settled at once, or not proven", signed)
		}
		if ps.settled(unknown) {
			t.Errorf("signed %v: a claim the store does not hold is settled before its proof", signed)
		}
		if r, d := store.Counts(); r != 1 || d != 0 {
			t.Errorf("signed %v: %d recalled, %d downloaded; want 1, 0", signed, r, d)
		}
		if n := v.asked[recalled.Manifest]; n != 0 {
			t.Errorf("the recalled claim's manifest was looked up for a signature %d times, want 0", n)
		}
	}
}
