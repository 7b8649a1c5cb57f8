package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sethvargo/go-githubactions"

	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/oidc"
	"github.com/blumeops/build-push-image/internal/plan"
)

// markChanged finds the images changed since the event's base commit
// (the changed input) and marks them: in a pull request those whose
// version is published join the matrix, to be checked; on a push each is
// named in one warning (a change without a version bump publishes
// nothing). A base that cannot be compared is the error under changed:
// true, else one line: a notice when the event names a base the checkout
// lacks, an info line when it names none.
func markChanged(ctx context.Context, cfg config.Changed, action *githubactions.Action, res plan.Result) error {
	if cfg.Mode == config.ChangedOff {
		return nil
	}
	ch, err := plan.Diff(ctx, cfg)
	switch {
	case err != nil && cfg.Mode == config.ChangedOn:
		return fmt.Errorf("changed: %w", err)
	case err != nil && cfg.Base == "":
		action.Infof("plan: %v", err)
		return nil
	case err != nil:
		action.Noticef("plan: %v", err)
		return nil
	}
	plan.MarkChanged(res, ch, cfg.Shared)
	if cfg.PullRequest {
		res.Recheck()
		return nil
	}
	if unbumped := res.Unbumped(); len(unbumped) > 0 {
		names := make([]string, len(unbumped))
		for i, s := range unbumped {
			names[i] = fmt.Sprintf("%s (%s:%s)", s.Context, s.Image.Image, s.Tag)
		}
		action.Warningf("plan: changed since %s but their version is published, so nothing publishes them (%d): %s; bump the version in their files (a pull request's check fails for such an image when its content changed)",
			short(ch.Base), len(unbumped), strings.Join(names, ", "))
	}
	return nil
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

// adoptLine is the one line a failed adoption is: a look-up's as the
// plan's, else the write's or the guard's, naming the input.
func adoptLine(ctx context.Context, cfg config.Plan, ids *oidc.Source, err error) string {
	var le *plan.LookupError
	if errors.As(err, &le) {
		return planLine(ctx, cfg, ids, err)
	}
	return "adopt-tags: " + err.Error()
}
