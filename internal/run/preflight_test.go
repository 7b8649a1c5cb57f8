package run

import (
	"slices"
	"testing"

	"github.com/regclient/regclient/types/ref"

	"github.com/blumeops/build-push-image/internal/plan"
)

// TestPlanPushRepos: the plan checks the repository of each image to
// publish, and, on a registry with none to publish, the login alone on the
// first image looked up there (so a wrong key never goes unseen); never a
// directory left out.
func TestPlanPushRepos(t *testing.T) {
	row := func(image string, published bool, skipped string) plan.Status {
		r, err := ref.New(image)
		if err != nil {
			t.Fatal(err)
		}
		return plan.Status{Image: plan.Image{Image: image, Ref: r, Skipped: skipped}, Published: published}
	}
	names := func(images []plan.Image) (out []string) {
		for _, img := range images {
			out = append(out, img.Image)
		}
		return out
	}
	res := plan.Result{
		row("a.example/team/api", true, ""),
		row("a.example/team/web", false, ""),
		row("b.example/team/lib", false, "no version"),
		row("b.example/team/db", true, ""),
		row("b.example/team/cache", true, ""),
		row("a.example/team/worker", false, ""),
	}
	publish, login := planPushRepos(res)
	if want := []string{"a.example/team/web", "a.example/team/worker"}; !slices.Equal(names(publish), want) {
		t.Errorf("to publish: %v, want %v", publish, want)
	}
	if want := []string{"b.example/team/db"}; !slices.Equal(names(login), want) {
		t.Errorf("login alone: %v, want %v", login, want)
	}
	if publish, login := planPushRepos(plan.Result{row("c.example/x", false, "no version")}); len(publish)+len(login) != 0 {
		t.Errorf("only a directory left out: %v %v, want nothing to check", publish, login)
	}
}
