package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/buildkitd"
	"github.com/blumeops/build-push-image/internal/guard"
	"github.com/blumeops/build-push-image/internal/procenv"
	"github.com/blumeops/build-push-image/internal/publish"
	"github.com/blumeops/build-push-image/internal/push"
)

// config is everything the program needs, read once from flags and the
// environment. Nothing below main reads the environment again.
type config struct {
	// Images are the repositories to push to, one build for all; Image is
	// the first, the one the outputs name.
	Images []string
	Image  string
	// Tags are extra tags and SemverTags adds the version's moving tags
	// (v1, v1.2): tags that follow releases, written after the version tag.
	Tags            []string
	SemverTags      bool
	Version         string
	SHA             string
	SHALength       int
	Context         string
	File            string
	Target          string
	BuildArgs       map[string]string
	Labels          map[string]string
	Platforms       []string
	Username        string
	APIKey          string // secret: never printed, never in argv
	Push            bool
	RegistryTLS     push.TLS
	BuildkitAddress string
	// BuildkitAddressSet is true when the address came from the input or
	// $BUILDKIT_HOST: then it is used as given, never replaced by a daemon
	// of our own.
	BuildkitAddressSet bool
	BuildkitTLS        *build.TLS
	BuildkitdBinary    string // buildkitd on PATH, to start one when none answers
	OnExisting         guard.Policy
	PushVia            publish.Via // who uploads: BuildKit, the action, or BuildKit falling back
	Annotations        map[string]string
	Secrets            map[string][]byte // build secrets: masked like the key
	CacheFrom, CacheTo []build.Cache
	Provenance         string // "", "min" or "max"
	SBOM               bool
	// Epoch is SOURCE_DATE_EPOCH: the commit's time unless given; zero
	// when unknown (the build is then not reproducible).
	Epoch time.Time
	// BuildOpts are the buildx build options, the extra OCI archive and the
	// logins for other registries.
	BuildOpts buildOptions
	Debug     bool   // RUNNER_DEBUG=1: regclient's debug log on stderr
	TempDir   string // where the OCI layout goes ($RUNNER_TEMP)
	// ChildEnv is the whole environment of the processes we start (git,
	// buildkitd): allow-listed, without inputs or secret values.
	ChildEnv []string
	// BuildkitImage and BuildkitContainerFlags run the BuildKit container
	// on a Docker daemon when there is nothing else.
	BuildkitImage          string
	BuildkitContainerFlags []string
}

// registry is the host[:port] part of the image.
func (c config) registry() string { return strings.SplitN(c.Image, "/", 2)[0] }

// loginFor is the login to push image with: username and api-key for the
// first image's registry, and for another registry its line of
// registry-credentials (or the runner's Docker config), falling back to
// username and api-key.
func (c config) loginFor(image string) (user, pass string) {
	host := strings.SplitN(image, "/", 2)[0]
	if login, ok := build.LoginFor(c.BuildOpts.Logins, host); ok && host != c.registry() && login.Password != "" {
		return login.Username, login.Password
	}
	return c.Username, c.APIKey
}

// shaTag is the commit SHA, shortened to SHALength.
func (c config) shaTag() string { return c.SHA[:c.SHALength] }

// buildkitd is where to look for buildkitd, and what may be started.
func (c config) buildkitd() buildkitd.Config {
	return buildkitd.Config{
		Address: c.BuildkitAddress, AddressSet: c.BuildkitAddressSet, TLS: c.BuildkitTLS,
		Binary: c.BuildkitdBinary, TempDir: c.TempDir, Env: c.ChildEnv,
		Container: buildkitd.Container{Image: c.BuildkitImage, RunFlags: c.BuildkitContainerFlags},
	}
}

const defaultBuildkitAddress = "unix:///run/buildkit/buildkitd.sock"

// loadConfig reads every input from flags, falling back to INPUT_* and
// then to the defaults, and validates the result.
func loadConfig(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	raw, err := readInputs(args, getenv, usage)
	if err != nil {
		return config{}, err
	}
	return parseConfig(raw, getenv)
}

func readInputs(args []string, getenv func(string) string, usage io.Writer) (map[string]string, error) {
	fs := flag.NewFlagSet("build-push-image", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.Usage = func() {
		fmt.Fprintln(usage, "Usage: build-push-image [--input value ...]\n\nEvery input of action.yml is a flag, or INPUT_<NAME> in the environment; a flag wins.\napi-key is read from the environment only: INPUT_API-KEY or INPUT_API_KEY.")
		fs.PrintDefaults()
	}
	flags := make(map[string]*string, len(inputs))
	for _, in := range inputs {
		flags[in.name] = fs.String(in.name, in.def, in.description)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("command line: %w; see --help", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("command line: unexpected argument %q; every input is a --flag", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["api-key"] {
		return nil, errors.New("api-key: not accepted as a flag, since a command line is visible to every process on the machine; set INPUT_API_KEY in the environment instead")
	}
	raw := make(map[string]string, len(inputs))
	for _, in := range inputs {
		v := envInput(getenv, in.name)
		if set[in.name] {
			v = strings.TrimSpace(*flags[in.name])
		}
		raw[in.name] = firstNonEmpty(v, in.def)
	}
	return raw, nil
}

// envInput reads INPUT_<NAME>. Runners keep the hyphens of an input's name
// (INPUT_API-KEY), which a shell cannot export, so the underscore spelling
// is accepted too.
func envInput(getenv func(string) string, name string) string {
	upper := strings.ToUpper(name)
	if v := getenv("INPUT_" + upper); v != "" {
		return strings.TrimSpace(v)
	}
	return strings.TrimSpace(getenv("INPUT_" + strings.ReplaceAll(upper, "-", "_")))
}

// parseConfig turns the raw inputs into a config. It checks every input
// and reports every bad one at once (errors.Join), each as one line that
// names the input.
func parseConfig(raw map[string]string, getenv func(string) string) (config, error) {
	c := config{
		Version:            raw["version"],
		SHA:                firstNonEmpty(raw["sha"], getenv("GITHUB_SHA")),
		Context:            raw["context"],
		Target:             raw["target"],
		Username:           raw["username"],
		APIKey:             raw["api-key"],
		BuildkitAddress:    firstNonEmpty(raw["buildkit-address"], getenv("BUILDKIT_HOST"), defaultBuildkitAddress),
		BuildkitAddressSet: raw["buildkit-address"] != "" || getenv("BUILDKIT_HOST") != "",
		TempDir:            firstNonEmpty(getenv("RUNNER_TEMP"), os.TempDir()),
		Debug:              getenv("RUNNER_DEBUG") == "1",
	}
	c.BuildkitdBinary, _ = exec.LookPath("buildkitd")
	c.BuildkitImage = raw["buildkit-image"]
	c.BuildkitContainerFlags = strings.Fields(raw["buildkit-container-flags"])
	c.File = firstNonEmpty(raw["file"], filepath.Join(c.Context, "Dockerfile"))
	var errs inputErrs
	set(&errs, "push", &c.Push)(parseBool(raw["push"]))
	set(&errs, "image", &c.Images)(parseImages(raw["image"]))
	c.Image = firstNonEmpty(append(c.Images, "")...)
	errs.add("version", validateTag(c.Version))
	errs.add("sha", validateSHA(c.SHA))
	set(&errs, "sha-length", &c.SHALength)(parseSHALength(raw["sha-length"], len(c.SHA)))
	contextErr := validateDir(c.Context)
	errs.add("context", contextErr)
	if contextErr == nil || raw["file"] != "" { // else the context's error says it all
		errs.add("file", validateFile(c.File))
	}
	set(&errs, "build-args", &c.BuildArgs)(parseKeyValues(raw["build-args"]))
	set(&errs, "labels", &c.Labels)(parseKeyValues(raw["labels"]))
	set(&errs, "annotations", &c.Annotations)(parseKeyValues(raw["annotations"]))
	set(&errs, "platforms", &c.Platforms)(build.ParsePlatforms(raw["platforms"]))
	set(&errs, "registry-tls", &c.RegistryTLS)(push.ParseTLS(raw["registry-tls"]))
	addrErr := buildkitd.ValidateAddress(c.BuildkitAddress)
	errs.add("buildkit-address", addrErr)
	if addrErr == nil {
		set(&errs, "", &c.BuildkitTLS)(parseBuildkitTLS(raw, c.BuildkitAddress))
	}
	errs.add("", validateCredentials(c))
	set(&errs, "on-existing-version", &c.OnExisting)(guard.ParsePolicy(raw["on-existing-version"]))
	set(&errs, "push-via", &c.PushVia)(publish.ParseVia(raw["push-via"]))
	set(&errs, "secrets", &c.Secrets)(parseSecrets(raw["secrets"], getenv))
	set(&errs, "cache-from", &c.CacheFrom)(eachLine(raw["cache-from"], build.ParseCache))
	set(&errs, "cache-to", &c.CacheTo)(eachLine(raw["cache-to"], build.ParseCache))
	set(&errs, "provenance", &c.Provenance)(build.ParseProvenance(raw["provenance"]))
	set(&errs, "sbom", &c.SBOM)(parseBool(raw["sbom"]))
	set(&errs, "source-date-epoch", &c.Epoch)(parseEpoch(raw["source-date-epoch"]))
	errs.add("on-existing-version", validateSkipIdentical(c))
	set(&errs, "tags", &c.Tags)(eachLine(raw["tags"], extraTag(c.Version)))
	set(&errs, "semver-tags", &c.SemverTags)(parseBool(raw["semver-tags"]))
	errs.add("semver-tags", validateSemverTags(c.SemverTags, c.Version))
	c.BuildOpts.parse(&errs, raw, getenv)
	if err := errors.Join(errs...); err != nil {
		return config{}, err
	}
	// Once every input is valid: which logins and secrets the build hands
	// buildkitd depends on several of them.
	if err := validateBuildkitWire(c); err != nil {
		return config{}, err
	}
	c.ChildEnv = childEnv(c, getenv)
	if c.Epoch.IsZero() {
		c.Epoch = commitTime(c.Context, c.SHA, c.ChildEnv)
	}
	meta := ociMetadata(c, getenv)
	c.Labels, c.Annotations = withDefaults(meta, c.Labels), withDefaults(meta, c.Annotations)
	return c, nil
}

// inputErrs collects every bad input, each error a line naming its input.
type inputErrs []error

// validateSkipIdentical refuses skip-identical with attestations: BuildKit
// stamps build times and an invocation id into them, so a rebuild never has
// the published digest and the policy could never match.
func validateSkipIdentical(c config) error {
	if c.OnExisting != guard.SkipIdentical || (c.Provenance == "" && !c.SBOM) {
		return nil
	}
	return errors.New("skip-identical never matches with provenance or sbom on (BuildKit stamps build times into the attestations, so every build has a new digest); turn them off for this step, or use on-existing-version: fail")
}

// add keeps err, named by the input (name "": err names it already). Each
// error of a joined err is kept as a line of its own.
func (e *inputErrs) add(name string, err error) {
	if err == nil {
		return
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, one := range joined.Unwrap() {
			e.add(name, one)
		}
		return
	}
	if name != "" {
		err = fmt.Errorf("%s: %w", name, err)
	}
	*e = append(*e, err)
}

// set returns a function that stores a parser's value in dst and keeps its
// error, named by the input: set(&errs, "push", &c.Push)(parseBool(v)).
func set[T any](e *inputErrs, name string, dst *T) func(T, error) {
	return func(v T, err error) {
		*dst = v
		e.add(name, err)
	}
}

// eachLine parses every non-empty line of a multi-line input; an error
// names its line, and every bad line is reported.
func eachLine[T any](text string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	var errs []error
	for i, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		v, err := parse(line)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", i+1, err))
			continue
		}
		out = append(out, v)
	}
	return out, errors.Join(errs...)
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean; use true or false", v)
}

var keyPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// parseKeyValues reads one KEY=VALUE a line; every bad line is reported.
func parseKeyValues(v string) (map[string]string, error) {
	kv := map[string]string{}
	var errs []error
	for i, line := range strings.Split(v, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok || !keyPattern.MatchString(k) {
			errs = append(errs, fmt.Errorf("line %d is not KEY=VALUE; write one KEY=VALUE per line", i+1))
			continue
		}
		kv[k] = val
	}
	return kv, errors.Join(errs...)
}

// buildkitHost is the host of a tcp://host:port address.
func buildkitHost(addr string) (string, error) {
	hostport, ok := strings.CutPrefix(addr, "tcp://")
	if !ok {
		return "", fmt.Errorf("%q is not a tcp:// address", addr)
	}
	host, _, err := net.SplitHostPort(hostport)
	if err != nil || host == "" {
		return "", fmt.Errorf("%q has no host:port", addr)
	}
	return host, nil
}

// parseBuildkitTLS reads the buildkit-tls-* inputs. Each is a path or the
// PEM contents themselves (what a secret holds).
func parseBuildkitTLS(raw map[string]string, addr string) (*build.TLS, error) {
	var t build.TLS
	var errs []error
	for _, f := range []struct {
		name string
		dst  *[]byte
	}{{"buildkit-tls-ca", &t.CA}, {"buildkit-tls-cert", &t.Cert}, {"buildkit-tls-key", &t.Key}} {
		v := raw[f.name]
		if v == "" {
			continue
		}
		if strings.HasPrefix(v, "-----BEGIN ") {
			*f.dst = []byte(v)
			continue
		}
		b, err := os.ReadFile(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: cannot read %q; give a readable file path or the PEM contents", f.name, v))
		}
		*f.dst = b
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	t.ServerName = raw["buildkit-tls-server-name"]
	if t.CA == nil && t.Cert == nil && t.Key == nil && t.ServerName == "" {
		return nil, nil
	}
	switch {
	case !strings.HasPrefix(addr, "tcp://"):
		return nil, fmt.Errorf("buildkit-tls-*: TLS needs a tcp:// buildkit-address, not %q", addr)
	case (t.Cert == nil) != (t.Key == nil):
		return nil, errors.New("buildkit-tls-cert and buildkit-tls-key: give both or neither")
	}
	if t.ServerName == "" {
		t.ServerName, _ = buildkitHost(addr) // valid: checked before
	}
	return &t, nil
}

// validateBuildkitWire refuses a plaintext tcp:// buildkitd off this
// machine when registry credentials or build secrets would be handed to
// it: they would cross the network in clear (Basic auth hands buildkitd
// the key itself).
func validateBuildkitWire(c config) error {
	addr, plain := strings.CutPrefix(c.BuildkitAddress, "tcp://")
	if !plain || c.BuildkitTLS != nil || (len(registryCredentials(c)) == 0 && len(c.Secrets) == 0) || isLoopback(addr) {
		return nil
	}
	return fmt.Errorf("buildkit-address: %s is plaintext tcp:// to another machine, and the registry credentials or build secrets would cross it in clear; set buildkit-tls-ca, buildkit-tls-cert and buildkit-tls-key (buildkit-tls-*) for mTLS, or use a unix:// socket or a loopback address", c.BuildkitAddress)
}

// isLoopback is true for localhost and loopback IP literals (host[:port]).
// Other names are not resolved: DNS could answer differently at dial time.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = strings.Trim(hostport, "[]")
	}
	ip := net.ParseIP(host)
	return strings.EqualFold(host, "localhost") || (ip != nil && ip.IsLoopback())
}

func validateCredentials(c config) error {
	if !c.Push {
		return nil
	}
	var errs []error
	if c.Username == "" {
		errs = append(errs, errors.New("username: required when push is true; set it to the registry user the API key belongs to (or push: false)"))
	}
	switch {
	case c.APIKey == "":
		errs = append(errs, errors.New("api-key: required when push is true; pass the key from a secret, e.g. api-key: ${{ secrets.REGISTRY_API_KEY }} (or push: false)"))
	case strings.ContainsAny(c.APIKey, "\r\n"):
		errs = append(errs, errors.New("api-key: contains a line break; store the key alone in the secret, on one line"))
	}
	return errors.Join(errs...)
}

// childEnv is the environment of every process we start: the allow list
// of internal/procenv plus what git reads for its configuration, minus any
// variable that holds the key or another secret.
func childEnv(c config, getenv func(string) string) []string {
	return procenv.Environ(getenv,
		procenv.WithVars("GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM", "GIT_CEILING_DIRECTORIES"),
		procenv.WithVars(buildkitd.DockerEnv...),
		procenv.WithoutValues(c.secretValues()...))
}

// secretValues are the values never printed nor passed on: the key, every
// registry login's secret, the build secrets, the buildkit TLS key (some
// may be empty).
func (c config) secretValues() []string {
	out := append([]string{c.APIKey}, build.Secrets(registryCredentials(c))...)
	for _, v := range c.Secrets {
		out = append(out, string(v))
	}
	if c.BuildkitTLS != nil {
		out = append(out, string(c.BuildkitTLS.Key))
	}
	return out
}
