package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/oidc"
	"github.com/blumeops/build-push-image/internal/push"
)

// Publishing with the job's own OIDC identity (oidc-audience) instead of
// a key: the forge hands the job an ID token, zot takes it as the password
// at its token endpoint. Both the request token and each ID token are
// masked the moment they are known; the ID token goes to the registry's
// host only (push.WithFreshCredentials), and is fetched again before it
// lapses (oidc.Source).

// idTokens is the source of the job's ID tokens when oidc-audience is
// set, nil otherwise. Each token is masked before anything uses it.
func idTokens(a config.Access, s *secrets) *oidc.Source {
	if a.IDToken == nil {
		return nil
	}
	return oidc.NewSource(*a.IDToken, oidc.WithOnToken(func(token string) { s.add(token) }))
}

// requestToken is the job's token for asking for ID tokens, "" without
// oidc-audience.
func requestToken(a config.Access) string {
	if a.IDToken == nil {
		return ""
	}
	return a.IDToken.RequestToken
}

// idUser is the username sent with the ID token: zot reads the identity
// from the token and ignores it, but regclient logs in only with one.
const idUser = "oidc"

// idLogin is how a registry client logs in with the job's identity: none
// without oidc-audience.
func idLogin(ids *oidc.Source) []push.Opt {
	if ids == nil {
		return nil
	}
	return []push.Opt{push.WithFreshCredentials(idUser, ids)}
}

// startIdentity gets the first ID token before any registry is asked, so
// a forge that gives none fails the run at once, and says who the run
// publishes as.
func startIdentity(ctx context.Context, action *githubactions.Action, a config.Access, ids *oidc.Source) error {
	if ids == nil {
		return nil
	}
	_, c, err := ids.Token(ctx)
	if err != nil {
		return err
	}
	action.Infof("oidc-audience: logging in to the registry as this job's OIDC identity %s (issuer %s, audience %s), with an ID token valid until %s and renewed before it lapses; no key",
		c.Subject, c.Issuer, a.IDToken.Audience, c.Expires().UTC().Format(time.RFC3339))
	return nil
}

// identityLine explains a failure of a login with the job's identity: the
// forge gave no token, the registry refused the token (its issuer, its
// audience or its claims), or the identity may not write there. false
// when err is none of these, or the run has no identity.
func identityLine(a config.Access, ids *oidc.Source, image, doing string, err error) (string, bool) {
	if ids == nil {
		return "", false
	}
	c := ids.Claims()
	var forge *oidc.Error
	who := fmt.Sprintf("the job's identity %q (ref %q, issuer %s, audience %s)", c.Subject, c.Ref, c.Issuer, a.IDToken.Audience)
	switch {
	case errors.As(err, &forge):
		return fmt.Sprintf("oidc-audience: the forge gave this job no ID token (%v); nothing was tagged; check that the workflow or the job sets enable-openid-connect: true (Forgejo v15 or later) and re-run", forge), true
	case errors.Is(err, push.ErrUnauthorized):
		return fmt.Sprintf("oidc-audience: %s refused %s at its token endpoint (%s): it does not trust this issuer or audience, or its rules refuse these claims (a pull request's ref, a branch that may not publish); nothing was tagged; publish from a ref the registry's rules admit, or have its operator add the issuer and audience to http.auth.bearer.oidc and a claimMapping validation that admits this repository and ref",
			config.RegistryOf(image), who, registrySaid(err)), true
	case errors.Is(err, push.ErrDenied):
		return fmt.Sprintf("oidc-audience: %s may not %s %s (denied by the registry: %s); nothing was tagged; have the registry's operator grant the user its claimMapping makes of this identity read and create on that repository",
			who, doing, image, registrySaid(err)), true
	}
	return "", false
}
