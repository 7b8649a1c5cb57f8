package publish

import (
	"context"

	"github.com/blumeops/build-push-image/internal/build"
)

// BuildKit lets buildkitd push the image by digest from its own store
// while it exports: no layout on disk, no second copy. buildkitd must reach
// the registry itself; the credentials go to it through the build session.
type BuildKit struct {
	Builder Builder
	// Repositories are where buildkitd pushes (host/path, no tag).
	Repositories []string
	// Insecure allows plain HTTP or an unverified certificate.
	Insecure bool
}

// Publish builds and pushes in one solve.
func (p BuildKit) Publish(ctx context.Context, req build.Request) (build.Result, error) {
	req.Export = build.Export{Push: p.Repositories, Insecure: p.Insecure}
	return p.Builder.Build(ctx, req)
}
