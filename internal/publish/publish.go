// Package publish gets a built image into the registry by digest: every
// blob and manifest, no tag. Each way of doing that is one Publisher in a
// file of its own; main chooses one, and the rest of the run never asks
// where the blobs came from. Tags are not a publisher's business: they are
// written afterwards, as one transaction (internal/tags).
package publish

import (
	"context"
	"fmt"

	"github.com/blumeops/build-push-image/internal/build"
)

// Publisher builds req and makes sure the image it produced is in the
// registry by digest. It returns the build's result.
type Publisher interface {
	Publish(ctx context.Context, req build.Request) (build.Result, error)
}

// Builder runs a build (internal/build's Builder).
type Builder interface {
	Build(ctx context.Context, req build.Request) (build.Result, error)
}

// Logger receives one line per step, for the job log.
type Logger interface {
	Infof(format string, args ...any)
}

// Via says who uploads the image: the push-via input.
type Via int

const (
	// ViaAuto: BuildKit, falling back to the action (Auto).
	ViaAuto Via = iota
	// ViaBuildKit: BuildKit alone (BuildKit).
	ViaBuildKit
	// ViaAction: the action alone, from an OCI layout (Layout).
	ViaAction
)

// ParseVia reads the push-via input.
func ParseVia(s string) (Via, error) {
	switch s {
	case "auto", "":
		return ViaAuto, nil
	case "buildkit":
		return ViaBuildKit, nil
	case "action":
		return ViaAction, nil
	}
	return 0, fmt.Errorf("%q is not one of auto, buildkit, action", s)
}
