package run

import (
	"context"

	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/regclient/regclient/types/ref"
	"github.com/sethvargo/go-githubactions"

	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/input"
	"github.com/blumeops/build-push-image/internal/plan"
	"github.com/blumeops/build-push-image/internal/push"
)

// changes are the changes since the event's base commit (the changed
// input), read before anything is looked up or written; nil when changed
// is off or the base cannot be compared. A base that cannot be compared
// is the error under changed: true, else one line: a notice when the
// event names a base the checkout lacks, an info line when it names none.
func changes(ctx context.Context, cfg config.Changed, action *githubactions.Action) (*plan.Changes, error) {
	if cfg.Mode == config.ChangedOff {
		return nil, nil
	}
	ch, err := plan.Diff(ctx, cfg)
	switch {
	case err != nil && cfg.Mode == config.ChangedOn:
		return nil, input.New("changed", err, "")
	case err != nil && cfg.Base == "":
		action.Infof("plan: %v", err)
		return nil, nil
	case err != nil:
		action.Noticef("plan: %v", err)
		return nil, nil
	}
	return ch, nil
}

// markChanged marks the images ch touches (nil: none): in a pull request
// those whose version is published join the matrix, to be checked; on a
// push each is named in one warning (a change without a version bump
// publishes nothing).
func markChanged(cfg config.Changed, action *githubactions.Action, res plan.Result, ch *plan.Changes) {
	if ch == nil {
		return
	}
	plan.MarkChanged(res, ch, cfg.Shared)
	if cfg.PullRequest {
		res.Recheck()
		return
	}
	if unbumped := res.Unbumped(); len(unbumped) > 0 {
		names := make([]string, len(unbumped))
		for i, s := range unbumped {
			names[i] = fmt.Sprintf("%s (%s:%s)", s.Context, s.Image.Image, s.Tag)
		}
		action.Warningf("plan: changed since %s but their version is published, so nothing publishes them (%d): %s; bump the version in their files (a pull request's check fails for such an image when its content changed)",
			short(ch.Base), len(unbumped), strings.Join(names, ", "))
	}
}

func short(sha string) string { return sha[:min(len(sha), 12)] }

// adoptTags adopts the old scheme's tags (adopt-tags) of the images whose
// version tag is not published: with a key it writes their version tags,
// one info line each; without one it names them in one warning. Old tags
// naming several images are one warning each; those images are built.
func adoptTags(ctx context.Context, cfg config.Plan, action *githubactions.Action, regs *plan.Registries, res plan.Result) error {
	if cfg.AdoptTags == "" {
		return nil
	}
	opts := []plan.AdoptOpt{plan.WithHistory(plan.GitHistory(cfg.Changed.GitEnv))}
	if cfg.APIKey != "" || cfg.IDToken != nil { // a login: the key, or the job's identity
		opts = append(opts, plan.WithWrite())
	}
	ambiguous, err := plan.Adopt(ctx, res, cfg.AdoptTags, regs.Repo, opts...)
	if err != nil {
		return err
	}
	for _, a := range ambiguous {
		action.Warningf("adopt-tags: %v", a)
	}
	var waiting []string
	for _, s := range res.Adoptable() {
		newest := ""
		if s.OutOf > 1 {
			newest = fmt.Sprintf(", the newest commit's of the %d images its old tags name", s.OutOf)
		}
		if s.Adopted {
			action.Infof("plan: adopted  %s:%s from %s (%s%s): tag written, nothing built", s.Image.Image, s.Tag, s.Adopt, s.Digest, newest)
			continue
		}
		waiting = append(waiting, fmt.Sprintf("%s:%s from %s", s.Image.Image, s.Tag, s.Adopt))
	}
	if len(waiting) > 0 {
		action.Warningf("plan: adoptable, not adopted: no api-key (%d): %s; a plan with username and api-key writes each version tag to the image its old tag names (create rights suffice), and builds nothing", len(waiting), strings.Join(waiting, ", "))
	}
	return nil
}

// Plan is the plan command's run over the images plan.Find read: it
// looks up each version tag, proves the key, adopts the old scheme's tags
// and marks the changed images, as cfg asks; its result is the outputs'.
// A failure is a *planError told as its one line (an *input.Line).
func Plan(ctx context.Context, cfg config.Plan, images []plan.Image, env Env) (plan.Result, error) {
	res, err := runPlan(ctx, cfg, images, env)
	if err != nil {
		return nil, tellPlan(ctx, cfg, env.IDs, err)
	}
	return res, nil
}

// runPlan is Plan, its failure a *planError.
func runPlan(ctx context.Context, cfg config.Plan, images []plan.Image, env Env) (plan.Result, error) {
	start := time.Now()
	// A base that cannot be compared fails the plan before anything is
	// looked up or written; the images are marked once their version tags
	// (and adopt-tags' writes) say which are published.
	ch, err := changes(ctx, cfg.Changed, env.Action)
	if err != nil {
		return nil, &planError{planChanged, err}
	}
	if err := startIdentity(ctx, env.Action, cfg.Access, env.IDs); err != nil {
		return nil, &planError{planIdentity, err}
	}
	// One login for every registry of a plan: username and api-key, or
	// the job's identity, else none.
	login := config.Login{User: cfg.Username, Pass: cfg.APIKey, Identity: cfg.IDToken != nil}
	regs := plan.NewRegistries(func(repository ref.Ref) *push.Registry {
		return dial(repository, login, cfg.RegistryTLS, env)
	})
	res, err := plan.Check(ctx, images, regs.Lookup)
	if err != nil {
		return nil, &planError{planLookup, err}
	}
	// The key is proven before any tag is adopted: a plan writes nothing
	// with a key the registry refuses.
	if err := checkPlanPush(ctx, env.Action, cfg, res, regs); err != nil {
		return nil, &planError{planPushCheck, err}
	}
	if err := adoptTags(ctx, cfg, env.Action, regs, res); err != nil {
		return nil, &planError{planAdopt, err}
	}
	var lookups []keyLookup
	hosts := regs.Hosts()
	for _, host := range slices.Sorted(maps.Keys(hosts)) {
		lookups = append(lookups, newKeyLookup(hosts[host], cfg.Username, cfg.APIKey))
	}
	warnKeyExpiry(ctx, env, cfg.Access, lookups, time.Since(start))
	markChanged(cfg.Changed, env.Action, res, ch)
	return res, nil
}
