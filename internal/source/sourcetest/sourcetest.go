// Package sourcetest makes archives for tests of internal/source and
// internal/writer: tars of crafted entries, nix and docker save
// docker-archives, OCI layouts, in memory or on disk.
package sourcetest

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/blumeops/build-push-image/internal/compression"
)

// DockerEntry is one image of a docker-archive's manifest.json.
type DockerEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// Entry is one member of a crafted tar.
type Entry struct {
	Name     string
	Data     []byte
	Typeflag byte
	Link     string
}

// Tar is a tar of entries, in order (a regular file when Typeflag is
// zero).
func Tar(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Mode: 0o644, Size: int64(len(e.Data)), ModTime: time.Unix(1, 0), Typeflag: e.Typeflag, Linkname: e.Link, Format: tar.FormatPAX}
		if e.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.Data); err != nil && h.Typeflag == tar.TypeReg {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Layer is a layer tar holding one file per name, each of its own text.
func Layer(t testing.TB, names ...string) []byte {
	var es []Entry
	for _, n := range names {
		es = append(es, Entry{Name: n, Data: bytes.Repeat([]byte("content of "+n+"\n"), 20000)})
	}
	return Tar(t, es...)
}

// Sha is the digest of b.
func Sha(b []byte) digest.Digest { return digest.FromBytes(b) }

// Config is an image config whose diff IDs are those of layers.
func Config(t testing.TB, layers ...[]byte) []byte {
	cfg := map[string]any{"architecture": "amd64", "os": "linux", "config": map[string]any{"Env": []string{"A=1"}}}
	var ids []digest.Digest
	for _, l := range layers {
		ids = append(ids, Sha(l))
	}
	cfg["rootfs"] = map[string]any{"type": "layers", "diff_ids": ids}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// JSON is v marshalled, failing t when it cannot be.
func JSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// NixArchive is a docker-archive as nix's stream_layered_image writes it:
// <diff ID>/layer.tar in order, then <sha>.json, then manifest.json last.
func NixArchive(t testing.TB, repoTag string, layers ...[]byte) []byte {
	cfg := Config(t, layers...)
	var es []Entry
	var names []string
	for _, l := range layers {
		name := Sha(l).Encoded() + "/layer.tar"
		es = append(es, Entry{Name: Sha(l).Encoded(), Typeflag: tar.TypeDir}, Entry{Name: name, Data: l})
		names = append(names, name)
	}
	cfgName := Sha(cfg).Encoded() + ".json"
	es = append(es, Entry{Name: cfgName, Data: cfg},
		Entry{Name: "manifest.json", Data: JSON(t, []DockerEntry{{Config: cfgName, RepoTags: []string{repoTag}, Layers: names}})})
	return Tar(t, es...)
}

// DockerSave is docker save's layout since Docker 25: OCI blobs (layers
// uncompressed), index.json, oci-layout, and manifest.json naming blobs.
func DockerSave(t testing.TB, repoTag string, layers ...[]byte) []byte {
	cfg := Config(t, layers...)
	es := []Entry{{Name: "blobs/", Typeflag: tar.TypeDir}}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: Sha(cfg), Size: int64(len(cfg))}}
	m.SchemaVersion = 2
	var names []string
	for _, l := range layers {
		es = append(es, Entry{Name: "blobs/sha256/" + Sha(l).Encoded(), Data: l})
		names = append(names, "blobs/sha256/"+Sha(l).Encoded())
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: Sha(l), Size: int64(len(l))})
	}
	mb := JSON(t, m)
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: Sha(mb), Size: int64(len(mb)),
		Annotations: map[string]string{"io.containerd.image.name": "docker.io/library/" + repoTag, ocispec.AnnotationRefName: "latest"}}}}
	idx.SchemaVersion = 2
	return Tar(t, append(es,
		Entry{Name: "blobs/sha256/" + Sha(cfg).Encoded(), Data: cfg},
		Entry{Name: "blobs/sha256/" + Sha(mb).Encoded(), Data: mb},
		Entry{Name: "index.json", Data: JSON(t, idx)},
		Entry{Name: "manifest.json", Data: JSON(t, []DockerEntry{{Config: "blobs/sha256/" + Sha(cfg).Encoded(), RepoTags: []string{repoTag}, Layers: names}})},
		Entry{Name: "oci-layout", Data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
	)...)
}

// OCILayout is the files of an OCI layout of one image whose layers are
// gzip-compressed (as BuildKit and skopeo write them), in the order a
// directory walk gives: blobs first, index.json and oci-layout last.
func OCILayout(t testing.TB, annotations map[string]string, layers ...[]byte) ([]Entry, digest.Digest) {
	return OCILayoutWith(t, Config(t, layers...), annotations, layers...)
}

// OCILayoutWith is OCILayout with the config cfg, which may describe
// other layers than it holds.
func OCILayoutWith(t testing.TB, cfg []byte, annotations map[string]string, layers ...[]byte) ([]Entry, digest.Digest) {
	return OCILayoutTyped(t, cfg, ocispec.MediaTypeImageLayerGzip, annotations, layers...)
}

// OCILayoutTyped is OCILayoutWith with the layers' descriptors saying
// mediaType (they are gzip, whatever it says).
func OCILayoutTyped(t testing.TB, cfg []byte, mediaType string, annotations map[string]string, layers ...[]byte) ([]Entry, digest.Digest) {
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: Sha(cfg), Size: int64(len(cfg))}}
	m.SchemaVersion = 2
	es := []Entry{{Name: "blobs/sha256/" + Sha(cfg).Encoded(), Data: cfg}}
	for _, l := range layers {
		z := Compress(t, compression.Compression{Level: 1}, l)
		es = append(es, Entry{Name: "blobs/sha256/" + Sha(z).Encoded(), Data: z})
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: mediaType, Digest: Sha(z), Size: int64(len(z))})
	}
	mb := JSON(t, m)
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: Sha(mb), Size: int64(len(mb)), Annotations: annotations}}}
	idx.SchemaVersion = 2
	return append(es,
		Entry{Name: "blobs/sha256/" + Sha(mb).Encoded(), Data: mb},
		Entry{Name: "index.json", Data: JSON(t, idx)},
		Entry{Name: "oci-layout", Data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
	), Sha(mb)
}

// WriteDir writes entries as files under a new directory.
func WriteDir(t testing.TB, es []Entry) string {
	dir := t.TempDir()
	for _, e := range es {
		p := filepath.Join(dir, e.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, e.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Compress is b compressed as c says.
func Compress(t testing.TB, c compression.Compression, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := c.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// WriteFile writes b to a new file name, in a directory of its own.
func WriteFile(t testing.TB, name string, b []byte) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
