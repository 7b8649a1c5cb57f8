package main

import (
	"context"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/push"
	"github.com/blumeops/build-push-image/internal/zotkey"
)

// login is one registry a run logged in to: its host, the credentials,
// and the client that sent the run's first authenticated request there.
type login struct {
	host, user, key string
	reg             *push.Registry
}

// warnKeyExpiry warns, one line in the log and one in the summary, for
// each login whose zot API key expires within key-expiry-warning days. A
// registry is asked only with a zak_ key, and not when it answered as a
// distribution registry does; nothing it answers fails the job.
func warnKeyExpiry(ctx context.Context, action *githubactions.Action, access config.Access, logins []login, ran time.Duration) {
	if access.KeyExpiryWarning == 0 {
		return
	}
	seen := map[string]bool{}
	for _, l := range logins {
		if seen[l.host] || !zotkey.IsAPIKey(l.key) || l.reg.Distribution() {
			continue
		}
		seen[l.host] = true
		keys := zotkey.Client{URL: baseURL(access.RegistryTLS, l.host), User: l.user, Key: l.key, SkipVerify: access.RegistryTLS == push.TLSInsecure}
		if e, ok := zotkey.Check(ctx, keys, ran, access.KeyExpiryWarning); ok {
			line := keyExpiryLine(l.host, l.user, e)
			action.Warningf("%s", line)
			if action.Getenv("GITHUB_STEP_SUMMARY") != "" {
				action.AddStepSummary("> **Warning:** " + line + "\n")
			}
		}
	}
}

// baseURL is where the registry at host answers, by registry-tls.
func baseURL(tls push.TLS, host string) string {
	if tls == push.TLSDisabled {
		return "http://" + host
	}
	return "https://" + host
}
