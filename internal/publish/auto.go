package publish

import (
	"context"
	"errors"

	"github.com/blumeops/build-push-image/internal/build"
)

// Auto is the default: BuildKit pushes (fast), and when that push fails
// after the image was built (buildkitd cannot reach the registry, refuses
// the session's credentials, or a fault outlasts its retries), the image
// is exported again, a cache hit, and uploaded by the action (Fallback).
type Auto struct {
	Fast     BuildKit
	Fallback Layout
	// OnFallback is told why the fallback was taken, before it runs.
	OnFallback func(err error)
}

// Publish tries Fast, then Fallback.
func (p Auto) Publish(ctx context.Context, req build.Request) (build.Result, error) {
	res, err := p.Fast.Publish(ctx, req)
	if err == nil || !errors.Is(err, build.ErrExport) || ctx.Err() != nil {
		return res, err
	}
	if p.OnFallback != nil {
		p.OnFallback(err)
	}
	return p.Fallback.Publish(ctx, req)
}
