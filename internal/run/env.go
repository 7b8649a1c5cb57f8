package run

import (
	"log/slog"

	"github.com/sethvargo/go-githubactions"

	"github.com/blumeops/build-push-image/internal/oidc"
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
}
