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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/guard"
	"github.com/blumeops/build-push-image/internal/procenv"
	"github.com/blumeops/build-push-image/internal/push"
)

// config is everything the program needs, read once from flags and the
// environment. Nothing below main reads the environment again.
type config struct {
	Image           string
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
	PushViaBuildkit    bool // buildkitd uploads by digest; the action only tags
	Annotations        map[string]string
	Secrets            map[string][]byte // build secrets: masked like the key
	CacheFrom, CacheTo []build.Cache
	Provenance         string // "", "min" or "max"
	SBOM               bool
	// Epoch is SOURCE_DATE_EPOCH: the commit's time unless given; zero
	// when unknown (the build is then not reproducible).
	Epoch   time.Time
	Debug   bool   // RUNNER_DEBUG=1: regclient's debug log on stderr
	TempDir string // where the OCI layout goes ($RUNNER_TEMP)
	// ChildEnv is the whole environment of the processes we start (git,
	// buildkitd): allow-listed, without inputs or secret values.
	ChildEnv []string
}

// registry is the host[:port] part of the image.
func (c config) registry() string { return strings.SplitN(c.Image, "/", 2)[0] }

// shaTag is the commit SHA, shortened to SHALength.
func (c config) shaTag() string { return c.SHA[:c.SHALength] }

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

func parseConfig(raw map[string]string, getenv func(string) string) (config, error) {
	c := config{
		Image:              raw["image"],
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
	c.File = firstNonEmpty(raw["file"], filepath.Join(c.Context, "Dockerfile"))
	var err error
	checks := []func() error{
		func() (err error) { c.Push, err = parseBool("push", raw["push"]); return },
		func() error { return validateImage(c.Image) },
		func() error { return validateTag("version", c.Version) },
		func() (err error) { c.SHALength, err = parseSHA(c.SHA, raw["sha-length"]); return },
		func() error { return validateDir("context", c.Context) },
		func() error { return validateFile("file", c.File) },
		func() (err error) { c.BuildArgs, err = parseKeyValues("build-args", raw["build-args"]); return },
		func() (err error) { c.Labels, err = parseKeyValues("labels", raw["labels"]); return },
		func() (err error) { c.Platforms, err = parsePlatforms(raw["platforms"]); return },
		func() (err error) { c.RegistryTLS, err = parseTLS(raw["registry-tls"]); return },
		func() error { return validateBuildkitAddress(c.BuildkitAddress) },
		func() (err error) { c.BuildkitTLS, err = parseBuildkitTLS(raw, c.BuildkitAddress); return },
		func() error { return validateCredentials(c) },
		func() (err error) { c.OnExisting, err = parsePolicy(raw["on-existing-version"]); return },
		func() (err error) { c.PushViaBuildkit, err = parsePushVia(raw["push-via"]); return },
		func() (err error) { c.Annotations, err = parseKeyValues("annotations", raw["annotations"]); return },
		func() (err error) { c.Secrets, err = parseSecrets(raw["secrets"], getenv); return },
		func() error { return validateBuildkitWire(c) },
		func() (err error) { c.CacheFrom, err = parseCaches("cache-from", raw["cache-from"]); return },
		func() (err error) { c.CacheTo, err = parseCaches("cache-to", raw["cache-to"]); return },
		func() (err error) { c.Provenance, err = parseProvenance(raw["provenance"]); return },
		func() (err error) { c.SBOM, err = parseBool("sbom", raw["sbom"]); return },
	}
	for _, check := range checks {
		if err = check(); err != nil {
			return config{}, err
		}
	}
	c.ChildEnv = childEnv(c, getenv)
	if c.Epoch, err = parseEpoch(raw["source-date-epoch"], c.Context, c.SHA, c.ChildEnv); err != nil {
		return config{}, err
	}
	meta := ociMetadata(c, getenv)
	c.Labels, c.Annotations = withDefaults(meta, c.Labels), withDefaults(meta, c.Annotations)
	return c, nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func parseBool(name, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%s: %q is not a boolean; use true or false", name, v)
}

var (
	// imagePattern is a lowercase repository with an explicit registry host
	// (a name with a dot or a port, or localhost): there is no default
	// registry to fall back to.
	imagePattern = regexp.MustCompile(`^(localhost|[a-z0-9-]+(\.[a-z0-9-]+)+|[a-z0-9-]+(\.[a-z0-9-]+)*:[0-9]+)(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)+$`)
	tagPattern   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	shaPattern   = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
)

func validateImage(image string) error {
	const fix = "; use host[:port]/path, e.g. registry.example/team/app"
	switch {
	case image == "":
		return errors.New("image: required; set it to the repository to push to, e.g. registry.example/team/app")
	case strings.Contains(image, "://"):
		return fmt.Errorf("image: %q must not include a scheme; drop %q (registry-tls chooses http or https)", image, image[:strings.Index(image, "://")+3])
	case strings.Contains(image, "@"):
		return fmt.Errorf("image: %q must not include a digest%s", image, fix)
	case strings.Contains(image[strings.LastIndex(image, "/")+1:], ":"):
		return fmt.Errorf("image: %q must not include a tag: the tags come from the version and sha inputs%s", image, fix)
	case image != strings.ToLower(image):
		return fmt.Errorf("image: %q must be lowercase; use %q", image, strings.ToLower(image))
	case !imagePattern.MatchString(image):
		return fmt.Errorf("image: %q is not a valid repository%s", image, fix)
	}
	return nil
}

func validateTag(name, tag string) error {
	switch {
	case tag == "":
		return fmt.Errorf("%s: required; set it to the tag to publish, e.g. v1.2.0", name)
	case strings.Contains(tag, "+"):
		return fmt.Errorf("%s: %q contains '+', which tags cannot hold; use '-' instead (e.g. %s)", name, tag, strings.ReplaceAll(tag, "+", "-"))
	case len(tag) > 128:
		return fmt.Errorf("%s: %d characters long; a tag has at most 128", name, len(tag))
	case !tagPattern.MatchString(tag):
		return fmt.Errorf("%s: %q is not a valid tag; use letters, digits, '.', '_' and '-', not starting with '.' or '-'", name, tag)
	}
	return nil
}

func parseSHA(sha, length string) (int, error) {
	if sha == "" {
		return 0, errors.New("sha: required; set it to the commit SHA (the default, $GITHUB_SHA, is not set here)")
	}
	if !shaPattern.MatchString(sha) {
		return 0, fmt.Errorf("sha: %q is not a full commit SHA; use the 40 (or 64) lowercase hex digits of `git rev-parse HEAD`", sha)
	}
	if length == "" {
		return len(sha), nil
	}
	n, err := strconv.Atoi(length)
	if err != nil || n < 7 || n > 40 {
		return 0, fmt.Errorf("sha-length: %q must be a number from 7 to 40", length)
	}
	return n, nil
}

// cleanPath refuses a relative path that climbs out of the working
// directory: an action input should not reach into the runner's files.
func cleanPath(name, p string) (string, error) {
	clean := filepath.Clean(p)
	if !filepath.IsAbs(clean) && (clean == ".." || strings.HasPrefix(clean, "../")) {
		return "", fmt.Errorf("%s: %q leaves the workspace; give a path inside it", name, p)
	}
	return clean, nil
}

// statInput cleans and stats a path input; notFound says what is missing.
func statInput(name, p, notFound string) (string, os.FileInfo, error) {
	clean, err := cleanPath(name, p)
	if err != nil {
		return "", nil, err
	}
	st, err := os.Stat(clean)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %s", name, notFound)
	}
	return clean, st, nil
}

func validateDir(name, p string) error {
	_, st, err := statInput(name, p, fmt.Sprintf("directory %q not found; check the path (is the repository checked out?)", p))
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s: %q is a file, not a directory; give the directory to build from", name, p)
	}
	return nil
}

func validateFile(name, p string) error {
	clean, st, err := statInput(name, p, fmt.Sprintf("Dockerfile %q not found; set file to its path", p))
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s: %q is a directory; give the path of the Dockerfile itself", name, p)
	}
	f, err := os.Open(clean)
	if err != nil {
		return fmt.Errorf("%s: Dockerfile %q cannot be read (%v); check its permissions", name, p, errors.Unwrap(err))
	}
	return f.Close()
}

var keyPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

func parseKeyValues(name, v string) (map[string]string, error) {
	kv := map[string]string{}
	for i, line := range strings.Split(v, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok || !keyPattern.MatchString(k) {
			return nil, fmt.Errorf("%s: line %d is not KEY=VALUE; write one KEY=VALUE per line", name, i+1)
		}
		kv[k] = val
	}
	return kv, nil
}

var (
	knownOS    = []string{"linux", "windows", "darwin", "freebsd"}
	knownArch  = []string{"amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "mips64le", "loong64"}
	archFormat = "os/arch[/variant], e.g. linux/amd64 or linux/arm/v7"
)

func parsePlatforms(v string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		parts := strings.Split(p, "/")
		if len(parts) < 2 || len(parts) > 3 || !slices.Contains(knownOS, parts[0]) || !slices.Contains(knownArch, parts[1]) {
			return nil, fmt.Errorf("platforms: %q is not a known platform; use %s", p, archFormat)
		}
		out = append(out, p)
	}
	return out, nil
}

func parseTLS(v string) (push.TLS, error) {
	switch v {
	case "enabled":
		return push.TLSEnabled, nil
	case "insecure":
		return push.TLSInsecure, nil
	case "disabled":
		return push.TLSDisabled, nil
	}
	return 0, fmt.Errorf("registry-tls: %q is not one of enabled, insecure, disabled", v)
}

func validateBuildkitAddress(addr string) error {
	for _, scheme := range []string{"unix://", "tcp://"} {
		if strings.HasPrefix(addr, scheme) && len(addr) > len(scheme) {
			return nil
		}
	}
	return fmt.Errorf("buildkit-address: %q must start with unix:// or tcp://", addr)
}

// parseBuildkitTLS reads the buildkit-tls-* inputs. Each is a path or the
// PEM contents themselves (what a secret holds).
func parseBuildkitTLS(raw map[string]string, addr string) (*build.TLS, error) {
	var t build.TLS
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
			return nil, fmt.Errorf("%s: cannot read %q; give a readable file path or the PEM contents", f.name, v)
		}
		*f.dst = b
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
		t.ServerName = strings.Split(strings.TrimPrefix(addr, "tcp://"), ":")[0]
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
	switch {
	case c.Username == "":
		return errors.New("username: required when push is true; set it to the registry user the API key belongs to (or push: false)")
	case c.APIKey == "":
		return errors.New("api-key: required when push is true; pass the key from a secret, e.g. api-key: ${{ secrets.REGISTRY_API_KEY }} (or push: false)")
	case strings.ContainsAny(c.APIKey, "\r\n"):
		return errors.New("api-key: contains a line break; store the key alone in the secret, on one line")
	}
	return nil
}

// childEnv is the environment of every process we start: the allow list
// of internal/procenv plus what git reads for its configuration, minus any
// variable that holds the key or another secret.
func childEnv(c config, getenv func(string) string) []string {
	secrets := []string{c.APIKey}
	for _, v := range c.Secrets {
		secrets = append(secrets, string(v))
	}
	if c.BuildkitTLS != nil {
		secrets = append(secrets, string(c.BuildkitTLS.Key))
	}
	return procenv.Environ(getenv,
		procenv.WithVars("GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM", "GIT_CEILING_DIRECTORIES"),
		procenv.WithoutValues(secrets...))
}
