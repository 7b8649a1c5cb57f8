package publish

import (
	"context"

	"github.com/blumeops/build-push-image/internal/build"
)

// BuildOnly publishes nothing (push: false): the image stays in buildkitd,
// and the run still learns its digest.
type BuildOnly struct {
	Builder Builder
}

// Publish builds with no export.
func (p BuildOnly) Publish(ctx context.Context, req build.Request) (build.Result, error) {
	req.Export = build.Export{}
	return p.Builder.Build(ctx, req)
}
