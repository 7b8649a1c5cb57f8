package writer

import (
	"archive/tar"
	"context"
	"fmt"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/blumeops/build-push-image/internal/compression"
	"github.com/blumeops/build-push-image/internal/source"
)

// An image in the repository (v99) claims the diff ID of the next
// release's layer for a blob of its own: the claim fails its proof, the
// layer is compressed anew, one warning names v99; the released layer's
// claim holds and it is reused.
func TestFalseClaimNotReused(t *testing.T) {
	kept, genuine := layer(t, "base"), layer(t, "app")
	reg := newMem()
	d1, _, err := publish(t, writeFile(t, "1.tar", nixArchive(t, "a:1", kept)), Options{}, reg)
	if err != nil {
		t.Fatal(err)
	}
	reg.tag(d1, "v1.0.0")
	evil := compress(t, compression.Compression{}, layer(t, "evil"))
	cfg := configOf(t, genuine)
	reg.blobs[sha(evil)], reg.blobs[sha(cfg)] = evil, cfg
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: sha(cfg), Size: int64(len(cfg))},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: sha(evil), Size: int64(len(evil))}}}
	m.SchemaVersion = 2
	d99, err := reg.PutManifest(context.Background(), ocispec.MediaTypeImageManifest, jsonOf(t, m))
	if err != nil {
		t.Fatal(err)
	}
	reg.tag(d99, "v99.0.0")
	known, err := Learn(context.Background(), []Registry{reg}, nil, "", t.Logf)
	if err != nil || known.Len() != 2 {
		t.Fatalf("learnt %d layers (%v), want 2", known.Len(), err)
	}
	var warnings []string
	d, stats, err := publish(t, writeFile(t, "2.tar", nixArchive(t, "a:2", kept, genuine)), Options{Known: known, Warn: func(format string, args ...any) {
		warnings = append(warnings, fmt.Sprintf(format, args...))
	}}, reg)
	if err != nil || stats.Reused != 1 || stats.Compressed != 1 || stats.Proved != 1 {
		t.Fatalf("%v, %+v: want the released layer reused (proven), the claimed one compressed", err, stats)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "v99.0.0") || !strings.Contains(warnings[0], sha(evil).String()) {
		t.Errorf("warnings %q, want one naming v99.0.0 and its blob", warnings)
	}
	pushed(t, reg, d, nil, kept, genuine)
}

// An OCI archive whose layer is a plain tar the repository holds
// compressed (an earlier release) keeps that blob to push it as it is;
// its "./" entry (tar -C layout -cf image.tar .) is no problem.
func TestKnownPlainLayerOfOCIArchiveKept(t *testing.T) {
	l := layer(t, "plain")
	reg := newMem()
	d1, _, err := publish(t, writeFile(t, "1.tar", nixArchive(t, "a:1", l)), Options{}, reg)
	if err != nil {
		t.Fatal(err)
	}
	reg.tag(d1, "v1.0.0")
	known, err := Learn(context.Background(), []Registry{reg}, nil, "", t.Logf)
	if err != nil || known.Len() != 1 {
		t.Fatalf("learnt %d layers (%v)", known.Len(), err)
	}
	cfg := configOf(t, l)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: sha(cfg), Size: int64(len(cfg))},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: sha(l), Size: int64(len(l))}}}
	m.SchemaVersion = 2
	mb := jsonOf(t, m)
	idx := ocispec.Index{Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: sha(mb), Size: int64(len(mb))}}}
	idx.SchemaVersion = 2
	archive := tarOf(t, entry{Name: "./", Typeflag: tar.TypeDir}, entry{Name: "blobs/sha256/" + sha(l).Encoded(), Data: l}, entry{Name: "blobs/sha256/" + sha(cfg).Encoded(), Data: cfg},
		entry{Name: "blobs/sha256/" + sha(mb).Encoded(), Data: mb}, entry{Name: "index.json", Data: jsonOf(t, idx)},
		entry{Name: "oci-layout", Data: []byte(`{"imageLayoutVersion":"1.0.0"}`)})
	d, _, err := publish(t, writeFile(t, "oci.tar", archive), Options{Known: known}, reg)
	if err != nil || d != sha(mb) || string(reg.blobs[sha(l)]) != string(l) {
		t.Fatalf("%s %v, want %s with the plain layer uploaded", d, err, sha(mb))
	}
}

// A compressed layer named many times is unpacked once, counted once
// against what the whole archive may unpack to.
func TestRepeatedLayerUnpackedOnce(t *testing.T) {
	l := make([]byte, 8<<20)
	copy(l, tarOf(t, entry{Name: "zeros", Data: make([]byte, 4<<20)}))
	z := compress(t, compression.Compression{}, l)
	var names []string
	var ls [][]byte
	for range 50 {
		names, ls = append(names, "l.tar.gz"), append(ls, l)
	}
	cfg := configOf(t, ls...)
	archive := tarOf(t, entry{Name: "l.tar.gz", Data: z}, entry{Name: "c.json", Data: cfg}, entry{Name: "manifest.json", Data: jsonOf(t, []dockerEntry{{Config: "c.json", Layers: names}})})
	_, stats, err := publish(t, writeFile(t, "x.tar", archive), Options{CompareOnly: true, Limits: source.Limits{Unpacked: 3 * int64(len(l))}})
	if err != nil || stats.Unpacked > 2*int64(len(l)) {
		t.Fatalf("%v: unpacked %d bytes, want the layer (%d bytes) once", err, stats.Unpacked, len(l))
	}
}
