package run

import (
	"context"
	"errors"

	digest "github.com/opencontainers/go-digest"
	"github.com/sethvargo/go-githubactions"

	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/push"
)

// The pull-request check: push: false with archive, and no key. The
// archive is read and checked whole and its digest computed as a push
// would publish it; where the registry answers anonymous reads, the
// version tag is looked up by the guard, and its layers are learnt from
// there, so the digest is the one a push would give. Nothing is ever
// written.

// anonymousTargets are the repositories that answer anonymous reads, each
// with what its version tag names ("" when nothing: guard.Names); the
// others get a warning and no look-up.
func anonymousTargets(ctx context.Context, m maker) ([]target, map[string]digest.Digest, error) {
	cfg := m.cfg
	var targets []target
	names := map[string]digest.Digest{}
	for i, image := range cfg.Images {
		t := m.target(i, config.Login{})
		d, err := t.guard.Names(ctx, cfg.VersionTag())
		switch {
		case errors.Is(err, push.ErrUnauthorized), errors.Is(err, push.ErrDenied):
			m.env.Action.Warningf("%s does not answer anonymous reads: whether %s is published already is not checked (a push would say); the image is checked and its digest computed all the same", image, cfg.VersionTag())
			_ = t.reg.Close()
			continue
		case err != nil:
			_ = t.reg.Close()
			closeAll(targets)
			return nil, nil, err
		}
		names[image] = d
		targets = append(targets, t)
	}
	return targets, names, nil
}

// checkPublished says, per repository looked up, whether the version tag
// is free, names this very image, or another: the one failure
// (guard.ErrAlreadyPublished).
func checkPublished(action *githubactions.Action, cfg config.Config, targets []target, names map[string]digest.Digest, d digest.Digest) error {
	version := cfg.VersionTag()
	for _, t := range targets {
		has := names[t.image]
		if err := t.guard.CheckPublished(version, has, d); err != nil {
			return err
		}
		if has == "" {
			action.Infof("%s:%s is not published yet: a push would publish %s", t.image, version, d)
		} else {
			action.Infof("%s:%s is published already as this very image (%s): a push would change nothing", t.image, version, d)
		}
	}
	return nil
}
