package publish

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/source"
	"github.com/blumeops/build-push-image/internal/writer"
)

// ErrLayout is BuildKit's layout failing the action's check: a layer
// that is not its config's diff ID, a blob that is not its digest.
var ErrLayout = errors.New("the image built does not pass the check before its upload")

// Layout exports the image as an OCI layout into a temporary directory and
// uploads it through the action's own writer (internal/writer), as an
// archive's OCI layout is: every blob once, mounted into the other
// repositories of a registry, skipped where a repository holds it, over
// the action's own transport (retries, Retry-After, stall timeouts, redone
// uploads). The directory is removed however the run ends.
type Layout struct {
	Builder Builder
	// Targets are the repositories (internal/push's Registry), in the
	// order of the image input.
	Targets []writer.Registry
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
	// Every layer is checked against its config's diff ID before a
	// manifest is uploaded, as an archive's are: a signature over this
	// image vouches for layers the action checked, whoever made them.
	_, _, err = writer.Publish(ctx, p.Targets, writer.Options{Path: dir, Top: res.Digest, TempDir: p.TempDir})
	if errors.Is(err, source.ErrBad) {
		return res, fmt.Errorf("%w: BuildKit's OCI layout of %s: %v", ErrLayout, res.Digest, err)
	}
	if err != nil {
		return res, err
	}
	p.Log.Infof("Uploaded %s from an OCI layout in %s (its layers checked against their diff IDs beside the uploads)", res.Digest, time.Since(start).Round(time.Millisecond))
	return res, nil
}
