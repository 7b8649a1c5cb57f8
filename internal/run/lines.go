package run

// The lines a user reads of what became of the run's tags, of a fallback
// and of a key about to expire.

import (
	"fmt"

	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/tags"
	"github.com/blumeops/build-push-image/internal/zotkey"
)

// tagWarning is the warning for a tag that does not name the image, or ""
// when there is nothing to warn of.
func tagWarning(t ImageTag) string {
	switch {
	case t.State == tags.Taken:
		return fmt.Sprintf("the registry refused to move tag %s to this image (%s); it still names %s and was left as it was", t.Ref(), registrySaid(t.Err), t.Other)
	case t.State == tags.Failed:
		return fmt.Sprintf("tag %s was not written (%s); the release itself is complete: re-run to repair", t.Ref(), registrySaid(t.Err))
	case t.State != tags.Kept && t.Err != nil:
		return fmt.Sprintf("tag %s was written, but reading it back failed (%v): check that it names this image", t.Ref(), t.Err)
	}
	return ""
}

// tagInfo says what became of a tag that needs no warning.
func tagInfo(t ImageTag, d string) string {
	switch {
	case t.State == tags.Unchanged && t.Other != "":
		return fmt.Sprintf("%s already names this image as first published (%s: the same config and layers, other annotations): kept, and the other tags name it too", t.Ref(), t.Other)
	case t.State == tags.Unchanged:
		return fmt.Sprintf("%s already is this exact image (%s): nothing to write", t.Ref(), d)
	case t.State == tags.Kept:
		return fmt.Sprintf("%s names %s, a newer release than this one: left where it is (a tag that follows releases never moves backwards)", t.Ref(), t.Version)
	}
	if t.State == tags.Written && t.Immediate {
		return "Tagged " + t.Ref() + " (read back without the settle pause: the registry refuses overwrites, registry-immutable-tags)"
	}
	return "Tagged " + t.Ref()
}

// fallbackLine says why BuildKit's own push was given up for the action's.
func fallbackLine(cfg config.Config, err error) string {
	return fmt.Sprintf("push-via: buildkitd could not push to %s (%s); uploading from an OCI layout through the action instead (set push-via: action to skip the attempt, or let buildkitd reach the registry)",
		cfg.Registry(), err)
}

// keyExpiryLine warns that the zot API key in use expires soon.
func keyExpiryLine(registry, username string, e zotkey.Expiry) string {
	return fmt.Sprintf("api-key: the zot API key %q of %q on %s expires on %s (%d %s left); mint a new one (zot's UI, API keys, or POST /zot/auth/apikey) and update the secret before then (key-expiry-warning: 0 turns this warning off)",
		e.Label, username, registry, e.Date.UTC().Format("2006-01-02 15:04 UTC"), e.DaysLeft, plural(e.DaysLeft, "day", "days"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
