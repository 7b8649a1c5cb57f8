package publish

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/blumeops/build-push-image/internal/archive"
	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/push"
)

const d = digest.Digest("sha256:1111111111111111111111111111111111111111111111111111111111111111")

// builder records the exports asked of it and fails push exports with
// pushErr; the e2e tests run the publishers against a real buildkitd.
type builder struct {
	exports []build.Export
	pushErr error
}

func (b *builder) Build(_ context.Context, req build.Request) (build.Result, error) {
	b.exports = append(b.exports, req.Export)
	if len(req.Export.Push) > 0 && b.pushErr != nil {
		return build.Result{}, b.pushErr
	}
	return build.Result{Digest: d}, nil
}

type uploader struct{ layouts []string }

func (u *uploader) PushLayout(_ context.Context, layout string, got digest.Digest) error {
	if _, err := os.Stat(layout); err != nil || got != d {
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
