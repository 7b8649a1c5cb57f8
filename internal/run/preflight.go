package run

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sethvargo/go-githubactions"
	"golang.org/x/sync/errgroup"

	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/plan"
	"github.com/blumeops/build-push-image/internal/push"
)

// The preflight: with an api-key, the login and the right to create in
// each repository are proven before anything is built or streamed, by
// push.CheckPush (an upload session started, and cancelled where the
// registry lets it: no blob, manifest or tag is written). A look-up
// cannot prove them where anonymous read is allowed,
// and a wrong or expired key would otherwise be found at the first
// upload, after the build.

// pushCheckError is a repository whose push check failed: which one, its
// registry's host, and the registry's typed error.
type pushCheckError struct {
	Image, Host string
	Err         error
}

func (e *pushCheckError) Error() string { return e.Err.Error() } // push's error names the repository
func (e *pushCheckError) Unwrap() error { return e.Err }

// checkPush proves the login to each target that has a key, in the order
// of the image input; the first refusal is the error.
func checkPush(ctx context.Context, action *githubactions.Action, targets []target) error {
	for _, t := range targets {
		if t.login.Pass == "" {
			continue // anonymous: nothing to prove
		}
		start := time.Now()
		check, err := t.reg.CheckPush(ctx)
		if err != nil {
			return &pushCheckError{Image: t.image, Host: t.ref.Registry, Err: err}
		}
		action.Infof("%s", pushCheckLine(t.login.User, []string{t.image}, check, time.Since(start)))
	}
	return nil
}

// pushCheckLine says what the check proved and that it wrote nothing.
func pushCheckLine(user string, images []string, check push.PushCheck, took time.Duration) string {
	what := fmt.Sprintf("%d repositories", len(images))
	switch len(images) {
	case 0: // a plan with nothing to publish, whose key was taken where it may not push
		return fmt.Sprintf("Checked that the registry takes the api-key of %q (%s); nothing is to be published", user, took.Round(time.Millisecond))
	case 1:
		what = images[0]
	}
	how := "a blob upload started and cancelled; no blob, manifest or tag written"
	if !check.Cancelled {
		how = "a blob upload started; no blob, manifest or tag written; the registry refused to cancel the empty upload session (zot does for a user without its delete action): it stays until the registry's garbage collection removes stale uploads"
	}
	return fmt.Sprintf("Checked that the registry takes the api-key of %q and lets it push to %s before anything is built (%s): %s",
		user, what, took.Round(time.Millisecond), how)
}

// checkPlanPush proves, with an api-key, the plan's login and its right
// to push to each repository of an image to publish, and, on a registry
// with none to publish, the login alone, by the same check on the first
// image looked up there (a 403 there proves the key too: zot and
// distribution authenticate before they authorize): a wrong or expired key
// fails the plan, not every leg after its build. Each repository is
// checked once, plan.Concurrency at a time, through the client of its
// registry the look-ups used.
func checkPlanPush(ctx context.Context, action *githubactions.Action, cfg config.Plan, res plan.Result, regs *plan.Registries) error {
	publish, loginOnly := planPushRepos(res)
	repos := slices.Concat(publish, loginOnly)
	if cfg.APIKey == "" || len(repos) == 0 {
		return nil
	}
	start := time.Now()
	checks := make([]push.PushCheck, len(repos))
	allowed := make([]bool, len(repos))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(plan.Concurrency)
	for i, image := range repos {
		g.Go(func() error {
			reg, err := regs.For(image.Ref) // looked up already: its client is made
			if err != nil {
				return err
			}
			checks[i], err = reg.CheckPush(gctx)
			switch {
			case err == nil:
				allowed[i] = true
			case i >= len(publish) && errors.Is(err, push.ErrDenied): // the key is taken; nothing is pushed there
			default:
				return &pushCheckError{Image: image.Image, Host: image.Ref.Registry, Err: err}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var pushable []string
	all := push.PushCheck{Cancelled: true}
	for i, c := range checks {
		if allowed[i] {
			pushable = append(pushable, repos[i].Image)
			all.Cancelled = all.Cancelled && c.Cancelled
		}
	}
	action.Infof("plan: %s", pushCheckLine(cfg.Username, pushable, all, time.Since(start)))
	return nil
}

// planPushRepos are the repositories the plan checks: each image to
// publish, and (loginOnly) the first looked up on a registry with none.
func planPushRepos(res plan.Result) (publish, loginOnly []plan.Image) {
	covered := map[string]bool{}
	for _, img := range res.Pending() {
		publish = append(publish, img)
		covered[img.Ref.Registry] = true
	}
	for _, s := range res {
		if host := s.Ref.Registry; s.Skipped == "" && !covered[host] {
			loginOnly = append(loginOnly, s.Image)
			covered[host] = true
		}
	}
	return publish, loginOnly
}
