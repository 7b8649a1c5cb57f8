package writer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// A FIFO as the archive, as a layout's index.json or one of its blobs is
// refused before it is opened: nothing blocks.
func TestNotRegularFilesRefused(t *testing.T) {
	es, _ := ociLayout(t, nil, layer(t, "a"))
	fifo := func(path string) string {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	index, blob := writeDir(t, es), writeDir(t, es)
	fifo(filepath.Join(index, "index.json"))
	fifo(filepath.Join(blob, es[1].name))
	for name, path := range map[string]string{
		"archive":    fifo(filepath.Join(t.TempDir(), "image.tar")),
		"index.json": index,
		"blob":       blob,
		"device":     "/dev/zero",
	} {
		_, _, err := publish(t, path, Options{}, newMem())
		if !errors.Is(err, source.ErrBad) || !strings.Contains(err.Error(), "not a") {
			t.Errorf("%s: %v, want it refused as not a regular file", name, err)
		}
	}
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
	archive := tarOf(t, entry{name: "./", typeflag: tar.TypeDir}, entry{name: "blobs/sha256/" + sha(l).Encoded(), data: l}, entry{name: "blobs/sha256/" + sha(cfg).Encoded(), data: cfg},
		entry{name: "blobs/sha256/" + sha(mb).Encoded(), data: mb}, entry{name: "index.json", data: jsonOf(t, idx)},
		entry{name: "oci-layout", data: []byte(`{"imageLayoutVersion":"1.0.0"}`)})
	d, _, err := publish(t, writeFile(t, "oci.tar", archive), Options{Known: known}, reg)
	if err != nil || d != sha(mb) || string(reg.blobs[sha(l)]) != string(l) {
		t.Fatalf("%s %v, want %s with the plain layer uploaded", d, err, sha(mb))
	}
}

// Indexes naming the same child many times are walked as a graph: each
// manifest once; past the limits, one line naming the limit.
func TestIndexesWalkedAsAGraph(t *testing.T) {
	es, top := ociLayout(t, nil, layer(t, "a"))
	es = es[:len(es)-2]
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: top, Size: int64(len(es[len(es)-1].data))}
	for range 4 {
		idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
		idx.SchemaVersion = 2
		for range 10 {
			idx.Manifests = append(idx.Manifests, desc)
		}
		b := jsonOf(t, idx)
		es = append(es, entry{name: "blobs/sha256/" + sha(b).Encoded(), data: b})
		desc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: sha(b), Size: int64(len(b))}
	}
	index := ocispec.Index{Manifests: []ocispec.Descriptor{desc}}
	index.SchemaVersion = 2
	es = append(es, entry{name: "index.json", data: jsonOf(t, index)}, entry{name: "oci-layout", data: []byte(`{"imageLayoutVersion":"1.0.0"}`)})
	dir := writeDir(t, es)
	img, err := source.Open(context.Background(), source.Options{Path: dir, Dir: t.TempDir()})
	if err != nil || len(img.Manifests) != 5 || len(img.Blobs) != 2 {
		t.Fatalf("%v: %d manifests, %d blobs, want 5 and 2", err, len(img.Manifests), len(img.Blobs))
	}
	_ = img.Close()
	for _, l := range []source.Limits{{Manifests: 4}, {Descriptors: 41}} {
		if _, err := source.Open(context.Background(), source.Options{Path: dir, Dir: t.TempDir(), Limits: l}); !errors.Is(err, source.ErrTooLarge) || !strings.Contains(err.Error(), "(the limit)") {
			t.Errorf("limits %+v: %v, want too large, naming the limit", l, err)
		}
	}
}

// A compressed layer named many times is unpacked once, counted once
// against what the whole archive may unpack to.
func TestRepeatedLayerUnpackedOnce(t *testing.T) {
	l := make([]byte, 8<<20)
	copy(l, tarOf(t, entry{name: "zeros", data: make([]byte, 4<<20)}))
	z := compress(t, compression.Compression{}, l)
	var names []string
	var ls [][]byte
	for range 50 {
		names, ls = append(names, "l.tar.gz"), append(ls, l)
	}
	cfg := configOf(t, ls...)
	archive := tarOf(t, entry{name: "l.tar.gz", data: z}, entry{name: "c.json", data: cfg}, entry{name: "manifest.json", data: jsonOf(t, []dockerEntry{{Config: "c.json", Layers: names}})})
	_, stats, err := publish(t, writeFile(t, "x.tar", archive), Options{CompareOnly: true, Limits: source.Limits{Unpacked: 3 * int64(len(l))}})
	if err != nil || stats.Unpacked > 2*int64(len(l)) {
		t.Fatalf("%v: unpacked %d bytes, want the layer (%d bytes) once", err, stats.Unpacked, len(l))
	}
}
