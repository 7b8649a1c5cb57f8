package run

import (
	"log/slog"

	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/guard"
	"github.com/blumeops/build-push-image/internal/oidc"
	"github.com/blumeops/build-push-image/internal/push"
)

// target is one repository the image goes to, with its guard.
type target struct {
	image string
	reg   *push.Registry
	guard *guard.Guard
}

// connectRegistries makes a client for each repository, with the login for
// its registry (config.LoginFor): on the first image's registry, with
// oidc-audience, the job's identity (ids).
func connectRegistries(cfg config.Config, ids *oidc.Source, log *slog.Logger) ([]target, error) {
	var targets []target
	for _, image := range cfg.Images {
		user, pass := cfg.LoginFor(image)
		opts := []push.Opt{push.WithCredentials(user, pass), push.WithTLS(cfg.RegistryTLS), push.WithLogger(log)}
		if config.RegistryOf(image) == cfg.Registry() {
			opts = append(opts, idLogin(ids)...)
		}
		reg, err := push.New(image, opts...)
		if err != nil {
			return targets, err
		}
		targets = append(targets, target{image: image, reg: reg, guard: guard.New(reg, image, guard.WithPolicy(cfg.OnExisting), guard.WithManifests(reg))})
	}
	return targets, nil
}

// logins are the registries of targets with the credentials of each.
func logins(cfg config.Config, targets []target) []login {
	out := make([]login, 0, len(targets))
	for _, t := range targets {
		user, key := cfg.LoginFor(t.image)
		out = append(out, login{host: config.RegistryOf(t.image), user: user, key: key, reg: t.reg})
	}
	return out
}

// closeAll closes the targets' clients.
func closeAll(targets []target) {
	for _, t := range targets {
		_ = t.reg.Close()
	}
}
