package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/sethvargo/go-githubactions"

	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/buildkitd"
	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/input"
	"github.com/blumeops/build-push-image/internal/push"
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
		cfg := config.Config{Origin: c.origin, Image: "reg/app", BuildkitAddress: "unix:///b"}
		if got := tell(cfg, nil, c.err).Error(); got != c.want {
			t.Errorf("%v:\n got %s\nwant %s", c.err, got, c.want)
		}
	}
}

// TestContainerLines: each way the BuildKit container fails is one line
// naming the inputs that shaped it; docker's own words stay in it and in
// the error chain.
func TestContainerLines(t *testing.T) {
	refusal := errors.New("docker create: exit status 125: invalid reference format")
	for _, c := range []struct {
		err  *buildkitd.ContainerError
		want string
	}{
		{&buildkitd.ContainerError{Step: buildkitd.StepStart, Image: "x", Err: refusal},
			"buildkit-image, buildkit-container-flags: could not start the BuildKit container: " + refusal.Error()},
		{&buildkitd.ContainerError{Step: buildkitd.StepConfig, Image: "x", Err: refusal},
			"buildkit-container-flags: could not copy the buildkitd config (buildkitd-config, or the Docker daemon's registry-mirrors) into the BuildKit container: " + refusal.Error()},
		{&buildkitd.ContainerError{Step: buildkitd.StepReady, Image: "img:1", State: "gone", Logs: "boom", Why: "; last error: eof"},
			"buildkit-image, buildkit-container-flags: buildkitd in the BuildKit container " + buildkitd.ContainerName + " (img:1) did not come up (gone); its last log lines: boom; last error: eof; fix the image or flags, or remove the container (docker rm -f " + buildkitd.ContainerName + ") to start it afresh"},
	} {
		err := fmt.Errorf("connect: %w", c.err)
		if got := tell(config.Config{}, nil, err).Error(); got != c.want {
			t.Errorf("step %d:\n got %s\nwant %s", c.err.Step, got, c.want)
		}
		if c.err.Err != nil && !errors.Is(err, refusal) {
			t.Errorf("step %d: docker's error is not in the chain", c.err.Step)
		}
	}
}

// TestRunTellsItsFailure: the error Run returns is already the user's
// line (an *input.Line), over the package's typed error: a buildkit-address
// nothing answers at names the input and how to fix it.
func TestRunTellsItsFailure(t *testing.T) {
	addr := "unix://" + t.TempDir() + "/none.sock"
	p := &Pipeline{
		Cfg: config.Config{Image: "reg/app", BuildkitAddress: addr, BuildkitAddressSet: true},
		Env: Env{Action: githubactions.New(githubactions.WithWriter(io.Discard))},
	}
	_, err := p.Run(context.Background())
	var line *input.Line
	if !errors.As(err, &line) || !errors.Is(err, build.ErrUnreachable) {
		t.Fatalf("Run: %v (%T), want an *input.Line over build.ErrUnreachable", err, err)
	}
	want := "buildkit-address: no buildkitd answers at " + addr + "; start buildkitd there or point buildkit-address (or BUILDKIT_HOST) at one ("
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Run's line:\n got %s\nwant %s...", err, want)
	}
}
