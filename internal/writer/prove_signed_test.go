package writer

import (
	"context"
	"errors"
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"
)

// vouchFor vouches for the manifests in signed, fails for those in
// failing, and counts its look-ups.
type vouchFor struct {
	signed, failing map[digest.Digest]bool
	mu              sync.Mutex
	asked           map[digest.Digest]int
}

func (v *vouchFor) Signed(_ context.Context, _ Registry, m digest.Digest) (bool, error) {
	v.mu.Lock()
	v.asked[m]++
	v.mu.Unlock()
	if v.failing[m] {
		return true, errors.New("registry down")
	}
	return v.signed[m], nil
}

// streamed counts the claims it is asked to prove, and refuses them all.
type streamed struct {
	mu sync.Mutex
	n  int
}

func (s *streamed) Prove(context.Context, Claim, int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return ErrFalseClaim
}

// TestSignedProver: a claim of a manifest signed with the key is accepted
// without streaming; an unsigned one, or one whose look-up fails, is
// streamed; each manifest is looked up once however many layers it names.
func TestSignedProver(t *testing.T) {
	ours, theirs, down := digest.FromString("ours"), digest.FromString("theirs"), digest.FromString("down")
	v := &vouchFor{signed: map[digest.Digest]bool{ours: true}, failing: map[digest.Digest]bool{down: true}, asked: map[digest.Digest]int{}}
	els := &streamed{}
	p := NewSigned(v, els)
	var wg sync.WaitGroup
	for i := range 4 {
		for _, m := range []digest.Digest{ours, theirs, down} {
			wg.Go(func() {
				err := p.Prove(t.Context(), Claim{DiffID: digest.FromString(m.String() + string(rune('a'+i))), Manifest: m}, 1<<20)
				if (m == ours) != (err == nil) {
					t.Errorf("claim of %s: %v", m, err)
				}
			})
		}
	}
	wg.Wait()
	if els.n != 8 {
		t.Errorf("%d claims streamed, want the 8 of the unsigned manifests", els.n)
	}
	for _, m := range []digest.Digest{ours, theirs, down} {
		if v.asked[m] != 1 {
			t.Errorf("manifest %s looked up %d times, want once", m, v.asked[m])
		}
	}
}
