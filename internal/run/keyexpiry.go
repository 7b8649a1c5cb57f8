package run

import (
	"context"
	"strings"
	"time"

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
func warnKeyExpiry(ctx context.Context, env Env, access config.Access, logins []login, ran time.Duration) {
	action := env.Action
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
			line := env.Lines.KeyExpiry(l.host, l.user, e)
			action.Warningf("%s", line)
			if action.Getenv("GITHUB_STEP_SUMMARY") != "" {
				action.AddStepSummary("> **Warning:** " + markdownText(line) + "\n")
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

// markdownPunct is CommonMark's ASCII punctuation: each may be escaped
// with a backslash, and an escaped one is only itself.
const markdownPunct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// markdownText is s as Markdown that renders as s, as text only: every
// ASCII punctuation character backslash-escaped, so that a key label the
// registry chose makes no link, image, HTML tag, entity, code span,
// table cell or autolink (www. and https: need their dot and colon) in
// the step summary; a line break is a space.
func markdownText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r':
			b.WriteByte(' ')
		case strings.ContainsRune(markdownPunct, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
