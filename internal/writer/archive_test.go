package writer

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/blumeops/build-push-image/internal/compression"
	"github.com/blumeops/build-push-image/internal/source"
)

var defaultCompression = compression.Compression{}

var annotations = map[string]string{ocispec.AnnotationVersion: "v1.2.0", ocispec.AnnotationRevision: "abc"}

func publish(t *testing.T, path string, o Options, targets ...Registry) (digest.Digest, Stats, error) {
	t.Helper()
	o.Path = path
	if o.TempDir == "" {
		o.TempDir = t.TempDir()
	}
	if o.Annotations == nil {
		o.Annotations = annotations
	}
	d, s, err := Publish(context.Background(), targets, o)
	if entries, _ := os.ReadDir(o.TempDir); len(entries) != 0 {
		t.Errorf("left in the temporary directory: %v", entries)
	}
	return d, s, err
}

// pushed reads back the manifest d put into reg, and checks what a puller
// would: the config is the archive's, each layer unpacks to the layer
// tar the archive held.
func pushed(t *testing.T, reg *memRegistry, d digest.Digest, cfg []byte, layers ...[]byte) ocispec.Manifest {
	t.Helper()
	var m ocispec.Manifest
	if err := json.Unmarshal(reg.manifests[d.String()], &m); err != nil {
		t.Fatalf("manifest %s: %v", d, err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest || reg.types[d.String()] != ocispec.MediaTypeImageManifest {
		t.Errorf("media type %s / %s, want OCI", m.MediaType, reg.types[d.String()])
	}
	if cfg != nil && !bytes.Equal(reg.blobs[m.Config.Digest], cfg) {
		t.Errorf("config blob is not the archive's")
	}
	if len(m.Layers) != len(layers) {
		t.Fatalf("%d layers, want %d", len(m.Layers), len(layers))
	}
	for i, l := range m.Layers {
		r, _, err := compression.NewReader(bytes.NewReader(reg.blobs[l.Digest]))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, layers[i]) {
			t.Errorf("layer %d (%s) does not unpack to the archive's (%v)", i, l.MediaType, err)
		}
	}
	return m
}

func TestDockerArchivesOfEveryLayout(t *testing.T) {
	l1, l2 := layer(t, "nix/store/a/bin/app"), layer(t, "nix/store/b/lib/libc.so")
	cfg := configOf(t, l1, l2)
	nix := nixArchive(t, "app:1.2.0", l1, l2)
	var first digest.Digest
	for _, tc := range []struct {
		name string
		file []byte
	}{
		{"nix, plain", nix},
		{"nix, gzip", compress(t, compression.Compression{}, nix)},
		{"nix, zstd", compress(t, compression.Compression{Algorithm: compression.Zstd}, nix)},
		{"docker save (index.json too)", dockerSave(t, "app:1.2.0", l1, l2)},
	} {
		reg := newMem()
		// reached through a symlink named result, as nix-build leaves it
		file := writeFile(t, "archive", tc.file)
		link := filepath.Join(filepath.Dir(file), "result")
		if err := os.Symlink(file, link); err != nil {
			t.Fatal(err)
		}
		d, stats, err := publish(t, link, Options{}, reg)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		m := pushed(t, reg, d, cfg, l1, l2)
		if m.Annotations["org.opencontainers.image.version"] != "v1.2.0" || m.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip {
			t.Errorf("%s: manifest %+v", tc.name, m)
		}
		if stats.Format != "docker-archive" || stats.Compressed != 2 || stats.Reused != 0 {
			t.Errorf("%s: stats %+v", tc.name, stats)
		}
		// the same image gives the same digest, however it was packed
		if first == "" {
			first = d
		} else if d != first {
			t.Errorf("%s: digest %s, the plain archive's was %s", tc.name, d, first)
		}
	}
}

func TestDockerSaveLegacyLinksDuplicateLayers(t *testing.T) {
	l := layer(t, "etc/os-release")
	cfg := configOf(t, l, l)
	a := tarOf(t,
		entry{Name: "aaaa/layer.tar", Data: l},
		entry{Name: "bbbb/layer.tar", Typeflag: tar.TypeSymlink, Link: "../aaaa/layer.tar"},
		entry{Name: "c.json", Data: cfg},
		entry{Name: "manifest.json", Data: jsonOf(t, []dockerEntry{{Config: "c.json", RepoTags: []string{"x:1"}, Layers: []string{"aaaa/layer.tar", "bbbb/layer.tar"}}})})
	reg := newMem()
	d, _, err := publish(t, writeFile(t, "a.tar", a), Options{}, reg)
	if err != nil {
		t.Fatal(err)
	}
	pushed(t, reg, d, cfg, l, l)
}

func TestCompressionChosenAndDeterministic(t *testing.T) {
	l1 := layer(t, "a")
	file := writeFile(t, "a.tar", nixArchive(t, "a:1", l1))
	for _, c := range []compression.Compression{{Algorithm: compression.Zstd}, {Algorithm: compression.Uncompressed}, {Level: 9}} {
		reg := newMem()
		d1, _, err := publish(t, file, Options{Compression: c}, reg)
		if err != nil {
			t.Fatal(err)
		}
		m := pushed(t, reg, d1, nil, l1)
		if m.Layers[0].MediaType != c.MediaType() {
			t.Errorf("%+v: layer media type %s", c, m.Layers[0].MediaType)
		}
		d2, _, err := publish(t, file, Options{Compression: c, CompareOnly: true})
		if err != nil || d2 != d1 {
			t.Errorf("%+v: compare-only gave %s (%v), the push %s", c, d2, err, d1)
		}
	}
}

func TestOCIArchiveAndLayoutKeepTheirDigests(t *testing.T) {
	l1, l2 := layer(t, "a"), layer(t, "b")
	es, want := ociLayout(t, map[string]string{ocispec.AnnotationRefName: "v1"}, l1, l2)
	withManifestJSON := append([]entry{}, es...)
	withManifestJSON = append(withManifestJSON, entry{Name: "manifest.json", Data: jsonOf(t, []dockerEntry{{
		Config: es[0].Name, RepoTags: []string{"app:1"}, Layers: []string{es[1].Name, es[2].Name}}})})
	for name, path := range map[string]string{
		"OCI archive": writeFile(t, "oci.tar", tarOf(t, es...)),
		"OCI archive with a manifest.json too (containerd's docker save)": writeFile(t, "oci.tar", tarOf(t, withManifestJSON...)),
		"gzip OCI archive": writeFile(t, "oci.tar.gz", compress(t, compression.Compression{}, tarOf(t, es...))),
		"OCI layout":       writeDir(t, es),
	} {
		reg := newMem()
		d, stats, err := publish(t, path, Options{}, reg)
		if err != nil || d != want {
			t.Fatalf("%s: %s, %v; want %s", name, d, err, want)
		}
		if !strings.HasPrefix(stats.Format, "OCI") || len(reg.blobs) != 3 {
			t.Errorf("%s: %+v, %d blobs", name, stats, len(reg.blobs))
		}
		for _, e := range es {
			if strings.HasPrefix(e.Name, "blobs/") && !bytes.Equal(reg.blobs[sha(e.Data)], e.Data) && reg.manifests[sha(e.Data).String()] == nil {
				t.Errorf("%s: %s not pushed as it is", name, e.Name)
			}
		}
	}
}

func TestChoosingAnImage(t *testing.T) {
	l1, l2 := layer(t, "a"), layer(t, "b")
	one, two := nixArchive(t, "team/app:1.0", l1), nixArchive(t, "team/app:2.0", l2)
	// two images in one manifest.json
	var m1, m2 []dockerEntry
	json.Unmarshal(lastEntry(t, one), &m1)
	json.Unmarshal(lastEntry(t, two), &m2)
	both := append(members(t, one, "manifest.json"), members(t, two, "manifest.json")...)
	both = append(both, entry{Name: "manifest.json", Data: jsonOf(t, append(m1, m2...))})
	file := writeFile(t, "two.tar", tarOf(t, both...))
	_, _, err := publish(t, file, Options{})
	if !errors.Is(err, source.ErrChoose) || !errors.Is(err, source.ErrBad) || !strings.Contains(err.Error(), "team/app:1.0") || strings.Contains(err.Error(), "archive-image") {
		t.Fatalf("no choice: %v", err)
	}
	reg := newMem()
	d, _, err := publish(t, file, Options{Choice: "app:2.0"}, reg)
	if err != nil {
		t.Fatal(err)
	}
	pushed(t, reg, d, configOf(t, l2), l2)
	if _, _, err := publish(t, file, Options{Choice: "app:3.0"}); !errors.Is(err, source.ErrChoose) {
		t.Errorf("a choice matching nothing: %v", err)
	}
	if _, _, err := publish(t, file, Options{Choice: "linux/amd64"}); !errors.Is(err, source.ErrChoose) {
		t.Errorf("a platform both have: %v", err)
	}
}

func TestPlatformPicksOneManifestOfAnIndex(t *testing.T) {
	l1, l2 := layer(t, "amd"), layer(t, "arm")
	esA, dA := ociLayout(t, nil, l1)
	esB, dB := ociLayout(t, nil, l2)
	var es []entry
	var manifests []ocispec.Descriptor
	for i, set := range [][]entry{esA, esB} {
		es = append(es, set[:len(set)-2]...) // blobs only
		m := set[len(set)-3].Data
		plat := [...]string{"amd64", "arm64"}[i]
		manifests = append(manifests, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: sha(m), Size: int64(len(m)), Platform: &ocispec.Platform{OS: "linux", Architecture: plat}})
	}
	inner := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests}
	inner.SchemaVersion = 2
	ib := jsonOf(t, inner)
	top := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageIndex, Digest: sha(ib), Size: int64(len(ib))}}}
	top.SchemaVersion = 2
	es = append(es, entry{Name: "blobs/sha256/" + sha(ib).Encoded(), Data: ib}, entry{Name: "index.json", Data: jsonOf(t, top)}, entry{Name: "oci-layout", Data: []byte(`{"imageLayoutVersion":"1.0.0"}`)})
	file := writeFile(t, "multi.tar", tarOf(t, es...))
	for choice, want := range map[string]digest.Digest{"": sha(ib), "linux/arm64": dB, "linux/amd64": dA} {
		reg := newMem()
		d, _, err := publish(t, file, Options{Choice: choice}, reg)
		if err != nil || d != want {
			t.Errorf("choice %q: %s, %v; want %s", choice, d, err, want)
		}
		if choice == "" && len(reg.manifests) != 3 {
			t.Errorf("the whole index: %d manifests pushed, want 3", len(reg.manifests))
		}
	}
}

// members are the entries of a crafted tar but except.
func members(t *testing.T, b []byte, except string) []entry {
	var es []entry
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return es
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if h.Name != except {
			es = append(es, entry{Name: h.Name, Data: data, Typeflag: h.Typeflag, Link: h.Linkname})
		}
	}
}

func lastEntry(t *testing.T, b []byte) []byte {
	es := members(t, b, "")
	return es[len(es)-1].Data
}

// ko and crane write docker-archives whose layers are gzip files: they
// are pushed as they are, checked against the diff IDs unpacked.
func TestDockerArchiveOfCompressedLayers(t *testing.T) {
	l1, l2 := layer(t, "ko-app"), layer(t, "base")
	z1, z2 := compress(t, compression.Compression{Level: 1}, l1), compress(t, compression.Compression{Algorithm: compression.Zstd}, l2)
	cfg := configOf(t, l1, l2)
	archive := func(cfg []byte) string {
		return writeFile(t, "ko.tar", tarOf(t,
			entry{Name: "sha256:" + sha(cfg).Encoded(), Data: cfg},
			entry{Name: sha(z1).Encoded() + ".tar.gz", Data: z1},
			entry{Name: sha(z2).Encoded() + ".tar.zst", Data: z2},
			entry{Name: "manifest.json", Data: jsonOf(t, []dockerEntry{{Config: "sha256:" + sha(cfg).Encoded(), RepoTags: []string{"ko.local/app:latest"},
				Layers: []string{sha(z1).Encoded() + ".tar.gz", sha(z2).Encoded() + ".tar.zst"}}})}))
	}
	reg := newMem()
	d, stats, err := publish(t, archive(cfg), Options{}, reg)
	if err != nil {
		t.Fatal(err)
	}
	m := pushed(t, reg, d, cfg, l1, l2)
	if m.Layers[0].Digest != sha(z1) || m.Layers[1].MediaType != ocispec.MediaTypeImageLayerZstd || stats.Compressed != 0 {
		t.Errorf("layers %+v, stats %+v: want the archive's blobs as they are", m.Layers, stats)
	}
	if cd, _, err := publish(t, archive(cfg), Options{CompareOnly: true}); err != nil || cd != d {
		t.Errorf("compare-only: %s %v, want %s", cd, err, d)
	}
	if _, _, err := publish(t, archive(configOf(t, l2, l1)), Options{}); !errors.Is(err, source.ErrBad) || !strings.Contains(err.Error(), "unpacked") {
		t.Errorf("swapped diff IDs: %v", err)
	}
}
