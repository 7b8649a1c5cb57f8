package run

import (
	"context"
	"fmt"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/ref"

	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/guard"
	"github.com/blumeops/build-push-image/internal/push"
	"github.com/blumeops/build-push-image/internal/sign"
	"github.com/blumeops/build-push-image/internal/tags"
)

// target is one repository the image goes to, as maker.target makes it:
// its reference, the login it was given, its registry client, its guard,
// its tag writer (which signs first, with signing-key) and the look-up of
// its key's expiry.
type target struct {
	image string  // as the image input names it
	ref   ref.Ref // regclient's reading of it: Registry is the host
	login config.Login
	reg   *push.Registry
	guard *guard.Guard
	tags  *tags.Writer
	keys  keyLookup
}

// maker makes the targets of one run, every repository the same way.
type maker struct {
	cfg config.Config
	env Env
	// signer signs the image in each repository before its tags (nil
	// without signing-key); signed is told of each signature.
	signer *sign.Signer
	signed func(sign.Signature)
}

// dial is the one way both commands make a registry client: image's,
// with login (the zero Login is anonymous; Identity adds the job's ID
// token, at the registry's token endpoint only), by registry-tls, with
// regclient's log.
func dial(image ref.Ref, login config.Login, tls push.TLS, env Env) *push.Registry {
	opts := []push.Opt{push.WithCredentials(login.User, login.Pass), push.WithTLS(tls), push.WithLogger(env.Log)}
	if login.Identity {
		opts = append(opts, idLogin(env.IDs)...)
	}
	return push.New(image, opts...)
}

// target makes the target of the i-th image with login (the zero Login
// is anonymous).
func (m maker) target(i int, login config.Login) target {
	image := m.cfg.Images[i]
	reg := dial(m.cfg.Refs[i], login, m.cfg.RegistryTLS, m.env)
	g := guard.New(reg, image, guard.WithPolicy(m.cfg.OnExisting), guard.WithManifests(reg))
	writer := []tags.Opt{tags.WithNoDowngrade(reg)}
	if m.cfg.ImmutableTags {
		writer = append(writer, tags.WithImmutable())
	}
	if m.signer != nil {
		writer = append(writer, tags.WithSigner(signing{m, image, reg}))
	}
	return target{
		image: image, ref: reg.Ref(), login: login, reg: reg, guard: g,
		tags: tags.New(reg, g, writer...), keys: newKeyLookup(reg, login.User, login.Pass),
	}
}

// connect makes a target for each repository, with the login for its
// registry (config.LoginFor, the one rule).
func (m maker) connect() []target {
	var targets []target
	for i, r := range m.cfg.Refs {
		login, _ := m.cfg.LoginFor(r.Registry) // config.Parse refused an image with none
		targets = append(targets, m.target(i, login))
	}
	return targets
}

// signing signs the image in one repository before its tags
// (tags.Signer), and says what it did.
type signing struct {
	m     maker
	image string
	reg   *push.Registry
}

func (s signing) Sign(ctx context.Context, d digest.Digest) error {
	start := time.Now()
	sig, err := s.m.signer.Ensure(ctx, s.reg, d)
	if err != nil {
		return fmt.Errorf("%s@%s: %w", s.image, d, err)
	}
	s.m.signed(sig)
	took := time.Since(start).Round(time.Millisecond)
	if sig.State == sign.Unchanged {
		s.m.env.Action.Infof("%s@%s is signed by the key already (signature %s, checked in %s): no second signature", s.image, d, sig.Digest, took)
	} else {
		s.m.env.Action.Infof("Signed %s@%s: signature %s stored and read back before its tags in %s", s.image, d, sig.Digest, took)
	}
	return nil
}

// keyLookups are the targets' key look-ups.
func keyLookups(targets []target) []keyLookup {
	out := make([]keyLookup, 0, len(targets))
	for _, t := range targets {
		out = append(out, t.keys)
	}
	return out
}

// closeAll closes the targets' clients.
func closeAll(targets []target) {
	for _, t := range targets {
		_ = t.reg.Close()
	}
}
