package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/blumeops/build-push-image/internal/buildkitd"
	"github.com/blumeops/build-push-image/internal/run"
)

// TestBuildkitContainerDefaults: action.yml's defaults (the program's) are
// the ones internal/buildkitd documents and falls back to.
func TestBuildkitContainerDefaults(t *testing.T) {
	want := map[string]string{"buildkit-image": buildkitd.DefaultImage, "buildkit-container-flags": buildkitd.DefaultRunFlags}
	for _, in := range inputs {
		if def, ok := want[in.Name]; ok {
			if in.Default != def {
				t.Errorf("action.yml: %s defaults to %q, want %q", in.Name, in.Default, def)
			}
			delete(want, in.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("action.yml lacks inputs %v", want)
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
		if got := explain(context.Background(), &run.Pipeline{}, err); got != c.want {
			t.Errorf("step %d:\n got %s\nwant %s", c.err.Step, got, c.want)
		}
		if c.err.Err != nil && !errors.Is(err, refusal) {
			t.Errorf("step %d: docker's error is not in the chain", c.err.Step)
		}
	}
}
