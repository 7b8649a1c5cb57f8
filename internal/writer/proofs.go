package writer

import (
	"cmp"
	"context"
	"sync"
	"sync/atomic"

	digest "github.com/opencontainers/go-digest"

	"github.com/blumeops/build-push-image/internal/source"
)

// proving is how many claims are proven at once, ahead of the reader:
// one, since the reader itself keeps a core and a half busy (the
// archive's decompression, hashing, the copy of a claimed layer) and
// unpacking a blob costs less than reading the same layer from the
// archive, so one keeps up.
const proving = 1

// proofs are the proofs of Known's claims for one Publish: each run at
// most once, in the background ahead of the reader (in the order learnt:
// an image's layers bottom up, as archives hold them) once it meets the
// first claimed layer, or at once when it asks for one not yet started.
type proofs struct {
	ctx    context.Context
	prover Prover
	limits source.Limits
	known  *Known
	each   map[digest.Digest]*proof // made up front: read-only after
	next   atomic.Int64             // the next of known.order to start
	start  sync.Once
	// over stops the background: the reader is done, Publish returns.
	over atomic.Bool
	wg   sync.WaitGroup
}

type proof struct {
	once sync.Once
	err  error
	done atomic.Bool // err is set
}

// newProofs proves the claims of known with prover (Unpacked when nil).
func newProofs(ctx context.Context, prover Prover, limits source.Limits, known *Known) *proofs {
	ps := &proofs{ctx: ctx, prover: cmp.Or(prover, Prover(Unpacked{})), limits: limits, known: known, each: map[digest.Digest]*proof{}}
	if known != nil {
		for _, d := range known.order {
			ps.each[d] = &proof{}
		}
	}
	return ps
}

// result proves the claim for diffID unless it was (waiting while it is
// being proven); the first call starts the background.
func (ps *proofs) result(h heldBlob) error {
	ps.begin()
	return ps.run(h)
}

// begin starts the background, once.
func (ps *proofs) begin() {
	ps.start.Do(func() {
		for range proving {
			ps.wg.Go(ps.background)
		}
	})
}

func (ps *proofs) run(h heldBlob) error {
	pr := ps.each[h.DiffID]
	pr.once.Do(func() {
		limit := ps.limits.UnpackLimit(h.Blob.Size)
		pr.err = ps.prover.Prove(ps.ctx, h.Claim, limit)
		pr.done.Store(true)
	})
	return pr.err
}

// recaller is a Prover that says at once whether it proves a claim
// without a download (Remembered).
type recaller interface {
	Recalls(c Claim, limit int64) bool
}

// settled says whether the claim for h was proven or refuted already,
// or is proven at once (recalled), without waiting on a download.
func (ps *proofs) settled(h heldBlob) bool {
	if ps.each[h.DiffID].done.Load() {
		return true
	}
	r, ok := ps.prover.(recaller)
	if !ok || !r.Recalls(h.Claim, ps.limits.UnpackLimit(h.Blob.Size)) {
		return false
	}
	_ = ps.run(h) // a recall: at once
	return true
}

func (ps *proofs) background() {
	for !ps.over.Load() {
		i := int(ps.next.Add(1) - 1)
		if i >= len(ps.known.order) {
			return
		}
		h, _ := ps.known.lookup(ps.known.order[i])
		_ = ps.run(h)
	}
}

// stop starts no more in the background; wait also waits for those
// running (cancel their context first).
func (ps *proofs) stop() { ps.over.Store(true) }
func (ps *proofs) wait() { ps.wg.Wait() }
