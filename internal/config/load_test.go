package config

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/compression"
	"github.com/blumeops/build-push-image/internal/testcheck"
)

// actionInputs are the action's inputs, read from the repository root's
// action.yml as main embeds it.
var actionInputs = func() Inputs {
	b, err := os.ReadFile("../../action.yml")
	if err != nil {
		panic(err)
	}
	return MustInputs(b)
}()

// loadConfig is Load with the action's inputs.
func loadConfig(args []string, env LookupEnv, usage *bytes.Buffer) (Config, error) {
	return Load(actionInputs, args, env, usage)
}

// loadErrors loads env's inputs, which must hold a bad one, and returns
// what main prints then: an ::error:: line per bad input, and what went to
// the usage writer.
func loadErrors(t *testing.T, env map[string]string) string {
	t.Helper()
	var usage bytes.Buffer
	_, err := loadConfig(nil, testcheck.Lookup(env), &usage)
	if err == nil {
		t.Fatal("the inputs were accepted, want an error")
	}
	return errorLines(err) + usage.String()
}

// errorLines is how main prints err: an ::error:: line per bad input.
func errorLines(err error) string {
	var b strings.Builder
	for _, e := range ErrorList(err) {
		b.WriteString("::error::" + e.Error() + "\n")
	}
	return b.String()
}

func TestBadInputs(t *testing.T) {
	dir := testcheck.Workspace(t)
	if err := os.WriteFile(filepath.Join(dir, "afile"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Unreadable"), []byte("x"), 0o000); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, input, value, want string
	}{
		{"missing image", "INPUT_IMAGE", "", "image: required"},
		{"uppercase image", "INPUT_IMAGE", "registry.example/Team/App", "must be lowercase"},
		{"image with scheme", "INPUT_IMAGE", "https://registry.example/team/app", "must not include a scheme"},
		{"image with tag", "INPUT_IMAGE", "registry.example/team/app:v1", "must not include a tag"},
		{"image with digest", "INPUT_IMAGE", "registry.example/team/app@sha256:" + strings.Repeat("a", 64), "must not include a digest"},
		{"image without registry", "INPUT_IMAGE", "team/app", "not a valid repository"},
		{"image with spaces", "INPUT_IMAGE", "registry.example/team app", "not a valid repository"},
		{"missing version", "INPUT_VERSION", "", "version: required"},
		{"version with build metadata", "INPUT_VERSION", "v1.2.0+build.5", "contains '+'"},
		{"version too long", "INPUT_VERSION", strings.Repeat("a", 129), "at most 128"},
		{"version starting with dot", "INPUT_VERSION", ".v1", "not a valid tag"},
		{"version with slash", "INPUT_VERSION", "release/v1", "not a valid tag"},
		{"short sha", "INPUT_SHA", "abc123", "not a full commit SHA"},
		{"uppercase sha", "INPUT_SHA", strings.ToUpper(testcheck.SHA), "not a full commit SHA"},
		{"bad sha-length", "INPUT_SHA-LENGTH", "3", "sha-length"},
		{"missing context", "INPUT_CONTEXT", filepath.Join(dir, "nope"), "context: directory"},
		{"context is a file", "INPUT_CONTEXT", filepath.Join(dir, "afile"), "is a file, not a directory"},
		{"context escapes workspace", "INPUT_CONTEXT", "../../etc", "leaves the workspace"},
		{"file escapes workspace", "INPUT_FILE", "../Dockerfile", "leaves the workspace"},
		{"missing Dockerfile", "INPUT_FILE", filepath.Join(dir, "Nope"), "not found"},
		{"Dockerfile is a directory", "INPUT_FILE", dir, "is a directory"},
		{"build-args without =", "INPUT_BUILD-ARGS", "A=1\nB", "build-args: line 2 is not KEY=VALUE"},
		{"labels with empty key", "INPUT_LABELS", "=x", "labels: line 1"},
		{"platform typo", "INPUT_PLATFORMS", "linux/amd46", "not a known platform"},
		{"push not boolean", "INPUT_PUSH", "yes", "push: \"yes\" is not a boolean"},
		{"extra tag invalid", "INPUT_TAGS", "latest\n-bad", "tags: line 2: \"-bad\" is not a valid tag"},
		{"extra tag is the version", "INPUT_TAGS", "v1.2.0", "tags: line 1: \"v1.2.0\" is the version tag"},
		{"semver-tags not boolean", "INPUT_SEMVER-TAGS", "yes", "semver-tags: \"yes\" is not a boolean"},
		{"image listed twice", "INPUT_IMAGE", "registry.example/team/app\nregistry.example/team/app", "image: line 2: \"registry.example/team/app\" is listed twice"},
		{"second image bad", "INPUT_IMAGE", "registry.example/team/app\nTeam/App", "image: line 2:"},
		{"push-via unknown", "INPUT_PUSH-VIA", "docker", "push-via: \"docker\" is not one of auto, buildkit, action"},
		{"registry-tls unknown", "INPUT_REGISTRY-TLS", "off", "registry-tls"},
		{"buildkit-address scheme", "INPUT_BUILDKIT-ADDRESS", "http://localhost:1234", "buildkit-address"},
		{"missing username", "INPUT_USERNAME", "", "username: required when push is true"},
		{"missing api-key", "INPUT_API-KEY", "", "api-key: required when push is true"},
		{"api-key with newline", "INPUT_API-KEY", "zak_line1\nzak_line2", "api-key: contains a line break"},
		{"registry-credentials without =", "INPUT_REGISTRY-CREDENTIALS", "ghcr.io bot:zak_other", "registry-credentials: line 1: no '='"},
		{"build-contexts without =", "INPUT_BUILD-CONTEXTS", "assets", "build-contexts: line 1: want name=path or name=docker-image://ref"},
		{"build-contexts missing dir", "INPUT_BUILD-CONTEXTS", "assets=" + filepath.Join(dir, "nope"), "build-contexts: line 1: assets: directory"},
		{"no-cache not boolean", "INPUT_NO-CACHE", "yes", "no-cache: \"yes\" is not a boolean"},
		{"pull not boolean", "INPUT_PULL", "always", "pull: \"always\" is not a boolean"},
		{"ssh default without agent", "INPUT_SSH", "default", "ssh: line 1: default without a path needs an SSH agent"},
		{"network unknown", "INPUT_NETWORK", "bridge", "network: \"bridge\" is not one of default, host, none"},
		{"add-hosts without ip", "INPUT_ADD-HOSTS", "db.internal", "add-hosts: line 1: want host:ip"},
		{"shm-size not a size", "INPUT_SHM-SIZE", "lots", "shm-size: \"lots\" is not a size"},
		{"ulimit unknown", "INPUT_ULIMIT", "files=1", "ulimit: line 1: want name=soft[:hard]"},
		{"output is a directory", "INPUT_OUTPUT", "out/", "output: \"out/\" is a directory"},
		{"output escapes workspace", "INPUT_OUTPUT", "../image.tar", "output: \"../image.tar\" leaves the workspace"},
		{"version-arg not a name", "INPUT_VERSION-ARG", "APP-VERSION", `version-arg: "APP-VERSION" is not an ARG name`},
		{"version-file leaves", "INPUT_VERSION-FILE", "../default.nix", "version-file: \"../default.nix\" leaves the workspace"},
		{"version-pattern without group", "INPUT_VERSION-PATTERN", `version = ".*"`, "version-pattern: \"version = \\\".*\\\"\" has no group"},
		{"version-pattern not compiling", "INPUT_VERSION-PATTERN", `(`, "version-pattern: \"(\" does not compile"},
		{"version-prefix bad", "INPUT_VERSION-PREFIX", "v/", `version-prefix: "v/" cannot be part of a tag`},
		{"key-expiry-warning not days", "INPUT_KEY-EXPIRY-WARNING", "two weeks", `key-expiry-warning: "two weeks" must be a whole number of days from 0 (no warning)`},
		{"key-expiry-warning negative", "INPUT_KEY-EXPIRY-WARNING", "-1", `key-expiry-warning: "-1" must be a whole number of days`},
		{"attestations-as-referrers not boolean", "INPUT_ATTESTATIONS-AS-REFERRERS", "maybe", "attestations-as-referrers: \"maybe\" is not a boolean"},
		{"compression unknown", "INPUT_COMPRESSION", "lz4", "compression: invalid compression setting: \"lz4\" is not one of gzip, zstd, uncompressed"},
		{"compression-level out of gzip's range", "INPUT_COMPRESSION-LEVEL", "12", "compression-level: invalid compression setting: gzip takes a level from 1 to 9, got \"12\""},
		{"force-compression not boolean", "INPUT_FORCE-COMPRESSION", "always", "force-compression: \"always\" is not a boolean"},
		{"buildkitd-config missing", "INPUT_BUILDKITD-CONFIG", filepath.Join(dir, "nope.toml"), "buildkitd-config: cannot read \"" + filepath.Join(dir, "nope.toml") + "\"; give the path of a buildkitd.toml"},
		{"buildkitd-config not TOML", "INPUT_BUILDKITD-CONFIG", filepath.Join(dir, "afile"), "buildkitd-config: not a buildkitd.toml: line 1"},
		{"buildkitd-config-inline not TOML", "INPUT_BUILDKITD-CONFIG-INLINE", "debug = true\n[registry.\"docker.io\"\n", "buildkitd-config-inline: not a buildkitd.toml: line 2, column"},
	}
	if os.Geteuid() != 0 { // root reads any file
		cases = append(cases, struct{ name, input, value, want string }{"unreadable Dockerfile", "INPUT_FILE", filepath.Join(dir, "Unreadable"), "check its permissions"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := testcheck.ValidInputs(dir)
			env[tc.input] = tc.value
			out := loadErrors(t, env)
			testcheck.OneErrorLine(t, out, tc.want)
			testcheck.NoSecret(t, env["INPUT_API-KEY"], out)
		})
	}
}

func TestFlagWinsOverEnv(t *testing.T) {
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	cfg, err := loadConfig([]string{"--version", "v9.9.9", "--push=false"}, testcheck.Lookup(env), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Version != "v9.9.9" || cfg.Push {
		t.Errorf("version %q push %t, want the flags' v9.9.9 and false", cfg.Version, cfg.Push)
	}
}

func TestDefaults(t *testing.T) {
	dir := testcheck.Workspace(t)
	env := testcheck.ValidInputs(dir)
	delete(env, "INPUT_SHA")
	delete(env, "INPUT_BUILDKIT-ADDRESS")
	env["GITHUB_SHA"] = testcheck.SHA
	env["BUILDKIT_HOST"] = "tcp://127.0.0.1:1234"
	env["INPUT_SHA-LENGTH"] = "12"
	cfg, err := loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SHATag() != testcheck.SHA[:12] {
		t.Errorf("sha tag %q, want %q", cfg.SHATag(), testcheck.SHA[:12])
	}
	if cfg.BuildkitAddress != "tcp://127.0.0.1:1234" {
		t.Errorf("buildkit address %q, want $BUILDKIT_HOST", cfg.BuildkitAddress)
	}
	if cfg.File != filepath.Join(dir, "Dockerfile") {
		t.Errorf("file %q, want <context>/Dockerfile", cfg.File)
	}
	if !cfg.Push || cfg.Registry() != "registry.example" {
		t.Errorf("push %t registry %q", cfg.Push, cfg.Registry())
	}
	if cfg.Compression != (compression.Compression{}) {
		t.Errorf("compression %+v, want gzip at its default level, not forced", cfg.Compression)
	}
}

func TestCompressionInputs(t *testing.T) {
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	env["INPUT_COMPRESSION"], env["INPUT_COMPRESSION-LEVEL"], env["INPUT_FORCE-COMPRESSION"] = "zstd", "19", "true"
	cfg, err := loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (compression.Compression{Algorithm: compression.Zstd, Level: 19, Force: true}); cfg.Compression != want {
		t.Errorf("compression %+v, want %+v (zstd takes levels gzip does not)", cfg.Compression, want)
	}
}

// A malformed login is named by its line; no part of it reaches the log.
func TestRegistryCredentialsErrorsKeepTheSecret(t *testing.T) {
	const secret = "zak_other_registry_secret"
	for value, want := range map[string]string{
		"ok.example=u:p\n" + secret:          "registry-credentials: line 2: no '='",
		"https://ghcr.io=bot:" + secret:      "registry-credentials: line 1: the part before '=' is not a registry host",
		"ghcr.io=" + secret:                  "registry-credentials: line 1: no username",
		"ghcr.io=a:b\nghcr.io=bot:" + secret: "registry-credentials: line 2: its host already has a login on line 1",
	} {
		env := testcheck.ValidInputs(testcheck.Workspace(t))
		env["INPUT_REGISTRY-CREDENTIALS"] = value
		out := loadErrors(t, env)
		testcheck.OneErrorLine(t, out, want)
		testcheck.NoSecret(t, secret, out)
	}
}

// The runner's Docker config is read as buildx reads it: a broken one is
// one line naming the file, without its contents.
func TestBrokenDockerConfig(t *testing.T) {
	cfgDir := t.TempDir()
	const secret = "bm90LWEtbG9naW4tc2VjcmV0"
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(`{"auths": {"r.example": {"auth": "`+secret+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	env["DOCKER_CONFIG"] = cfgDir
	out := loadErrors(t, env)
	testcheck.OneErrorLine(t, out, "registry-credentials: the runner's docker config "+filepath.Join(cfgDir, "config.json")+" is not valid JSON")
	testcheck.NoSecret(t, secret, out)
}

// TestSemverTagsNeedSemverVersion: semver-tags with a version that has no
// major and minor is one line naming both inputs' fix.
func TestSemverTagsNeedSemverVersion(t *testing.T) {
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	env["INPUT_SEMVER-TAGS"] = "true"
	env["INPUT_VERSION"] = "release-7"
	testcheck.OneErrorLine(t, loadErrors(t, env), "semver-tags: version \"release-7\" is not a semantic version")
}

// TestSkipIdenticalWithAttestationsRefused: with provenance on, no rebuild
// has the published digest, so skip-identical is refused up front.
func TestSkipIdenticalWithAttestationsRefused(t *testing.T) {
	dir := testcheck.Workspace(t)
	for _, attest := range []string{"INPUT_PROVENANCE", "INPUT_SBOM"} {
		env := testcheck.ValidInputs(dir)
		env["INPUT_ON-EXISTING-VERSION"] = "skip-identical"
		env[attest] = "true"
		testcheck.OneErrorLine(t, loadErrors(t, env), "on-existing-version: skip-identical never matches with provenance or sbom on")
	}
}

// TestGitEnvironment: the git that reads the commit time gets the allow
// list only: no INPUT_*, no key (not even inside an allowed proxy URL), no
// build secret, although all are in the program's own environment, as a
// runner puts them there.
func TestGitEnvironment(t *testing.T) {
	dir := testcheck.Workspace(t)
	bin, environ := testcheck.Recorder(t, "git")
	env := testcheck.ValidInputs(dir)
	env["INPUT_SHA"] = testcheck.Commit(t, dir)
	env["INPUT_SECRETS"] = "token=build_secret_value_42"
	env["PATH"] = bin + ":" + os.Getenv("PATH")
	env["HTTPS_PROXY"] = "http://ci:" + env["INPUT_API-KEY"] + "@proxy.example:3128"
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Epoch.IsZero() {
		t.Fatal("no commit time: git did not run")
	}
	b, err := os.ReadFile(environ)
	if err != nil {
		t.Fatalf("the git wrapper left no environment: %v", err)
	}
	testcheck.CleanEnviron(t, "git", b, env["INPUT_API-KEY"], "build_secret_value_42")
}

// TestGitEnvironmentSHAFromGit: the git that reads HEAD when no sha is
// given runs before the secrets are parsed: it gets PATH, HOME and git's
// own variables only, so no secret in a proxy variable reaches it either.
func TestGitEnvironmentSHAFromGit(t *testing.T) {
	dir := testcheck.Workspace(t)
	head := testcheck.Commit(t, dir)
	bin, environ := testcheck.Recorder(t, "git")
	env := testcheck.ValidInputs(dir)
	delete(env, "INPUT_SHA")
	env["INPUT_SECRETS"] = "token=build_secret_value_42"
	env["PATH"] = bin + ":" + os.Getenv("PATH")
	env["HTTPS_PROXY"] = "http://ci:" + env["INPUT_API-KEY"] + "@proxy.example:3128"
	env["HTTP_PROXY"] = "http://ci:build_secret_value_42@proxy.example:3128"
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{})
	if err != nil || cfg.SHA != head {
		t.Fatalf("sha %q, %v; want %s from git", cfg.SHA, err, head)
	}
	b, err := os.ReadFile(environ)
	if err != nil {
		t.Fatalf("the git wrapper left no environment: %v", err)
	}
	testcheck.CleanEnviron(t, "git", b, env["INPUT_API-KEY"], "build_secret_value_42")
}

func TestBuildkitWire(t *testing.T) {
	cases := []struct {
		name, addr string
		change     map[string]string
		refused    bool
	}{
		{"remote IP with credentials", "tcp://10.1.2.3:1234", nil, true},
		{"remote name with credentials", "tcp://buildkit.internal:1234", nil, true},
		{"unspecified address with credentials", "tcp://0.0.0.0:1234", nil, true},
		{"remote with build secrets only", "tcp://10.1.2.3:1234", map[string]string{"INPUT_PUSH": "false", "INPUT_USERNAME": "", "INPUT_API-KEY": "", "INPUT_SECRETS": "s=v"}, true},
		{"remote without credentials or secrets", "tcp://10.1.2.3:1234", map[string]string{"INPUT_PUSH": "false", "INPUT_USERNAME": "", "INPUT_API-KEY": ""}, false},
		{"remote over TLS", "tcp://10.1.2.3:1234", map[string]string{"INPUT_BUILDKIT-TLS-SERVER-NAME": "buildkit.internal"}, false},
		{"127.0.0.1", "tcp://127.0.0.1:1234", nil, false},
		{"127.0.0.2", "tcp://127.0.0.2:1234", nil, false},
		{"localhost", "tcp://LocalHost:1234", nil, false},
		{"::1", "tcp://[::1]:1234", nil, false},
		{"unix socket", "unix:///run/buildkit/buildkitd.sock", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := testcheck.ValidInputs(testcheck.Workspace(t))
			env["INPUT_BUILDKIT-ADDRESS"] = tc.addr
			for k, v := range tc.change {
				env[k] = v
			}
			_, err := loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{})
			if refused := err != nil && strings.Contains(err.Error(), "buildkit-tls-*"); refused != tc.refused {
				t.Errorf("refused %t, want %t (err: %v)", refused, tc.refused, err)
			}
		})
	}
}

// TestVersionFromSources: with version empty, version-arg or version-file
// give it, with the prefix; the version input wins when given.
func TestVersionFromSources(t *testing.T) {
	dir := testcheck.Workspace(t)
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "ARG APP_VERSION=1.2.3\nFROM scratch\n")
	write("default.nix", "{\n  version = \"2.0.0\";\n}\n")
	for _, tc := range []struct {
		name string
		set  map[string]string
		want string
	}{
		{"version-arg", map[string]string{"INPUT_VERSION-ARG": "APP_VERSION"}, "v1.2.3"},
		{"version-arg, no prefix", map[string]string{"INPUT_VERSION-ARG": "APP_VERSION", "INPUT_VERSION-PREFIX": "", "GITHUB_ACTIONS": "true"}, "1.2.3"},
		{"by hand, unset prefix", map[string]string{"INPUT_VERSION-ARG": "APP_VERSION", "INPUT_VERSION-PREFIX": ""}, "v1.2.3"},
		{"version-file", map[string]string{"INPUT_VERSION-FILE": "default.nix", "INPUT_VERSION-PATTERN": `version\s*=\s*"([^"]+)"`}, "v2.0.0"},
		{"--version-prefix= by hand", map[string]string{"INPUT_VERSION-ARG": "APP_VERSION"}, "1.2.3"},
		{"version wins", map[string]string{"INPUT_VERSION": "v9.0.0", "INPUT_VERSION-ARG": "APP_VERSION"}, "v9.0.0"},
	} {
		env := testcheck.ValidInputs(dir)
		delete(env, "INPUT_VERSION")
		env["INPUT_VERSION-PREFIX"] = "v" // action.yml's default, as a runner passes it
		maps.Copy(env, tc.set)
		var args []string
		if strings.HasPrefix(tc.name, "--") {
			args = []string{"--version-prefix="}
		}
		cfg, err := loadConfig(args, testcheck.Lookup(env), &bytes.Buffer{})
		if err != nil || cfg.Version != tc.want || cfg.VersionTag() != tc.want {
			t.Errorf("%s: version %q, %v; want %q", tc.name, cfg.Version, err, tc.want)
		}
	}
}

// TestVersionNotFound: nothing found is one line naming the input and the
// file; a value that is no tag is the version's error, named by its source.
func TestVersionNotFound(t *testing.T) {
	dir := testcheck.Workspace(t)
	df := filepath.Join(dir, "Dockerfile")
	if err := os.WriteFile(df, []byte("ARG EMPTY\nARG BAD=1.2+3\nFROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"INPUT_VERSION-ARG": "APP_VERSION"}, "version-arg: " + df + ": no ARG APP_VERSION before the first FROM or in the first stage"},
		{map[string]string{"INPUT_VERSION-ARG": "EMPTY"}, "version-arg: " + df + ": ARG EMPTY has no default"},
		{map[string]string{"INPUT_VERSION-ARG": "BAD"}, "version-arg: the version read from " + df + `:2: "v1.2+3" contains '+'`},
		{map[string]string{"INPUT_VERSION-FILE": "default.nix"}, "version-file: cannot read " + filepath.Join(dir, "default.nix")},
		{map[string]string{"INPUT_VERSION-FILE": "Dockerfile", "INPUT_VERSION-PATTERN": `version = "(.*)"`}, "version-file: version-pattern version = \"(.*)\" matches no version outside comments in " + df},
		{map[string]string{"INPUT_VERSION-ARG": "A", "INPUT_VERSION-FILE": "Dockerfile"}, "version-arg: and version-file are both set"},
		{map[string]string{"INPUT_VERSION": "v1.0.0", "INPUT_VERSION-PATTERN": "v(.*)"}, "version-pattern: needs version-file"},
		{map[string]string{}, "version: required; set it to the tag to publish, e.g. v1.2.0, or read it from the sources with version-arg, version-file or version-command"},
	} {
		env := testcheck.ValidInputs(dir)
		delete(env, "INPUT_VERSION")
		maps.Copy(env, tc.set)
		testcheck.OneErrorLine(t, loadErrors(t, env), tc.want)
	}
}

// TestBuildkitdConfig: one of buildkitd-config and buildkitd-config-inline,
// read once, named for the log.
func TestBuildkitdConfig(t *testing.T) {
	dir := testcheck.Workspace(t)
	toml := "[registry.\"docker.io\"]\n  mirrors = [\"mirror.example\"]\n"
	path := filepath.Join(dir, "buildkitd.toml")
	if err := os.WriteFile(path, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	for input, value := range map[string]string{"buildkitd-config": path, "buildkitd-config-inline": toml} {
		env := testcheck.ValidInputs(dir)
		env["INPUT_"+strings.ToUpper(input)] = value
		cfg, err := loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if d := cfg.Buildkitd(); strings.TrimSpace(string(d.DaemonConfig)) != strings.TrimSpace(toml) || d.DaemonConfigInput != input {
			t.Errorf("%s: config %q from %q", input, d.DaemonConfig, d.DaemonConfigInput)
		}
	}
	env := testcheck.ValidInputs(dir)
	env["INPUT_BUILDKITD-CONFIG"], env["INPUT_BUILDKITD-CONFIG-INLINE"] = path, toml
	testcheck.OneErrorLine(t, loadErrors(t, env), "buildkitd-config: give it or buildkitd-config-inline, not both")
	delete(env, "INPUT_BUILDKITD-CONFIG-INLINE")
	delete(env, "INPUT_BUILDKITD-CONFIG")
	if cfg, err := loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{}); err != nil || cfg.Buildkitd().DaemonConfig != nil {
		t.Errorf("no config given: %q, %v", cfg.Buildkitd().DaemonConfig, err)
	}
}
