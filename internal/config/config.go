// Package config reads the action's inputs once (a flag, else
// INPUT_<NAME>, else action.yml's default) and turns them into a Config,
// checking every input and reporting every bad one at once, one line each
// naming it. Nothing after Load reads the environment; main only wires the
// Config into the run.
package config

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/regclient/regclient/types/ref"

	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/buildkitd"
	"github.com/blumeops/build-push-image/internal/compression"
	"github.com/blumeops/build-push-image/internal/guard"
	"github.com/blumeops/build-push-image/internal/procenv"
	"github.com/blumeops/build-push-image/internal/proofs"
	"github.com/blumeops/build-push-image/internal/publish"
	"github.com/blumeops/build-push-image/internal/version"
)

// Config is everything the program needs, read once from flags and the
// environment. Nothing after Load reads the environment again.
type Config struct {
	// Access is the login and TLS of the registry (shared with the plan).
	Access
	// Images are the repositories to push to, one build for all, as the
	// input spells them; Image is the first, the one the outputs name.
	// Refs are the same, read once by regclient (Refs[i] is Images[i]):
	// Refs[i].Registry is the host, computed nowhere else.
	Images []string
	Image  string
	Refs   []ref.Ref
	// Tags are extra tags and SemverTags adds the version's moving tags
	// (v1, v1.2): tags that follow releases, written after the version tag.
	Tags       []string
	SemverTags bool
	// Version is the release version; VersionTag is the tag that names it.
	// Source reads it from the sources when the version input is empty.
	Version string
	Source  version.Source
	// VersionFrom is where Source read Version (zero when the version
	// input gave it), for the log.
	VersionFrom version.Found
	// TagSuffix is appended to every tag the run writes (tag-suffix), so
	// that variants of one commit (a Dockerfile and a nix build) sit side
	// by side: VersionTag, SHATag and Follow are the one place it is added.
	TagSuffix string
	// TagSuffixOnLatest appends the suffix to latest too
	// (tag-suffix-on-latest): by default latest is written as it is.
	TagSuffixOnLatest bool
	// SHA is the commit; SHAFromGit says it was read with git rev-parse
	// HEAD (neither sha nor $GITHUB_SHA was set), for the log.
	SHA             string
	SHAFromGit      bool
	SHALength       int
	Context         string
	File            string
	Target          string
	BuildArgs       map[string]string
	Labels          map[string]string
	Platforms       []ocispec.Platform // parsed once: passed on as they are
	Push            bool
	BuildkitAddress string
	// BuildkitAddressSet is true when the address came from the input or
	// $BUILDKIT_HOST: then it is used as given, never replaced by a daemon
	// of our own.
	BuildkitAddressSet bool
	BuildkitTLS        *build.TLS
	BuildkitdBinary    string // buildkitd on PATH, to start one when none answers
	OnExisting         guard.Policy
	PushVia            publish.Via // who uploads: BuildKit, the action, or BuildKit falling back
	// Origin is where the image comes from: a build, or the archive
	// input (a docker-archive, OCI archive or OCI layout directory, a
	// program writing one, standard input); ArchiveImage chooses one of
	// several in it; ReuseFrom are tags of the repository, or other
	// repositories of its registry, whose layers the push may reuse.
	Origin       Origin
	ArchiveImage string
	ReuseFrom    []Reuse
	// ArchiveIdle is archive-idle-timeout: how long the program writing
	// the archive, or standard input, may be silent.
	ArchiveIdle time.Duration
	// Compression is how layers are compressed: by BuildKit's exporters
	// in a build, by the action for an archive.
	Compression        compression.Compression
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
	BuildOpts BuildOptions
	Debug     bool   // RUNNER_DEBUG=1: regclient's debug log on stderr
	TempDir   string // where the OCI layout goes ($RUNNER_TEMP)
	// ImmutableTags: the registry refuses to overwrite a tag
	// (registry-immutable-tags), so the version tag is read back without
	// a pause.
	ImmutableTags bool
	// ProofDir is where proofs of reused layers are kept across jobs
	// (internal/proofs: the runner's tool cache, else the user's cache).
	ProofDir string
	// Before is the commit before the push ($GITHUB_EVENT_PATH's
	// "before"), "" when unknown: its SHA tag names the release before.
	Before string
	// ChildEnv is the whole environment of the processes we start (git,
	// buildkitd): allow-listed, without inputs or secret values.
	ChildEnv []string
	// BuildkitImage and BuildkitContainerFlags run the BuildKit container
	// on a Docker daemon when there is nothing else.
	BuildkitImage          string
	BuildkitContainerFlags []string
	// BuildkitdConfig is the buildkitd.toml of a buildkitd the action
	// starts (buildkitd-config or buildkitd-config-inline, named by
	// BuildkitdConfigInput); nil for none.
	BuildkitdConfig      []byte
	BuildkitdConfigInput string
	// Signing is the key the image is signed with, if any.
	Signing Signing
}

// Registry is the host[:port] of the image (the first), as regclient
// reads it; "" when the image input names none.
func (c Config) Registry() string {
	if len(c.Refs) == 0 {
		return ""
	}
	return c.Refs[0].Registry
}

// Login is the login an image is pushed with.
type Login struct {
	User, Pass string
	// Identity: the job's OIDC identity (oidc-audience) logs in there.
	Identity bool
}

// LoginFor is the one rule for the login to push to the registry host
// with: on the first image's registry username and api-key, and with
// oidc-audience the job's identity; on another registry its line of
// registry-credentials (or the runner's Docker config) when that has a
// password, else username and api-key. false when there is none: with
// oidc-audience, whose ID token goes to the first image's registry only,
// a registry with no line.
func (c Config) LoginFor(host string) (Login, bool) {
	line, ok := build.LoginFor(c.BuildOpts.Logins, host)
	switch {
	case host == c.Registry():
		return Login{User: c.Username, Pass: c.APIKey, Identity: c.IDToken != nil}, true
	case ok && line.Password != "":
		return Login{User: line.Username, Pass: line.Password}, true
	}
	return Login{User: c.Username, Pass: c.APIKey}, ok || c.IDToken == nil
}

// validateIdentityImages: with oidc-audience the job's ID token goes to
// the first image's registry only, so an image on another registry needs
// a login of its own (registry-credentials, or the runner's Docker config).
func validateIdentityImages(c Config) error {
	for i, image := range c.Images {
		host := c.Refs[i].Registry
		if _, ok := c.LoginFor(host); !ok {
			return fmt.Errorf("the job's ID token goes to %s only (the first image's registry), and %s is on %s, which has no login; give %s a line of registry-credentials, or publish there in a step of its own", c.Registry(), image, host, host)
		}
	}
	return nil
}

// SHATag is the SHA tag: the commit SHA, shortened to SHALength, with the
// tag suffix.
func (c Config) SHATag() string { return c.SHA[:c.SHALength] + c.TagSuffix }

// VersionTag is the version tag, the commit point: the version with the
// tag suffix. The guard, the transaction and the outputs all use it.
func (c Config) VersionTag() string { return versionTag(c.Version, c.TagSuffix) }

// Dockerfile is the Dockerfile's name in a context: the build's when file
// is empty, and what the plan looks for in each image directory.
const Dockerfile = "Dockerfile"

// Parse turns the raw inputs into a Config. It checks every input
// and reports every bad one at once (errors.Join), each as one line that
// names the input (an *input.Error).
func Parse(raw map[string]string, getenv func(string) string) (Config, error) {
	c, err := parse(raw, getenv)
	if err != nil {
		return Config{}, err
	}
	return c, nil
}

// parse is Parse keeping the Config on error: its Origin says which
// inputs Load refuses as given for the other kind of run.
func parse(raw map[string]string, getenv func(string) string) (Config, error) {
	c := Config{
		Version:            raw["version"],
		TagSuffix:          raw["tag-suffix"],
		SHA:                firstNonEmpty(raw["sha"], getenv("GITHUB_SHA")),
		Context:            raw["context"],
		Target:             raw["target"],
		BuildkitAddress:    firstNonEmpty(raw["buildkit-address"], getenv("BUILDKIT_HOST"), defaultBuildkitAddress),
		BuildkitAddressSet: raw["buildkit-address"] != "" || getenv("BUILDKIT_HOST") != "",
		TempDir:            firstNonEmpty(getenv("RUNNER_TEMP"), os.TempDir()),
		ProofDir:           proofs.Dir(getenv),
		Debug:              runnerDebug(getenv),
	}
	c.BuildkitdBinary, _ = exec.LookPath("buildkitd")
	c.BuildkitImage = raw["buildkit-image"]
	c.BuildkitContainerFlags = strings.Fields(raw["buildkit-container-flags"])
	c.File = firstNonEmpty(raw["file"], filepath.Join(c.Context, Dockerfile))
	var errs inputErrs
	read(&errs, raw, "push", &c.Push, parseBool)
	read(&errs, raw, "tag-suffix-on-latest", &c.TagSuffixOnLatest, parseBool)
	read(&errs, raw, "registry-immutable-tags", &c.ImmutableTags, parseBool)
	if c.SHA == "" {
		c.SHA = headCommit(firstNonEmpty(c.Context, "."), getenv, raw["api-key"])
		c.SHAFromGit = c.SHA != ""
	}
	var images repositories
	read(&errs, raw, "image", &images, parseImages)
	c.Images, c.Refs = images.names, images.refs
	c.Image = firstNonEmpty(append(c.Images, "")...)
	errs.add("sha", validateSHA(c.SHA))
	set(&errs, "sha-length", &c.SHALength)(parseSHALength(raw["sha-length"], len(c.SHA)))
	read(&errs, raw, "archive", &c.Origin, parseOrigin)
	read(&errs, raw, "archive-image", &c.ArchiveImage, parseArchiveImage)
	if c.Origin.IsArchive() { // else refused as only used with archive
		read(&errs, raw, "archive-idle-timeout", &c.ArchiveIdle, parseIdle)
		c.Before = eventBefore(getenv) // only an archive's layers are reused from the release before
	}
	read(&errs, raw, "reuse-from", &c.ReuseFrom, lines(reuseFrom(c.Refs)))
	c.parseVersion(&errs, raw, getenv)
	read(&errs, raw, "build-args", &c.BuildArgs, parseKeyValues)
	read(&errs, raw, "labels", &c.Labels, parseKeyValues)
	read(&errs, raw, "annotations", &c.Annotations, parseKeyValues)
	read(&errs, raw, "platforms", &c.Platforms, build.ParsePlatforms)
	if !c.Origin.IsArchive() { // else no buildkitd is contacted
		addrErr := buildkitd.ValidateAddress(c.BuildkitAddress)
		errs.add("buildkit-address", addrErr)
		if addrErr == nil {
			set(&errs, "", &c.BuildkitTLS)(parseBuildkitTLS(raw, c.BuildkitAddress))
		}
	}
	c.Access = parseAccess(&errs, raw, c.Push, c.Push, getenv)
	c.Signing = parseSigning(&errs, raw)
	parseBuildkitdConfig(&errs, raw, &c)
	read(&errs, raw, "on-existing-version", &c.OnExisting, guard.ParsePolicy)
	read(&errs, raw, "push-via", &c.PushVia, publish.ParseVia)
	parseCompression(&errs, raw, &c.Compression)
	set(&errs, "secrets", &c.Secrets)(parseSecrets(raw["secrets"], getenv))
	read(&errs, raw, "cache-from", &c.CacheFrom, lines(build.ParseCache))
	read(&errs, raw, "cache-to", &c.CacheTo, lines(build.ParseCache))
	read(&errs, raw, "provenance", &c.Provenance, build.ParseProvenance)
	read(&errs, raw, "sbom", &c.SBOM, parseBool)
	read(&errs, raw, "source-date-epoch", &c.Epoch, parseEpoch)
	errs.add("on-existing-version", validateSkipIdentical(c))
	read(&errs, raw, "tags", &c.Tags, lines(extraTag(c.Version)))
	read(&errs, raw, "semver-tags", &c.SemverTags, parseBool)
	errs.add("semver-tags", validateSemverTags(c.SemverTags, c.Version))
	errs.add("tag-suffix", validateTagSuffix(c.TagSuffix, append([]string{c.Version, c.shaPrefix()}, c.Tags...)))
	c.BuildOpts.parse(&errs, raw, getenv)
	errs.add("oidc-audience", validateIdentityImages(c))
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, c.complete(getenv)
}

// parseVersion checks a build's context and Dockerfile and reads the
// version: the version input, else from the sources (c.Source) in them.
// It reads nothing when an error before it (the context's, the file's,
// the sources') already says why it could not.
func (c *Config) parseVersion(errs *inputErrs, raw map[string]string, getenv func(string) string) {
	contextErr, fileErr := validateDir(c.Context), validateFile(c.File, c.Context)
	if !c.Origin.IsArchive() { // a build: its context and Dockerfile must be there
		errs.add("context", contextErr)
		if contextErr == nil || raw["file"] != "" { // else the context's error says it all
			errs.add("file", fileErr)
		}
	} else if versionContext("context", raw) { // an archive's version-file is in the context
		errs.add("context", contextErr)
	}
	bad := len(*errs)
	c.Source = parseSource(errs, raw, getenv)
	switch {
	case c.Version != "" || c.Source.IsZero():
		errs.add("version", validateTag(c.Version))
	case contextErr == nil && (fileErr == nil || c.Source.Arg == "") && len(*errs) == bad: // else their error says it all
		set(errs, "", &c.VersionFrom)(ReadVersion(c.Source, c.Context, c.File))
		c.Version = c.VersionFrom.Version
	}
}

// complete derives, once every input is valid, what depends on several
// of them: whether the logins and secrets may cross to buildkitd, the
// children's environment, the commit time and the OCI metadata.
func (c *Config) complete(getenv func(string) string) error {
	if err := validateBuildkitWire(*c); err != nil && !c.Origin.IsArchive() {
		return err
	}
	c.ChildEnv = childEnv(*c, getenv)
	if c.Epoch.IsZero() {
		c.Epoch = commitTime(c.Context, c.SHA, c.ChildEnv)
	}
	meta := ociMetadata(*c, getenv)
	c.Labels, c.Annotations = withDefaults(meta, c.Labels), withDefaults(meta, c.Annotations)
	return nil
}

// parseCompression reads compression, compression-level (whose range
// depends on the algorithm) and force-compression.
func parseCompression(errs *inputErrs, raw map[string]string, c *compression.Compression) {
	algorithm, err := compression.ParseAlgorithm(raw["compression"])
	errs.add("compression", err)
	if err == nil { // else the level's range is unknown
		c.Algorithm = algorithm
		set(errs, "compression-level", &c.Level)(compression.ParseLevel(algorithm, raw["compression-level"]))
	}
	read(errs, raw, "force-compression", &c.Force, parseBool)
}

// childEnv is the environment of every process we start: the allow list
// of internal/procenv plus what git reads for its configuration, minus any
// variable that holds the key or another secret.
func childEnv(c Config, getenv func(string) string) []string {
	return procenv.Environ(getenv,
		procenv.WithVars(gitVars...),
		procenv.WithVars(buildkitd.DockerEnv...),
		procenv.WithoutValues(c.SecretValues()...))
}

// SecretValues are the values never printed nor passed on: the key, every
// registry login's secret, the build secrets, the buildkit TLS key, the
// signing key and its password, the ID token request's token (some may
// be empty).
func (c Config) SecretValues() []string {
	out := append([]string{c.APIKey}, build.Secrets(c.RegistryCredentials())...)
	out = append(out, c.Signing.secrets...)
	for _, v := range c.Secrets {
		out = append(out, string(v))
	}
	if c.BuildkitTLS != nil {
		out = append(out, string(c.BuildkitTLS.Key))
	}
	if c.IDToken != nil {
		out = append(out, c.IDToken.RequestToken)
	}
	return out
}

// RegistryCredentials lets the build pull base images from the registries
// it pushes to (and buildkitd push to them), with the identity each image
// is pushed with (LoginFor), and from others with their logins.
func (c Config) RegistryCredentials() []build.Credential {
	if c.Username == "" || c.APIKey == "" {
		return c.BuildOpts.Logins
	}
	var own []build.Credential
	for _, r := range c.Refs {
		login, _ := c.LoginFor(r.Registry)
		own = append(own, build.Credential{Host: r.Registry, Username: login.User, Password: login.Pass})
	}
	return build.MergeCredentials(own, c.BuildOpts.Logins)
}

// ErrorList splits joined errors (every bad input) into one error each,
// so that each becomes an ::error:: line of its own.
func ErrorList(err error) []error {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range joined.Unwrap() {
		out = append(out, ErrorList(e)...)
	}
	return out
}
