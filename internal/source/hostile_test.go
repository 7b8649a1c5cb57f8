package source

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/blumeops/build-push-image/internal/compression"
	"github.com/blumeops/build-push-image/internal/source/sourcetest"
)

// The archives these tests read are made by sourcetest.
type entry = sourcetest.Entry

var (
	tarOf     = sourcetest.Tar
	layer     = sourcetest.Layer
	sha       = sourcetest.Sha
	jsonOf    = sourcetest.JSON
	ociLayout = sourcetest.OCILayout
	writeDir  = sourcetest.WriteDir
	compress  = sourcetest.Compress
	writeFile = sourcetest.WriteFile
)

// open reads the archive at path, its copies in a directory of the test,
// and closes the image when the test ends.
func open(t *testing.T, path string, o Options) (*Image, error) {
	t.Helper()
	o.Path, o.Dir = path, t.TempDir()
	img, err := Open(context.Background(), o)
	if err == nil {
		t.Cleanup(func() { _ = img.Close() })
	}
	return img, err
}

func TestDecompressionBombStops(t *testing.T) {
	zeros := make([]byte, 64<<20)
	bomb := compress(t, compression.Compression{}, tarOf(t, entry{Name: "big/layer.tar", Data: zeros}))
	_, err := open(t, writeFile(t, "bomb.tar.gz", bomb), Options{Limits: Limits{Unpacked: 1 << 30, Ratio: 10, Entries: 10, Metadata: 1 << 20}})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "decompression bomb") {
		t.Fatalf("%v (archive of %d bytes)", err, len(bomb))
	}
}

func TestTooManyEntries(t *testing.T) {
	var es []entry
	for i := range 20 {
		es = append(es, entry{Name: strings.Repeat("d", i+1), Typeflag: tar.TypeDir})
	}
	_, err := open(t, writeFile(t, "x.tar", tarOf(t, es...)), Options{Limits: Limits{Unpacked: 1 << 30, Ratio: 100, Entries: 10, Metadata: 1 << 20}})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatal(err)
	}
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
	fifo(filepath.Join(blob, es[1].Name))
	for name, path := range map[string]string{
		"archive":    fifo(filepath.Join(t.TempDir(), "image.tar")),
		"index.json": index,
		"blob":       blob,
		"device":     "/dev/zero",
	} {
		_, err := open(t, path, Options{})
		if !errors.Is(err, ErrBad) || !strings.Contains(err.Error(), "not a") {
			t.Errorf("%s: %v, want it refused as not a regular file", name, err)
		}
	}
}

// Indexes naming the same child many times are walked as a graph: each
// manifest once; past the limits, one line naming the limit.
func TestIndexesWalkedAsAGraph(t *testing.T) {
	es, top := ociLayout(t, nil, layer(t, "a"))
	es = es[:len(es)-2]
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: top, Size: int64(len(es[len(es)-1].Data))}
	for range 4 {
		idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
		idx.SchemaVersion = 2
		for range 10 {
			idx.Manifests = append(idx.Manifests, desc)
		}
		b := jsonOf(t, idx)
		es = append(es, entry{Name: "blobs/sha256/" + sha(b).Encoded(), Data: b})
		desc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: sha(b), Size: int64(len(b))}
	}
	index := ocispec.Index{Manifests: []ocispec.Descriptor{desc}}
	index.SchemaVersion = 2
	es = append(es, entry{Name: "index.json", Data: jsonOf(t, index)}, entry{Name: "oci-layout", Data: []byte(`{"imageLayoutVersion":"1.0.0"}`)})
	dir := writeDir(t, es)
	img, err := open(t, dir, Options{})
	if err != nil || len(img.Manifests) != 5 || len(img.Blobs) != 2 {
		t.Fatalf("%v: %d manifests, %d blobs, want 5 and 2", err, len(img.Manifests), len(img.Blobs))
	}
	for _, l := range []Limits{{Manifests: 4}, {Descriptors: 41}} {
		if _, err := open(t, dir, Options{Limits: l}); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "(the limit)") {
			t.Errorf("limits %+v: %v, want too large, naming the limit", l, err)
		}
	}
}
