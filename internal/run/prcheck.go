package run

import (
	"context"
	"errors"
	"fmt"

	digest "github.com/opencontainers/go-digest"
	"github.com/sethvargo/go-githubactions"

	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/push"
)

// The pull-request check: push: false with archive, and no key. The
// archive is read and checked whole and its digest computed as a push
// would publish it; where the registry answers anonymous reads, the
// version tag is looked up, and its layers are learnt from there, so the
// digest is the one a push would give. Nothing is ever written.

// ErrAlreadyPublished is a version tag that names another image than the
// one the check read: a merge would fail on it.
var ErrAlreadyPublished = errors.New("already published")

// anonymousTargets are the repositories that answer anonymous reads, each
// with what its version tag names ("" when nothing); the others get a
// warning and no look-up.
func anonymousTargets(ctx context.Context, cfg config.Config, env Env) ([]target, map[string]digest.Digest, error) {
	var targets []target
	names := map[string]digest.Digest{}
	for _, image := range cfg.Images {
		reg, err := push.New(image, push.WithTLS(cfg.RegistryTLS), push.WithLogger(env.Log))
		if err != nil {
			closeAll(targets)
			return nil, nil, err
		}
		_, raw, found, err := reg.Manifest(ctx, cfg.VersionTag())
		switch {
		case errors.Is(err, push.ErrUnauthorized), errors.Is(err, push.ErrDenied):
			env.Action.Warningf("%s does not answer anonymous reads: whether %s is published already is not checked (a push would say); the image is checked and its digest computed all the same", image, cfg.VersionTag())
			_ = reg.Close()
			continue
		case err != nil:
			_ = reg.Close()
			closeAll(targets)
			return nil, nil, err
		case found:
			names[image] = digest.FromBytes(raw)
		}
		targets = append(targets, target{image: image, reg: reg})
	}
	return targets, names, nil
}

// checkPublished says, per repository looked up, whether the version tag
// is free, names this very image, or another: the one failure.
func checkPublished(action *githubactions.Action, cfg config.Config, targets []target, names map[string]digest.Digest, d digest.Digest) error {
	version := cfg.VersionTag()
	for _, t := range targets {
		switch has, ok := names[t.image]; {
		case !ok:
			action.Infof("%s:%s is not published yet: a push would publish %s", t.image, version, d)
		case has == d:
			action.Infof("%s:%s is published already as this very image (%s): a push would change nothing", t.image, version, d)
		default:
			return fmt.Errorf("version tag %s already exists in %s (%s) and names another image than this one (%s): %w: bump the version", version, t.image, has, d, ErrAlreadyPublished)
		}
	}
	return nil
}
