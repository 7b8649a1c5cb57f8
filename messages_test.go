package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/buildkitd"
	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/push"
	"github.com/blumeops/build-push-image/internal/run"
	"github.com/blumeops/build-push-image/internal/sign"
	"github.com/blumeops/build-push-image/internal/source"
)

// TestLinesLookedUp: the line a user reads is the one of the outermost
// typed error of the chain, whatever it wraps (a buildkitd that could not
// be started wraps the unreachable address; a signature the registry
// refused wraps the refusal), and a bad archive's advice follows the
// run's origin: a stream's writer is at fault, a path's maker wrote
// something else.
func TestLinesLookedUp(t *testing.T) {
	unreachable := fmt.Errorf("%w at unix:///b: %w", build.ErrUnreachable, errors.New("dial"))
	denied := &push.ResponseError{Method: "PUT", Path: "/v2/app/manifests/sha256:1", Status: 403}
	notAnArchive := fmt.Errorf("publish: %w", &source.Error{Reason: "it is no tar", Kind: source.ErrBad})
	for _, c := range []struct {
		origin config.Origin
		err    error
		want   string
	}{
		{config.Origin{}, unreachable,
			"buildkit-address: no buildkitd answers at unix:///b; start buildkitd there or point buildkit-address (or BUILDKIT_HOST) at one (" + unreachable.Error() + ")"},
		{config.Origin{}, fmt.Errorf("%w: nothing answers (%w)", buildkitd.ErrNoDaemon, unreachable),
			"buildkit-address: no buildkitd: nothing answers (" + unreachable.Error() + "); set buildkit-address (or BUILDKIT_HOST) to a running buildkitd, or install buildkitd and runc, or Docker, on the runner"},
		{config.Origin{}, fmt.Errorf("reg/app@sha256:1: %w", fmt.Errorf("%w: %w", sign.ErrSignature, denied)),
			"signing-key: reg/app@sha256:1: the signature could not be stored: PUT /v2/app/manifests/sha256:1: HTTP 403; no tag was written, nothing released: re-run once the registry takes the signature (an OCI 1.1 manifest whose subject is the image, listed through the referrers API or the sha256-<digest> referrers tag)"},
		{config.Origin{Kind: config.ArchiveFile, Path: "result"}, notAnArchive,
			"archive: result: it is no tar; give archive the path of a docker-archive, OCI archive or OCI layout directory as the tool that made it wrote it"},
		{config.Origin{Kind: config.ArchiveProgram, Path: "result"}, notAnArchive,
			"archive: result: it is no tar; nothing was tagged: check the program that writes the image"},
		{config.Origin{Kind: config.ArchiveStdin, Path: "-"}, notAnArchive,
			"archive: -: it is no tar; nothing was tagged: check the program that writes the image"},
	} {
		p := &run.Pipeline{Cfg: config.Config{Origin: c.origin, Image: "reg/app", BuildkitAddress: "unix:///b"}}
		if got := explain(context.Background(), p, c.err); got != c.want {
			t.Errorf("%v:\n got %s\nwant %s", c.err, got, c.want)
		}
	}
}
