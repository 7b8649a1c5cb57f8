package writer

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/blumeops/build-push-image/internal/compression"
)

// dockerEntry is one image of a docker-archive's manifest.json.
type dockerEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// entry is one member of a crafted tar.
type entry struct {
	name     string
	data     []byte
	typeflag byte
	link     string
}

func tarOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: time.Unix(1, 0), Typeflag: e.typeflag, Linkname: e.link, Format: tar.FormatPAX}
		if e.typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil && h.Typeflag == tar.TypeReg {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// layer is a layer tar holding one file per name, each of its own text.
func layer(t *testing.T, names ...string) []byte {
	var es []entry
	for _, n := range names {
		es = append(es, entry{name: n, data: bytes.Repeat([]byte("content of "+n+"\n"), 20000)})
	}
	return tarOf(t, es...)
}

func sha(b []byte) digest.Digest { return digest.FromBytes(b) }

func configOf(t *testing.T, layers ...[]byte) []byte {
	cfg := map[string]any{"architecture": "amd64", "os": "linux", "config": map[string]any{"Env": []string{"A=1"}}}
	var ids []digest.Digest
	for _, l := range layers {
		ids = append(ids, sha(l))
	}
	cfg["rootfs"] = map[string]any{"type": "layers", "diff_ids": ids}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jsonOf(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nixArchive is a docker-archive as nix's stream_layered_image writes it:
// <diff ID>/layer.tar in order, then <sha>.json, then manifest.json last.
func nixArchive(t *testing.T, repoTag string, layers ...[]byte) []byte {
	cfg := configOf(t, layers...)
	var es []entry
	var names []string
	for _, l := range layers {
		name := sha(l).Encoded() + "/layer.tar"
		es = append(es, entry{name: sha(l).Encoded(), typeflag: tar.TypeDir}, entry{name: name, data: l})
		names = append(names, name)
	}
	cfgName := sha(cfg).Encoded() + ".json"
	es = append(es, entry{name: cfgName, data: cfg},
		entry{name: "manifest.json", data: jsonOf(t, []dockerEntry{{Config: cfgName, RepoTags: []string{repoTag}, Layers: names}})})
	return tarOf(t, es...)
}

// dockerSave is docker save's layout since Docker 25: OCI blobs (layers
// uncompressed), index.json, oci-layout, and manifest.json naming blobs.
func dockerSave(t *testing.T, repoTag string, layers ...[]byte) []byte {
	cfg := configOf(t, layers...)
	es := []entry{{name: "blobs/", typeflag: tar.TypeDir}}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: sha(cfg), Size: int64(len(cfg))}}
	m.SchemaVersion = 2
	var names []string
	for _, l := range layers {
		es = append(es, entry{name: "blobs/sha256/" + sha(l).Encoded(), data: l})
		names = append(names, "blobs/sha256/"+sha(l).Encoded())
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: sha(l), Size: int64(len(l))})
	}
	mb := jsonOf(t, m)
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: sha(mb), Size: int64(len(mb)),
		Annotations: map[string]string{"io.containerd.image.name": "docker.io/library/" + repoTag, ocispec.AnnotationRefName: "latest"}}}}
	idx.SchemaVersion = 2
	return tarOf(t, append(es,
		entry{name: "blobs/sha256/" + sha(cfg).Encoded(), data: cfg},
		entry{name: "blobs/sha256/" + sha(mb).Encoded(), data: mb},
		entry{name: "index.json", data: jsonOf(t, idx)},
		entry{name: "manifest.json", data: jsonOf(t, []dockerEntry{{Config: "blobs/sha256/" + sha(cfg).Encoded(), RepoTags: []string{repoTag}, Layers: names}})},
		entry{name: "oci-layout", data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
	)...)
}

// ociLayout is the files of an OCI layout of one image whose layers are
// gzip-compressed (as BuildKit and skopeo write them), in the order a
// directory walk gives: blobs first, index.json and oci-layout last.
func ociLayout(t *testing.T, annotations map[string]string, layers ...[]byte) ([]entry, digest.Digest) {
	return ociLayoutWith(t, configOf(t, layers...), annotations, layers...)
}

// ociLayoutWith is ociLayout with the config cfg, which may describe
// other layers than it holds.
func ociLayoutWith(t *testing.T, cfg []byte, annotations map[string]string, layers ...[]byte) ([]entry, digest.Digest) {
	return ociLayoutTyped(t, cfg, ocispec.MediaTypeImageLayerGzip, annotations, layers...)
}

// ociLayoutTyped is ociLayoutWith with the layers' descriptors saying
// mediaType (they are gzip, whatever it says).
func ociLayoutTyped(t *testing.T, cfg []byte, mediaType string, annotations map[string]string, layers ...[]byte) ([]entry, digest.Digest) {
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: sha(cfg), Size: int64(len(cfg))}}
	m.SchemaVersion = 2
	es := []entry{{name: "blobs/sha256/" + sha(cfg).Encoded(), data: cfg}}
	for _, l := range layers {
		z := compress(t, compression.Compression{Level: 1}, l)
		es = append(es, entry{name: "blobs/sha256/" + sha(z).Encoded(), data: z})
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: mediaType, Digest: sha(z), Size: int64(len(z))})
	}
	mb := jsonOf(t, m)
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: sha(mb), Size: int64(len(mb)), Annotations: annotations}}}
	idx.SchemaVersion = 2
	return append(es,
		entry{name: "blobs/sha256/" + sha(mb).Encoded(), data: mb},
		entry{name: "index.json", data: jsonOf(t, idx)},
		entry{name: "oci-layout", data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
	), sha(mb)
}

// writeDir writes entries as files under a new directory.
func writeDir(t *testing.T, es []entry) string {
	dir := t.TempDir()
	for _, e := range es {
		p := filepath.Join(dir, e.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, e.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func compress(t *testing.T, c compression.Compression, b []byte) []byte {
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

func writeFile(t *testing.T, name string, b []byte) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// memRegistry keeps what was uploaded, to look at in unit tests; the
// integration test pushes to the rig's real registry.
type memRegistry struct {
	mu        sync.Mutex
	blobs     map[digest.Digest][]byte
	manifests map[string][]byte // by digest and by tag
	types     map[string]string
	puts      int
}

func newMem() *memRegistry {
	return &memRegistry{blobs: map[digest.Digest][]byte{}, manifests: map[string][]byte{}, types: map[string]string{}}
}

func (m *memRegistry) Tags(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var tags []string
	for k := range m.manifests {
		if _, err := digest.Parse(k); err != nil {
			tags = append(tags, k)
		}
	}
	return tags, nil
}

func (m *memRegistry) Manifest(_ context.Context, ref string) (string, []byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	raw, ok := m.manifests[ref]
	return m.types[ref], raw, ok, nil
}

func (m *memRegistry) Blob(_ context.Context, d digest.Digest) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[d]
	if !ok {
		return nil, fmt.Errorf("blob %s unknown", d)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *memRegistry) PutBlob(_ context.Context, desc ocispec.Descriptor, open func() (io.ReadCloser, error)) error {
	m.mu.Lock()
	_, has := m.blobs[desc.Digest]
	m.mu.Unlock()
	if has {
		return nil
	}
	r, err := open()
	if err != nil {
		return err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if sha(b) != desc.Digest || int64(len(b)) != desc.Size {
		return fmt.Errorf("blob %s: got %s, %d bytes", desc.Digest, sha(b), len(b))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs[desc.Digest] = b
	m.puts++
	return nil
}

func (m *memRegistry) PutManifest(_ context.Context, mediaType string, raw []byte) (digest.Digest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := sha(raw)
	m.manifests[d.String()], m.types[d.String()] = raw, mediaType
	return d, nil
}

// tag points tag at manifest d, as the run's tag writer would.
func (m *memRegistry) tag(d digest.Digest, tag string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.manifests[tag], m.types[tag] = m.manifests[d.String()], m.types[d.String()]
}
