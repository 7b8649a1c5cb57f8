package run

import (
	"context"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/oidc"
	"github.com/blumeops/build-push-image/internal/push"
)

// Publishing with the job's own OIDC identity (oidc-audience) instead of
// a key: the forge hands the job an ID token, zot takes it as the password
// at its token endpoint. Both the request token and each ID token are
// masked the moment they are known (by the caller: the request token
// before any input is read, each ID token through oidc.WithOnToken); the
// ID token goes to the registry's host only (push.WithFreshCredentials),
// and is fetched again before it lapses (oidc.Source).

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
