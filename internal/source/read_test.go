package source

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/blumeops/build-push-image/internal/source/sourcetest"
)

func TestClaimedDigest(t *testing.T) {
	d := digest.FromBytes([]byte("x"))
	for name, want := range map[string]string{
		d.Encoded() + "/layer.tar":    d.String(),
		d.Encoded() + ".tar":          d.String(),
		"blobs/sha256/" + d.Encoded(): d.String(),
		"0123/layer.tar":              "",
		"blobs/sha512/" + d.Encoded(): "",
		d.Encoded() + ".json":         "",
	} {
		if got := claimedDigest(name); string(got) != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
}

// proven is a Reuser whose every claim is proven already (the proof
// store recalled it).
type proven struct{}

func (proven) Claimed(digest.Digest) bool { return true }
func (proven) Reuse(digest.Digest) bool   { return true }
func (proven) Proven(digest.Digest) bool  { return true }

// A layer whose claim is proven already is hashed and not copied: the
// reading needs no directory for copies (there is none here).
func TestProvenLayerIsNotCopied(t *testing.T) {
	layer := sourcetest.Layer(t, "a")
	archive := sourcetest.WriteFile(t, "image.tar", sourcetest.NixArchive(t, "app:1", layer))
	img, err := Open(context.Background(), Options{Path: archive, Dir: filepath.Join(t.TempDir(), "none"), Reuser: proven{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 1 || img.Layers[0].DiffID != sourcetest.Sha(layer) || img.Layers[0].Made {
		t.Errorf("layers %+v, want the one layer, reused", img.Layers)
	}
}

// A proven claim is still checked against the layer's bytes.
func TestProvenLayerStillHashed(t *testing.T) {
	layer, other := sourcetest.Layer(t, "a"), sourcetest.Layer(t, "b")
	raw := bytes.Replace(sourcetest.NixArchive(t, "app:1", layer), layer, other, 1)
	archive := sourcetest.WriteFile(t, "image.tar", raw)
	_, err := Open(context.Background(), Options{Path: archive, Dir: t.TempDir(), Reuser: proven{}})
	if !errors.Is(err, ErrBad) || !strings.Contains(err.Error(), "is named for sha256 "+sourcetest.Sha(layer).Encoded()) {
		t.Errorf("err = %v, want the layer's bytes refused", err)
	}
}
