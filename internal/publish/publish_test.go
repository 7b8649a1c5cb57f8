package publish

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/push"
	"github.com/blumeops/build-push-image/internal/writer"
)

// d is the digest of the image the builder writes to a layout (layout).
var d = layout(nil, "")

// builder records the exports asked of it and fails push exports with
// pushErr; the e2e tests run the publishers against a real buildkitd.
// A layout export gets an image whose layer is its config's diff ID,
// unless lying (then the config names another).
type builder struct {
	exports []build.Export
	pushErr error
	lying   bool
}

func (b *builder) Build(_ context.Context, req build.Request) (build.Result, error) {
	b.exports = append(b.exports, req.Export)
	if len(req.Export.Push) > 0 && b.pushErr != nil {
		return build.Result{}, b.pushErr
	}
	if req.Export.Layout != "" {
		return build.Result{Digest: layout(b, req.Export.Layout)}, nil
	}
	return build.Result{Digest: d}, nil
}

// layout writes into dir (when not "") an OCI layout of one image of one
// gzip layer, and returns its digest.
func layout(b *builder, dir string) digest.Digest {
	var tarball, packed bytes.Buffer
	tw := tar.NewWriter(&tarball)
	_ = tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: 4})
	_, _ = tw.Write([]byte("data"))
	_ = tw.Close()
	zw := gzip.NewWriter(&packed)
	_, _ = zw.Write(tarball.Bytes())
	_ = zw.Close()
	diffID := digest.FromBytes(tarball.Bytes())
	if b != nil && b.lying {
		diffID = digest.FromString("another layer")
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + diffID.String() + `"]}}`)
	m := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
		digest.FromBytes(cfg).String() + `","size":` + fmt.Sprint(len(cfg)) + `},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` +
		digest.FromBytes(packed.Bytes()).String() + `","size":` + fmt.Sprint(packed.Len()) + `}]}`)
	md := digest.FromBytes(m)
	if dir == "" {
		return md
	}
	index := []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + md.String() + `","size":` + fmt.Sprint(len(m)) + `}]}`)
	_ = os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755)
	for _, blob := range [][]byte{cfg, packed.Bytes(), m} {
		_ = os.WriteFile(filepath.Join(dir, "blobs", "sha256", digest.FromBytes(blob).Encoded()), blob, 0o644)
	}
	_ = os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644)
	_ = os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	return md
}

// repository is a repository in memory: what the writer put in it.
type repository struct {
	mu        sync.Mutex // the writer uploads blobs concurrently
	blobs     map[digest.Digest][]byte
	manifests map[digest.Digest][]byte
}

func newRepository() *repository {
	return &repository{blobs: map[digest.Digest][]byte{}, manifests: map[digest.Digest][]byte{}}
}

func (r *repository) Tags(context.Context) ([]string, error) { return nil, nil }

func (r *repository) Manifest(context.Context, string) (string, []byte, bool, error) {
	return "", nil, false, nil
}

func (r *repository) Blob(_ context.Context, d digest.Digest) (io.ReadCloser, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return io.NopCloser(bytes.NewReader(r.blobs[d])), nil
}

func (r *repository) PutBlob(_ context.Context, desc ocispec.Descriptor, open func() (io.ReadCloser, error)) error {
	rc, err := open()
	if err != nil {
		return err
	}
	defer func() { _ = rc.Close() }()
	b, err := io.ReadAll(rc)
	if err == nil && digest.FromBytes(b) != desc.Digest {
		err = fmt.Errorf("blob %s uploaded as %s", desc.Digest, digest.FromBytes(b))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blobs[desc.Digest] = b
	return err
}

func (r *repository) PutManifest(_ context.Context, _ string, raw []byte) (digest.Digest, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.manifests[digest.FromBytes(raw)] = raw
	return digest.FromBytes(raw), nil
}

type quiet struct{}

func (quiet) Infof(string, ...any) {}

func auto(b *builder, r *repository, fell *error) Auto {
	return Auto{
		Fast:       BuildKit{Builder: b, Repositories: []string{"reg.example/a", "reg.example/b"}},
		Fallback:   Layout{Builder: b, Targets: []writer.Registry{r}, TempDir: os.TempDir(), Log: quiet{}},
		OnFallback: func(err error) { *fell = err },
	}
}

func TestAutoFallsBackOnlyWhenTheExportFailed(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pushErr  error
		fallback bool
	}{
		{"push works", nil, false},
		{"push failed after the build", fmt.Errorf("%w: connection reset", build.ErrExport), true},
		{"build failed", errors.New("build failed: RUN exit 1"), false},
	} {
		b, r := &builder{pushErr: tc.pushErr}, newRepository()
		var fell error
		res, err := auto(b, r, &fell).Publish(context.Background(), build.Request{})
		if tc.fallback != (fell != nil) || tc.fallback != (r.manifests[d] != nil) {
			t.Errorf("%s: fell back %v, manifests %d", tc.name, fell, len(r.manifests))
		}
		if wantErr := tc.pushErr != nil && !tc.fallback; wantErr != (err != nil) || (err == nil && res.Digest != d) {
			t.Errorf("%s: %v, %v", tc.name, res, err)
		}
		if p := b.exports[0].Push; len(p) != 2 {
			t.Errorf("%s: first export %v, want a push to both repositories", tc.name, b.exports[0])
		}
	}
}

func TestLayoutRemovedAfterUpload(t *testing.T) {
	b, r1, r2 := &builder{}, newRepository(), newRepository()
	// A RUNNER_TEMP with characters a reference would refuse: the layout
	// is read as a directory, never parsed as a reference.
	temp := filepath.Join(t.TempDir(), "run (1)@x:y")
	if err := os.Mkdir(temp, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := (Layout{Builder: b, Targets: []writer.Registry{r1, r2}, TempDir: temp, Log: quiet{}}).Publish(context.Background(), build.Request{}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*repository{r1, r2} {
		if r.manifests[d] == nil || len(r.blobs) != 2 {
			t.Fatalf("manifests %d, blobs %d of exports %v, want the layout uploaded to both", len(r.manifests), len(r.blobs), b.exports)
		}
	}
	if _, err := os.Stat(b.exports[0].Layout); !os.IsNotExist(err) {
		t.Errorf("layout %s left behind (%v)", b.exports[0].Layout, err)
	}
}

// *push.Registry is what run.go hands an Archive and a Layout.
var _ writer.Registry = (*push.Registry)(nil)

// TestLayoutLayerNotItsDiffID: BuildKit's layout is checked before its
// upload like an archive: a layer that is not its config's diff ID
// fails naming the layer, and no manifest is uploaded.
func TestLayoutLayerNotItsDiffID(t *testing.T) {
	b, r := &builder{lying: true}, newRepository()
	_, err := (Layout{Builder: b, Targets: []writer.Registry{r}, TempDir: t.TempDir(), Log: quiet{}}).Publish(context.Background(), build.Request{})
	if !errors.Is(err, ErrLayout) || !strings.Contains(err.Error(), "layer 1 of 1 (sha256:") || !strings.Contains(err.Error(), "its config says its diff ID is "+digest.FromString("another layer").String()) {
		t.Errorf("%v, want the layer named", err)
	}
	if len(r.manifests) != 0 {
		t.Errorf("uploaded %d manifests", len(r.manifests))
	}
}
