package writer

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/blumeops/build-push-image/internal/source"
)

// TestTopPicksTheLayoutsImage: BuildKit's layout on the fallback path is
// uploaded by the digest BuildKit returned (Top), whatever else its
// index.json names; a digest it does not name fails in one line, with
// nothing put.
func TestTopPicksTheLayoutsImage(t *testing.T) {
	a, wantA := ociLayout(t, nil, layer(t, "a"))
	b, wantB := ociLayout(t, nil, layer(t, "b"))
	// One index.json naming both images: without Top, a choice is needed.
	var index ocispec.Index
	index.SchemaVersion = 2
	for _, es := range [][]entry{a, b} {
		for _, e := range es {
			if e.Name == "index.json" {
				var one ocispec.Index
				if err := json.Unmarshal(e.Data, &one); err != nil {
					t.Fatal(err)
				}
				index.Manifests = append(index.Manifests, one.Manifests...)
			}
		}
	}
	es := append(append(a[:len(a)-2:len(a)-2], b[:len(b)-2]...), entry{Name: "index.json", Data: jsonOf(t, index)}, a[len(a)-1])
	dir := writeDir(t, es)
	if _, _, err := publish(t, dir, Options{}, newMem()); !errors.Is(err, source.ErrChoose) {
		t.Fatalf("no Top: %v, want a choice asked for", err)
	}
	reg := newMem()
	d, _, err := publish(t, dir, Options{Top: wantB}, reg)
	if err != nil || d != wantB || reg.manifests[wantB.String()] == nil || reg.manifests[wantA.String()] != nil {
		t.Fatalf("Top %s: %s %v, want that image alone uploaded", wantB, d, err)
	}
	reg = newMem()
	missing := sha([]byte("not in the layout"))
	if _, _, err := publish(t, dir, Options{Top: missing}, reg); !errors.Is(err, source.ErrBad) || !strings.Contains(err.Error(), "does not name "+missing.String()) || len(reg.manifests) != 0 {
		t.Fatalf("Top %s: %v, %d manifests put, want it refused naming the digest", missing, err, len(reg.manifests))
	}
}
