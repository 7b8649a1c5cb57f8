package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/blumeops/build-push-image/internal/input"
	"github.com/blumeops/build-push-image/internal/oidc"
	"github.com/blumeops/build-push-image/internal/procenv"
	"github.com/blumeops/build-push-image/internal/push"
	"github.com/blumeops/build-push-image/internal/version"
)

// The inputs both commands read (the build and the plan): the registry's
// login and TLS, where the version comes from, and the tag suffix. Each is
// parsed here once, with the same checks and lines.

// Access is how a command reaches the registry: username, api-key or
// the job's OIDC identity (oidc-audience), registry-tls, and how early to
// warn that a zot API key expires.
type Access struct {
	Username    string
	APIKey      string // secret: never printed, never in argv
	RegistryTLS push.TLS
	// KeyExpiryWarning is key-expiry-warning: warn when the zot API key
	// expires within that many days; 0 never asks.
	KeyExpiryWarning int
	// IDToken is the job's request for an OIDC ID token with the audience
	// oidc-audience names, the login instead of a key; nil without it.
	IDToken *oidc.Forge
}

// parseAccess reads username, api-key, oidc-audience and registry-tls.
// With required (a push) username and api-key, or oidc-audience, must be
// given; else (the plan's look-ups, a pull-request check) none is needed,
// and they are anonymous without one. A build that pushes nothing never
// asks for an ID token (its check is anonymous): it passes identity false.
func parseAccess(errs *inputErrs, raw map[string]string, required, identity bool, getenv func(string) string) Access {
	a := Access{Username: raw["username"], APIKey: raw["api-key"]}
	read(errs, raw, "registry-tls", &a.RegistryTLS, push.ParseTLS)
	read(errs, raw, "key-expiry-warning", &a.KeyExpiryWarning, parseDays)
	if audience := raw["oidc-audience"]; audience != "" && identity { // a push always asks for one
		a.IDToken = parseIDToken(errs, a, audience, getenv)
		return a
	}
	if required && a.Username == "" {
		errs.add("username", errors.New("required when push is true; set it to the registry user the API key belongs to (or push: false)"))
	}
	if !required && a.Username == "" && a.APIKey != "" {
		errs.add("username", errors.New("required with api-key; set it to the registry user the API key belongs to"))
	}
	switch {
	case required && a.APIKey == "":
		errs.add("api-key", errors.New("required when push is true; pass the key from a secret, e.g. api-key: ${{ secrets.REGISTRY_API_KEY }}, or set oidc-audience to publish with the job's OIDC identity (or push: false)"))
	case strings.ContainsAny(a.APIKey, "\r\n"):
		errs.add("api-key", errors.New("contains a line break; store the key alone in the secret, on one line"))
	}
	return a
}

// parseIDToken reads oidc-audience: the job must have been offered an ID
// token (enable-openid-connect), and api-key is then not given.
func parseIDToken(errs *inputErrs, a Access, audience string, getenv func(string) string) *oidc.Forge {
	if a.APIKey != "" {
		errs.add("oidc-audience", errors.New("and api-key are both set; give one: oidc-audience publishes with the job's own OIDC identity, api-key with a registry key"))
		return nil
	}
	if strings.ContainsAny(audience, " \t\r\n") {
		errs.add("oidc-audience", fmt.Errorf("%q holds white space; give the one audience the registry expects, e.g. the registry's host", audience))
		return nil
	}
	f, err := oidc.FromEnv(getenv, audience)
	if err != nil {
		errs.add("oidc-audience", fmt.Errorf("%w (%s and %s are not both set); set enable-openid-connect: true on the workflow or the job (Forgejo v15 or later; a pull request from a fork never gets one)", err, oidc.EnvRequestURL, oidc.EnvRequestToken))
		return nil
	}
	return &f
}

// maxWarningDays is more than a zot API key is usually made to live.
const maxWarningDays = 3650

// parseDays reads key-expiry-warning: a whole number of days, 0 for off.
func parseDays(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxWarningDays {
		return 0, fmt.Errorf("%q must be a whole number of days from 0 (no warning) to %d, e.g. 14", v, maxWarningDays)
	}
	return n, nil
}

var argName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseSource reads version-arg, version-file, version-pattern,
// version-prefix, version-command and version-command-first.
func parseSource(errs *inputErrs, raw map[string]string, getenv func(string) string) version.Source {
	s := version.Source{Arg: raw["version-arg"], File: raw["version-file"], Prefix: raw["version-prefix"]}
	if s.Arg != "" && !argName.MatchString(s.Arg) {
		errs.add("version-arg", fmt.Errorf("%q is not an ARG name; give the name alone, e.g. APP_VERSION", s.Arg))
	}
	if s.Arg != "" && s.File != "" {
		errs.add("version-arg", errors.New("and version-file are both set; give one: an ARG of the Dockerfile, or a file with version-pattern"))
	}
	if s.File != "" {
		clean, err := cleanPath(s.File)
		if err == nil && filepath.IsAbs(clean) {
			err = fmt.Errorf("%q is absolute; give a path relative to the context, e.g. default.nix", s.File)
		}
		s.File = clean
		errs.add("version-file", err)
	}
	read(errs, raw, "version-pattern", &s.Pattern, version.ParsePattern)
	if s.Pattern != nil && s.File == "" {
		errs.add("version-pattern", errors.New("needs version-file, the file to search"))
	}
	if !suffixPattern.MatchString(s.Prefix) {
		errs.add("version-prefix", fmt.Errorf("%q cannot be part of a tag; use letters, digits, '.', '_' and '-', e.g. v", s.Prefix))
	}
	read(errs, raw, "version-command", &s.Command, version.ParseCommand)
	if s.Command != nil {
		s.Command.Env = procenv.Environ(getenv, procenv.WithVars(nixVars...), procenv.WithoutValues(rawSecrets(raw)...))
	}
	read(errs, raw, "version-command-first", &s.CommandFirst, parseBool)
	if s.CommandFirst && s.Command == nil {
		errs.add("version-command-first", errors.New("needs version-command, the command to run first"))
	}
	return s
}

// nixVars are what a version command (nix eval) may need besides
// procenv's allow list: where nixpkgs is (<nixpkgs>), the daemon, the CA
// bundle, the user's nix.conf files. Not NIX_CONFIG: it may hold
// access-tokens.
var nixVars = []string{"NIX_PATH", "NIX_REMOTE", "NIX_SSL_CERT_FILE", "NIX_CONF_DIR", "NIX_USER_CONF_FILES"}

// rawSecrets are the secret inputs as given, whole and word by word (a
// registry-credentials or secrets line), for what a child never gets.
func rawSecrets(raw map[string]string) []string {
	var out []string
	for _, name := range append([]string{"registry-credentials", "secrets"}, SecretInputs...) {
		out = append(out, raw[name])
		out = append(out, strings.Fields(raw[name])...)
	}
	return out
}

// ReadVersion reads the version of the image built from dir with
// dockerfile from src, checked like the version input, and where it was
// read; errors name the input and the file. Both commands read versions
// through it, so they read the same one.
func ReadVersion(src version.Source, dir, dockerfile string) (version.Found, error) {
	f, err := src.Read(dir, dockerfile)
	var cmdErr *version.CommandError
	switch {
	case errors.As(err, &cmdErr):
		return version.Found{}, input.New("version-command", err, "")
	case err != nil:
		return version.Found{}, input.New(src.Input(), err, "")
	}
	if err := validateTag(f.Version); err != nil && f.Command != "" {
		return version.Found{}, input.New("version-command", fmt.Errorf("%s printed %q, not a version tag: %w", f.Where(), f.Version, err), "")
	} else if err != nil {
		return version.Found{}, input.New(src.Input(), fmt.Errorf("the version read from %s: %w", f.Where(), err), "")
	}
	return f, nil
}

// VersionTag is the tag that names version: the version with the tag
// suffix, both validated. Both commands name the version tag with it.
func VersionTag(v, suffix string) (string, error) {
	if err := validateTagSuffix(suffix, []string{v}); err != nil {
		return "", input.New("tag-suffix", err, "")
	}
	return versionTag(v, suffix), nil
}

// versionTag is how both commands name a version's tag.
func versionTag(v, suffix string) string { return v + suffix }

// runnerDebug is the runner asking for debug output (a re-run with debug
// logging sets RUNNER_DEBUG=1): both commands then log regclient's
// requests.
func runnerDebug(getenv func(string) string) bool { return getenv("RUNNER_DEBUG") == "1" }
