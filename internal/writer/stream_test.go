package writer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/blumeops/build-push-image/internal/compression"
	"github.com/blumeops/build-push-image/internal/source"
)

// fakeStream is an archive as a program writes it, with the program's
// verdict.
type fakeStream struct {
	io.Reader
	verdict  error
	finished []error
}

func (s *fakeStream) Finish(readErr error) error {
	s.finished = append(s.finished, readErr)
	return s.verdict
}

func TestStreamGivesTheFilesDigest(t *testing.T) {
	layers := [][]byte{layer(t, "nix/store/a"), layer(t, "nix/store/b")}
	tarball := nixArchive(t, "app:1", layers...)
	file := writeFile(t, "image.tar.gz", compressDefault(t, tarball))
	want, _, err := publish(t, file, Options{}, newMem())
	if err != nil {
		t.Fatal(err)
	}
	reg := newMem()
	s := &fakeStream{Reader: bytes.NewReader(tarball)}
	got, _, err := publish(t, "result", Options{Stream: s}, reg)
	if err != nil || got != want {
		t.Fatalf("stream: %s %v, want the gzipped file's %s", got, err, want)
	}
	if len(s.finished) != 1 || s.finished[0] != nil {
		t.Errorf("Finish told %v, want once, nil", s.finished)
	}
	pushed(t, reg, got, configOf(t, layers...), layers...)
}

func TestStreamWritersFailureComesFirst(t *testing.T) {
	tarball := nixArchive(t, "app:1", layer(t, "nix/store/a"))
	failed := errors.New("the program exited with status 3")
	for name, s := range map[string]*fakeStream{
		"whole image, then failed": {Reader: bytes.NewReader(tarball), verdict: failed},
		"cut short, then failed":   {Reader: bytes.NewReader(tarball[:len(tarball)/2]), verdict: failed},
	} {
		reg := newMem()
		if _, _, err := publish(t, "result", Options{Stream: s}, reg); !errors.Is(err, failed) {
			t.Errorf("%s: %v, want the program's failure", name, err)
		}
		if len(reg.manifests) != 0 {
			t.Errorf("%s: %d manifests put", name, len(reg.manifests))
		}
	}
	s := &fakeStream{Reader: bytes.NewReader(tarball[:len(tarball)/2])}
	if _, _, err := publish(t, "result", Options{Stream: s}, newMem()); !errors.Is(err, source.ErrBad) || len(s.finished) != 1 || s.finished[0] == nil {
		t.Errorf("cut short, exit 0: %v (Finish told %v), want a bad archive and Finish told why", err, s.finished)
	}
}

func TestKnownLayerMustHaveTheBytesItsNameSays(t *testing.T) {
	a, b := layer(t, "nix/store/a"), layer(t, "nix/store/b")
	reg := newMem()
	d, _, err := publish(t, writeFile(t, "1.tar", nixArchive(t, "app:1", a)), Options{}, reg)
	if err != nil {
		t.Fatal(err)
	}
	reg.tag(d, "v1.0.0")
	known, err := Learn(context.Background(), []Registry{reg}, nil, "", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	// b's bytes under a's name (a known diff ID), the config saying b.
	lying := members(t, nixArchive(t, "app:2", b), "")
	for i := range lying {
		if lying[i].Name == sha(b).Encoded()+"/layer.tar" {
			lying[i].Name = sha(a).Encoded() + "/layer.tar"
		}
		if lying[i].Name == "manifest.json" {
			lying[i].Data = bytes.ReplaceAll(lying[i].Data, []byte(sha(b).Encoded()+"/layer.tar"), []byte(sha(a).Encoded()+"/layer.tar"))
		}
	}
	_, _, err = publish(t, writeFile(t, "2.tar", tarOf(t, lying...)), Options{Known: known}, reg)
	if !errors.Is(err, source.ErrBad) || !bytes.Contains([]byte(err.Error()), []byte("is named for sha256 "+sha(a).Encoded())) {
		t.Errorf("%v, want the name refused", err)
	}
}

// parsed are names as the platforms input is parsed, once.
func parsed(names ...string) []ocispec.Platform {
	var out []ocispec.Platform
	for _, n := range names {
		out = append(out, platforms.Normalize(platforms.MustParse(n)))
	}
	return out
}

func TestPlatformsChecked(t *testing.T) {
	tarball := nixArchive(t, "app:1", layer(t, "nix/store/a"))
	for _, c := range []struct {
		platforms []string
		ok        bool
	}{{nil, true}, {[]string{"linux/amd64"}, true}, {[]string{"linux/arm64"}, false}, {[]string{"linux/amd64", "linux/arm64"}, false}} {
		reg := newMem()
		_, _, err := publish(t, "result", Options{Stream: &fakeStream{Reader: bytes.NewReader(tarball)}, Platforms: parsed(c.platforms...)}, reg)
		switch {
		case c.ok && err != nil:
			t.Errorf("%v: %v", c.platforms, err)
		case !c.ok && (!errors.Is(err, source.ErrPlatform) || err.Error() != "it is an image for linux/amd64, not for linux/arm64"):
			t.Errorf("%v: %v, want source.ErrPlatform naming both", c.platforms, err)
		case !c.ok && (len(reg.blobs) != 0 || len(reg.manifests) != 0):
			t.Errorf("%v: %d blobs uploaded, want none", c.platforms, len(reg.blobs))
		}
	}
}

// ociImageFor is the blobs of one image whose config says arch, and its
// manifest's descriptor.
func ociImageFor(t *testing.T, arch string) ([]entry, ocispec.Descriptor) {
	l := compress(t, compression.Compression{Level: 1}, layer(t, "nix/store/"+arch))
	cfg := bytes.Replace(configOf(t, layer(t, "nix/store/"+arch)), []byte(`"amd64"`), []byte(`"`+arch+`"`), 1)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: sha(cfg), Size: int64(len(cfg))},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: sha(l), Size: int64(len(l))}}}
	m.SchemaVersion = 2
	mb := jsonOf(t, m)
	return []entry{{Name: "blobs/sha256/" + sha(cfg).Encoded(), Data: cfg}, {Name: "blobs/sha256/" + sha(l).Encoded(), Data: l}, {Name: "blobs/sha256/" + sha(mb).Encoded(), Data: mb}},
		ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: sha(mb), Size: int64(len(mb))}
}

func TestPlatformsOfAnIndex(t *testing.T) {
	var es []entry
	var idx ocispec.Index
	for _, arch := range []string{"amd64", "arm64"} {
		blobs, desc := ociImageFor(t, arch)
		es, idx.Manifests = append(es, blobs...), append(idx.Manifests, desc)
	}
	idx.SchemaVersion, idx.MediaType = 2, ocispec.MediaTypeImageIndex
	ib := jsonOf(t, idx)
	top := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageIndex, Digest: sha(ib), Size: int64(len(ib))}}}
	top.SchemaVersion = 2
	es = append(es, entry{Name: "blobs/sha256/" + sha(ib).Encoded(), Data: ib}, entry{Name: "index.json", Data: jsonOf(t, top)}, entry{Name: "oci-layout", Data: []byte(`{"imageLayoutVersion":"1.0.0"}`)})
	file := writeFile(t, "index.tar", tarOf(t, es...))
	reg := newMem()
	if _, _, err := publish(t, file, Options{Platforms: parsed("linux/arm64")}, reg); err != nil || len(reg.manifests) != 3 {
		t.Errorf("an index holding linux/arm64 and more: %v, %d manifests pushed, want the whole index", err, len(reg.manifests))
	}
	reg = newMem()
	_, _, err := publish(t, file, Options{Platforms: parsed("linux/amd64", "linux/s390x")}, reg)
	if !errors.Is(err, source.ErrPlatform) || err.Error() != "it is an image for linux/amd64, linux/arm64, not for linux/s390x" || len(reg.blobs) != 0 {
		t.Errorf("an index lacking linux/s390x: %v, %d blobs uploaded; want source.ErrPlatform naming both, nothing uploaded", err, len(reg.blobs))
	}
}

// refusing is a registry that refuses every blob upload.
type refusing struct {
	*memRegistry
	refusal error
}

func (r refusing) PutBlob(context.Context, ocispec.Descriptor, func() (io.ReadCloser, error)) error {
	return r.refusal
}

// zeros never ends: the rest of a layer a program is still writing.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestStreamFirstErrorWins: the registry refuses the first layer's upload
// while the program still writes the next one; the reading stops and
// Finish kills the program, whose verdict is then the kill: the error is
// the registry's refusal, never the action's own stop of the program.
func TestStreamFirstErrorWins(t *testing.T) {
	first := layer(t, "nix/store/a")
	var prefix bytes.Buffer
	tw := tar.NewWriter(&prefix)
	for _, e := range []struct {
		name string
		size int64
	}{{sha(first).Encoded() + "/layer.tar", int64(len(first))}, {sha([]byte("b")).Encoded() + "/layer.tar", 8 << 30}} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o444, Size: e.size}); err != nil {
			t.Fatal(err)
		}
		if e.size == int64(len(first)) {
			_, _ = tw.Write(first)
		}
	}
	refusal := errors.New("HTTP 401: credentials rejected")
	killed := errors.New("the program writing the image failed: it was killed by signal killed")
	s := &fakeStream{Reader: io.MultiReader(bytes.NewReader(prefix.Bytes()), zeros{}), verdict: killed}
	_, _, err := publish(t, "result", Options{Stream: s}, refusing{newMem(), refusal})
	if !errors.Is(err, refusal) || errors.Is(err, killed) {
		t.Errorf("got %v, want the registry's refusal, not the program's kill", err)
	}
	if len(s.finished) != 1 || s.finished[0] == nil {
		t.Errorf("Finish told %v, want once, why reading stopped", s.finished)
	}
}
