package publish

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/blumeops/build-push-image/internal/archive"
	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/push"
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

type uploader struct{ layouts []string }

func (u *uploader) PushLayout(_ context.Context, layout string, got digest.Digest) error {
	if _, err := os.Stat(layout); err != nil || got.Validate() != nil {
		return fmt.Errorf("layout %s (%v) or digest %s wrong", layout, err, got)
	}
	u.layouts = append(u.layouts, layout)
	return nil
}

type quiet struct{}

func (quiet) Infof(string, ...any) {}

func auto(b *builder, u *uploader, fell *error) Auto {
	return Auto{
		Fast:     BuildKit{Builder: b, Repositories: []string{"reg.example/a", "reg.example/b"}},
		Fallback: Layout{Builder: b, Uploader: u, TempDir: os.TempDir(), Log: quiet{}},
		Fell:     func(err error) { *fell = err },
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
		b, u := &builder{pushErr: tc.pushErr}, &uploader{}
		var fell error
		res, err := auto(b, u, &fell).Publish(context.Background(), build.Request{})
		if tc.fallback != (fell != nil) || tc.fallback != (len(u.layouts) == 1) {
			t.Errorf("%s: fell back %v, uploads %v", tc.name, fell, u.layouts)
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
	b, u := &builder{}, &uploader{}
	if _, err := (Layout{Builder: b, Uploader: Uploaders{u, u}, TempDir: t.TempDir(), Log: quiet{}}).Publish(context.Background(), build.Request{}); err != nil {
		t.Fatal(err)
	}
	if len(u.layouts) != 2 || b.exports[0].Layout != u.layouts[0] {
		t.Fatalf("uploads %v of exports %v, want the layout uploaded to both", u.layouts, b.exports)
	}
	if _, err := os.Stat(u.layouts[0]); !os.IsNotExist(err) {
		t.Errorf("layout %s left behind (%v)", u.layouts[0], err)
	}
}

// *push.Registry is what run.go hands an Archive.
var _ archive.Registry = (*push.Registry)(nil)

// TestLayoutLayerNotItsDiffID: BuildKit's layout is checked before its
// upload like an archive: a layer that is not its config's diff ID
// fails naming the layer, and nothing is uploaded.
func TestLayoutLayerNotItsDiffID(t *testing.T) {
	b, u := &builder{lying: true}, &uploader{}
	_, err := (Layout{Builder: b, Uploader: u, TempDir: t.TempDir(), Log: quiet{}}).Publish(context.Background(), build.Request{})
	if !errors.Is(err, ErrLayout) || !strings.Contains(err.Error(), "layer 1 of 1 (sha256:") || !strings.Contains(err.Error(), "its config says its diff ID is "+digest.FromString("another layer").String()) {
		t.Errorf("%v, want the layer named", err)
	}
	if len(u.layouts) != 0 {
		t.Errorf("uploaded %v", u.layouts)
	}
}
