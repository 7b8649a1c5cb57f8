package run

import (
	"context"
	"strings"
	"time"

	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/push"
	"github.com/blumeops/build-push-image/internal/zotkey"
)

// keyLookup is the look-up of one login's zot API key: the registry's
// host, the login's user, the key's Lister (nil when the password is no
// zot API key) through the client that sent the run's requests there
// (reg: a distribution registry is not asked).
type keyLookup struct {
	host, user string
	keys       zotkey.Lister
	reg        *push.Registry
}

// newKeyLookup is the key look-up of the login user:key to reg's
// registry, through reg's transport (push.Registry.API).
func newKeyLookup(reg *push.Registry, user, key string) keyLookup {
	l := keyLookup{host: reg.Ref().Registry, user: user, reg: reg}
	if zotkey.IsAPIKey(key) {
		root, client := reg.API()
		l.keys = zotkey.Client{URL: root, User: user, Key: key, HTTP: client}
	}
	return l
}

// warnKeyExpiry warns, one line in the log and one in the summary, for
// each login whose zot API key expires within key-expiry-warning days. A
// registry is asked only with a zak_ key, and not when it answered as a
// distribution registry does; nothing it answers fails the job.
func warnKeyExpiry(ctx context.Context, env Env, access config.Access, lookups []keyLookup, ran time.Duration) {
	if access.KeyExpiryWarning == 0 {
		return
	}
	seen := map[string]bool{}
	for _, l := range lookups {
		if seen[l.host] || l.keys == nil || l.reg.Distribution() {
			continue
		}
		seen[l.host] = true
		if e, ok := zotkey.Check(ctx, l.keys, ran, access.KeyExpiryWarning); ok {
			line := keyExpiryLine(l.host, l.user, e)
			env.Action.Warningf("%s", line)
			if env.Action.Getenv("GITHUB_STEP_SUMMARY") != "" {
				env.Action.AddStepSummary("> **Warning:** " + markdownText(line) + "\n")
			}
		}
	}
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
