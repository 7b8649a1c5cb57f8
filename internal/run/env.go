package run

import (
	"log/slog"

	"github.com/sethvargo/go-githubactions"

	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/oidc"
	"github.com/blumeops/build-push-image/internal/zotkey"
)

// Env is what both commands' runs are given besides their config: where
// their lines go, regclient's log and the job's identity. Nothing in it
// reads the environment.
type Env struct {
	// Action writes the run's info lines, notices, warnings, the step
	// summary's lines and the outputs (go-githubactions: its writer and
	// getenv are the caller's).
	Action *githubactions.Action
	// Log is regclient's log, when debugging; nil discards it.
	Log *slog.Logger
	// IDs are the job's OIDC ID tokens (oidc-audience), the login instead
	// of a key; nil without.
	IDs *oidc.Source
	// Lines word what the run says of its tags, a fallback and a key
	// about to expire: the caller's user-facing lines.
	Lines Lines
}

// Lines are the user-facing lines the caller words for the run; the run
// decides when each is said, and whether as info or a warning.
type Lines struct {
	// TagWarning is the warning for a tag that does not name the image,
	// "" when there is none to give.
	TagWarning func(t ImageTag) string
	// TagInfo says what became of a tag that needs no warning; digest is
	// the image's.
	TagInfo func(t ImageTag, digest string) string
	// Fallback says why BuildKit's own push was given up for the
	// action's upload.
	Fallback func(cfg config.Config, err error) string
	// KeyExpiry warns that the zot API key of user on host expires soon.
	KeyExpiry func(host, user string, e zotkey.Expiry) string
}
