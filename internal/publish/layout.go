package publish

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/blumeops/build-push-image/internal/build"
)

// Layout exports the image as an OCI layout into a temporary directory and
// uploads it through the action's own transport (retries, Retry-After,
// stall timeouts, redone uploads). The directory is removed however the
// run ends.
type Layout struct {
	Builder  Builder
	Uploader Uploader
	// TempDir is where the layout directory is made ($RUNNER_TEMP).
	TempDir string
	Log     Logger
}

// Publish builds into the layout, then uploads it by digest.
func (p Layout) Publish(ctx context.Context, req build.Request) (build.Result, error) {
	dir, err := os.MkdirTemp(p.TempDir, "build-push-image-")
	if err != nil {
		return build.Result{}, fmt.Errorf("temp dir: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	req.Export = build.Export{Layout: dir}
	res, err := p.Builder.Build(ctx, req)
	if err != nil {
		return res, err
	}
	start := time.Now()
	if err := p.Uploader.PushLayout(ctx, dir, res.Digest); err != nil {
		return res, err
	}
	p.Log.Infof("Uploaded %s from an OCI layout in %s", res.Digest, time.Since(start).Round(time.Millisecond))
	return res, nil
}
