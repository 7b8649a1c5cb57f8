// Package procenv builds the environment of a process this program starts
// (git, a buildkitd for the job, the docker CLI) from an allow list. A
// child never inherits the action's inputs (INPUT_*, the API key among
// them) nor any secret value: every process of the same user can read a
// child's /proc/<pid>/environ for as long as it lives.
package procenv

import (
	"os"
	"strings"
)

// base is what every child may need: where programs, home and temporary
// files are, who the user is, locale and time zone, the XDG directories
// (rootless BuildKit keeps its socket and state there), and the proxies and
// CA bundles with which a daemon reaches registries.
var base = []string{
	"PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "TZ",
	"LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "LC_NUMERIC", "LC_TIME", "LC_COLLATE",
	"XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
	"SSL_CERT_FILE", "SSL_CERT_DIR",
}

// minContained is the shortest secret looked for inside a value; a shorter
// one would match ordinary values by chance, so it must match a whole value.
const minContained = 6

type options struct {
	names   []string
	secrets []string
}

// Opt configures Environ.
type Opt func(*options)

// WithVars lets through more variables one kind of child needs (git's
// GIT_CONFIG_GLOBAL, ...). INPUT_* names are never let through.
func WithVars(names ...string) Opt {
	return func(o *options) { o.names = append(o.names, names...) }
}

// WithoutValues drops every variable whose value holds one of secrets, so
// that a key pasted into an allowed variable (a proxy URL, say) still stays
// out.
func WithoutValues(secrets ...string) Opt {
	return func(o *options) { o.secrets = append(o.secrets, secrets...) }
}

// Environ returns NAME=VALUE for each allowed variable that getenv has set.
// The result is never nil: an exec.Cmd with a nil Env would inherit the
// whole environment instead.
func Environ(getenv func(string) string, opts ...Opt) []string {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	env := []string{}
	seen := map[string]bool{}
	for _, name := range append(append([]string{}, base...), o.names...) {
		if seen[name] || never(name) {
			continue
		}
		seen[name] = true
		if v := getenv(name); v != "" && !holdsSecret(v, o.secrets) {
			env = append(env, name+"="+v)
		}
	}
	return env
}

func holdsSecret(v string, secrets []string) bool {
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if v == s || (len(s) >= minContained && strings.Contains(v, s)) {
			return true
		}
	}
	return false
}

// requestToken is what a job with enable-openid-connect asks the forge
// for its OIDC ID token with: a secret of the job's, never a child's.
const requestToken = "ACTIONS_ID_TOKEN_REQUEST_TOKEN" //nolint:gosec // a name, not a secret

// never are the variables no child gets, whatever asks: the inputs and
// the ID token request's token.
func never(name string) bool {
	upper := strings.ToUpper(name)
	return strings.HasPrefix(upper, "INPUT_") || upper == requestToken
}

// Scrub removes from this process's own environment every INPUT_*
// variable, ACTIONS_ID_TOKEN_REQUEST_TOKEN and every variable holding one
// of secrets. Call it once the inputs are read: a library that starts a process with os.Environ() then passes on
// neither. (The kernel's copy, /proc/self/environ, keeps them: only what
// children inherit changes.)
func Scrub(secrets ...string) {
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		if never(name) || holdsSecret(value, secrets) {
			_ = os.Unsetenv(name)
		}
	}
}
