package main

import (
	"testing"

	"github.com/blumeops/build-push-image/internal/buildkitd"
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
