package run

// The lines a user reads about a failed plan, by the step that failed.

import (
	"context"
	"errors"
	"fmt"

	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/input"
	"github.com/blumeops/build-push-image/internal/oidc"
	"github.com/blumeops/build-push-image/internal/plan"
	"github.com/blumeops/build-push-image/internal/push"
)

// planStep is the step of the plan command that failed, for its line.
type planStep int

// The plan command's steps, in the order they run.
const (
	planChanged   planStep = iota // changed: the diff against the base
	planIdentity                  // the job's first ID token (oidc-audience)
	planLookup                    // the version tags' look-ups
	planPushCheck                 // the key's push check
	planAdopt                     // adopt-tags
)

// planError is a failed step of the plan command: which one, and why.
type planError struct {
	Step planStep
	Err  error
}

func (e *planError) Error() string { return e.Err.Error() }
func (e *planError) Unwrap() error { return e.Err }

// tellPlan is a failed plan's error told as the one line a user reads
// (an *input.Line), by the step that failed.
func tellPlan(ctx context.Context, cfg config.Plan, ids *oidc.Source, err error) error {
	return &input.Line{Text: planFailure(ctx, cfg, ids, err), Err: err}
}

// planFailure is the one line a failed plan is, by the step that failed.
func planFailure(ctx context.Context, cfg config.Plan, ids *oidc.Source, err error) string {
	var pe *planError
	if !errors.As(err, &pe) {
		return fmt.Sprintf("plan: %v", err)
	}
	switch pe.Step {
	case planIdentity:
		if line, ok := identityLine(cfg.Access, ids, cfg.Registry(), cfg.Image, "read", pe.Err); ok {
			return line
		}
		return fmt.Sprintf("plan: %v", pe.Err)
	case planLookup:
		return planLine(ctx, cfg, ids, pe.Err)
	case planPushCheck: // the key's check: no identity
		return planLine(ctx, cfg, nil, pe.Err)
	case planAdopt:
		return adoptLine(ctx, cfg, ids, pe.Err)
	}
	return pe.Err.Error()
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

// planLine is the one line a user sees when the plan fails: its look-ups
// (a *plan.LookupError) or its push check (a *pushCheckError).
func planLine(ctx context.Context, cfg config.Plan, ids *oidc.Source, err error) string {
	f, ok := planFailedAt(err)
	if ctx.Err() != nil || !ok {
		return fmt.Sprintf("plan: %v", err)
	}
	if line, ok := identityLine(cfg.Access, ids, f.host, f.image, f.doing, err); ok {
		return line
	}
	host := f.host
	switch {
	case errors.Is(err, push.ErrUnauthorized) && cfg.APIKey == "":
		return fmt.Sprintf("api-key: %s asks for a login to read %s; set username and api-key (anonymous look-ups need a registry that allows anonymous read)", host, f.image)
	case errors.Is(err, push.ErrUnauthorized):
		return rejected(host, cfg.Username, err)
	case errors.Is(err, push.ErrDenied):
		return fmt.Sprintf("username: %q may not %s %s (denied by the registry: %s); grant it %s", cfg.Username, f.doing, f.image, registrySaid(err), f.grant)
	}
	return registryLine(host, f.cause)
}

// failedAt is what the plan failed at: reading an image, or proving the
// right to push there; grant is the right the user then lacks.
type failedAt struct {
	image, host  string // the repository, its registry's host
	cause        error
	doing, grant string
}

// planFailedAt reads what the plan failed at from err; false when it
// failed at neither.
func planFailedAt(err error) (failedAt, bool) {
	var le *plan.LookupError
	var pc *pushCheckError
	if errors.As(err, &pc) {
		return failedAt{pc.Image, pc.Host, pc.Err, "push to", "read and create on that repository, or leave the image out of the plan"}, true
	}
	if errors.As(err, &le) {
		return failedAt{le.Image, le.Host, le.Err, "read", "read on that repository"}, true
	}
	return failedAt{}, false
}
