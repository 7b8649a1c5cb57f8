package main

import (
	"slices"
	"testing"

	"github.com/blumeops/build-push-image/internal/plan"
)

// TestPlanPushRepos: the plan checks the repository of each image to
// publish, and, on a registry with none to publish, the first image looked
// up there (so a wrong key never goes unseen); never a directory left out.
func TestPlanPushRepos(t *testing.T) {
	row := func(image string, published bool, skipped string) plan.Status {
		return plan.Status{Image: plan.Image{Image: image, Skipped: skipped}, Published: published}
	}
	res := plan.Result{
		row("a.example/team/api", true, ""),
		row("a.example/team/web", false, ""),
		row("b.example/team/lib", false, "no version"),
		row("b.example/team/db", true, ""),
		row("b.example/team/cache", true, ""),
		row("a.example/team/worker", false, ""),
	}
	want := []string{"a.example/team/web", "a.example/team/worker", "b.example/team/db"}
	if got := planPushRepos(res); !slices.Equal(got, want) {
		t.Errorf("planPushRepos = %v, want %v", got, want)
	}
	if got := planPushRepos(plan.Result{row("c.example/x", false, "no version")}); len(got) != 0 {
		t.Errorf("only a directory left out: %v, want nothing to check", got)
	}
}
