package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// fakeEnv is a getenv over a map, so the program can run in-process.
func fakeEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// validInputs is a complete, valid set of inputs for a workspace dir.
func validInputs(dir string) map[string]string {
	return map[string]string{
		"INPUT_IMAGE":            "registry.example/team/app",
		"INPUT_VERSION":          "v1.2.0",
		"INPUT_SHA":              testcheck.SHA,
		"INPUT_CONTEXT":          dir,
		"INPUT_USERNAME":         "ci",
		"INPUT_API-KEY":          "zak_secret_for_unit_tests",
		"INPUT_REGISTRY-TLS":     "disabled",
		"INPUT_BUILDKIT-ADDRESS": "unix:///nonexistent/buildkitd.sock",
	}
}

func workspace(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBadInputs(t *testing.T) {
	dir := workspace(t)
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
		{"attestations-as-referrers not boolean", "INPUT_ATTESTATIONS-AS-REFERRERS", "maybe", "attestations-as-referrers: \"maybe\" is not a boolean"},
	}
	if os.Geteuid() != 0 { // root reads any file
		cases = append(cases, struct{ name, input, value, want string }{"unreadable Dockerfile", "INPUT_FILE", filepath.Join(dir, "Unreadable"), "cannot be read"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := validInputs(dir)
			env[tc.input] = tc.value
			var stdout, stderr bytes.Buffer
			code := realMain(nil, fakeEnv(env), &stdout, &stderr)
			if code == 0 {
				t.Fatalf("exit 0, want non-zero; output:\n%s", stdout.String())
			}
			testcheck.OneErrorLine(t, stdout.String(), tc.want)
			testcheck.NoSecret(t, env["INPUT_API-KEY"], stdout.String(), stderr.String())
		})
	}
}

func TestAPIKeyFlagRefused(t *testing.T) {
	env := validInputs(workspace(t))
	var stdout, stderr bytes.Buffer
	code := realMain([]string{"--api-key", "zak_on_the_command_line"}, fakeEnv(env), &stdout, &stderr)
	if code == 0 {
		t.Fatal("exit 0 with --api-key on the command line")
	}
	testcheck.OneErrorLine(t, stdout.String(), "api-key: not accepted as a flag")
	testcheck.NoSecret(t, "zak_on_the_command_line", stdout.String(), stderr.String())
}

func TestFlagWinsOverEnv(t *testing.T) {
	env := validInputs(workspace(t))
	cfg, err := loadConfig([]string{"--version", "v9.9.9", "--push=false"}, fakeEnv(env), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Version != "v9.9.9" || cfg.Push {
		t.Errorf("version %q push %t, want the flags' v9.9.9 and false", cfg.Version, cfg.Push)
	}
}

func TestDefaults(t *testing.T) {
	dir := workspace(t)
	env := validInputs(dir)
	delete(env, "INPUT_SHA")
	delete(env, "INPUT_BUILDKIT-ADDRESS")
	env["GITHUB_SHA"] = testcheck.SHA
	env["BUILDKIT_HOST"] = "tcp://127.0.0.1:1234"
	env["INPUT_SHA-LENGTH"] = "12"
	cfg, err := loadConfig(nil, fakeEnv(env), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.shaTag() != testcheck.SHA[:12] {
		t.Errorf("sha tag %q, want %q", cfg.shaTag(), testcheck.SHA[:12])
	}
	if cfg.BuildkitAddress != "tcp://127.0.0.1:1234" {
		t.Errorf("buildkit address %q, want $BUILDKIT_HOST", cfg.BuildkitAddress)
	}
	if cfg.File != filepath.Join(dir, "Dockerfile") {
		t.Errorf("file %q, want <context>/Dockerfile", cfg.File)
	}
	if !cfg.Push || cfg.registry() != "registry.example" {
		t.Errorf("push %t registry %q", cfg.Push, cfg.registry())
	}
}

func TestHelpListsEveryInput(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"--help"}, fakeEnv(nil), &stdout, &stderr); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, in := range inputs {
		if !strings.Contains(stderr.String(), "-"+in.name+" ") {
			t.Errorf("--help does not list %s", in.name)
		}
	}
}

func TestUnreachableBuildkit(t *testing.T) {
	env := validInputs(workspace(t))
	var stdout, stderr bytes.Buffer
	if code := realMain(nil, fakeEnv(env), &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	testcheck.OneErrorLine(t, stdout.String(), "buildkit-address: no buildkitd answers at unix:///nonexistent/buildkitd.sock")
}

func TestOutputDelimiterCannotCollide(t *testing.T) {
	d := randomDelimiter("x")
	if !strings.HasPrefix(d, "ghadelimiter_") || len(d) < 40 {
		t.Fatalf("delimiter %q is not random enough", d)
	}
	if randomDelimiter("x") == d {
		t.Fatal("two delimiters are equal")
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
		env := validInputs(workspace(t))
		env["INPUT_REGISTRY-CREDENTIALS"] = value
		var stdout, stderr bytes.Buffer
		if code := realMain(nil, fakeEnv(env), &stdout, &stderr); code == 0 {
			t.Fatalf("exit 0 with %q", value)
		}
		testcheck.OneErrorLine(t, stdout.String(), want)
		testcheck.NoSecret(t, secret, stdout.String(), stderr.String())
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
	env := validInputs(workspace(t))
	env["DOCKER_CONFIG"] = cfgDir
	var stdout, stderr bytes.Buffer
	if code := realMain(nil, fakeEnv(env), &stdout, &stderr); code == 0 {
		t.Fatal("exit 0 with a broken Docker config")
	}
	testcheck.OneErrorLine(t, stdout.String(), "registry-credentials: the runner's docker config "+filepath.Join(cfgDir, "config.json")+" is not valid JSON")
	testcheck.NoSecret(t, secret, stdout.String(), stderr.String())
}

// TestSemverTagsNeedSemverVersion: semver-tags with a version that has no
// major and minor is one line naming both inputs' fix.
func TestSemverTagsNeedSemverVersion(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := validInputs(dir)
	env["INPUT_SEMVER-TAGS"] = "true"
	env["INPUT_VERSION"] = "release-7"
	var stdout, stderr bytes.Buffer
	if code := realMain(nil, fakeEnv(env), &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	testcheck.OneErrorLine(t, stdout.String(), "semver-tags: version \"release-7\" is not a semantic version")
}

// TestSkipIdenticalWithAttestationsRefused: with provenance on, no rebuild
// has the published digest, so skip-identical is refused up front.
func TestSkipIdenticalWithAttestationsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, attest := range []string{"INPUT_PROVENANCE", "INPUT_SBOM"} {
		env := validInputs(dir)
		env["INPUT_ON-EXISTING-VERSION"] = "skip-identical"
		env[attest] = "true"
		var stdout, stderr bytes.Buffer
		if code := realMain(nil, fakeEnv(env), &stdout, &stderr); code != 2 {
			t.Fatalf("%s: exit %d, want 2", attest, code)
		}
		testcheck.OneErrorLine(t, stdout.String(), "on-existing-version: skip-identical never matches with provenance or sbom on")
	}
}
