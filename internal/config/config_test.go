package config

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/buildkitd"
	"github.com/blumeops/build-push-image/internal/testcheck"
)

// TestBadContextIsOneError: a bad context is one error, not also one for
// the Dockerfile it would hold; a bad file given explicitly is its own.
func TestBadContextIsOneError(t *testing.T) {
	dir := testcheck.Workspace(t)
	env := testcheck.ValidInputs(dir)
	env["INPUT_CONTEXT"] = dir + "/nope"
	_, err := loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{})
	if got := ErrorList(err); len(got) != 1 {
		t.Errorf("%d errors, want 1: %v", len(got), got)
	}
	env["INPUT_FILE"] = dir + "/Nope"
	_, err = loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{})
	if got := ErrorList(err); len(got) != 2 {
		t.Errorf("%d errors, want 2 (context and file): %v", len(got), got)
	}
}

func TestValidateImage(t *testing.T) {
	for _, ok := range []string{"[::1]:5000/app", "localhost/app", "localhost:5000/a/b", "registry.example/team/app", "docker.io/team/app", "10.0.0.1:5000/x_y/z-1"} {
		if err := validateImage(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for image, want := range map[string]string{
		"team/app":                `"team/app" is not a valid repository: it names no registry host; put the registry first, e.g. registry.example/team/app (Docker Hub: docker.io/team/app)`,
		"app":                     "it has no path after the host",
		"registry.example/a b":    "not a valid repository",
		"registry.example/app:v1": "must not include a tag",
		"[::1]:5000/app:v1":       "must not include a tag",
		"registry.example/app@sha256:" + strings.Repeat("a", 64): "must not include a digest",
	} {
		err := validateImage(image)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", image, err, want)
		}
	}
}

// TestImageHost: an image's host is read once, by regclient, as push and
// the plan's clients use it: Docker Hub's aliases are one registry, a
// port and an IP literal stay; reuse-from and the login rule follow it.
func TestImageHost(t *testing.T) {
	for image, host := range map[string]string{
		"docker.io/team/app": "docker.io", "index.docker.io/team/app": "docker.io", "registry-1.docker.io/team/app": "docker.io",
		"localhost/app": "localhost", "localhost:5000/a/b": "localhost:5000", "127.0.0.1:5000/app": "127.0.0.1:5000",
		"[::1]:5000/app": "[::1]:5000", "registry.example/team/app": "registry.example",
	} {
		if r, err := parseImage(image); err != nil || r.Registry != host || r.Reference != image {
			t.Errorf("%s: host %q (%q), %v; want %q, the name kept", image, r.Registry, r.Reference, err, host)
		}
	}
	read, err := parseImages("index.docker.io/team/app\nlocalhost:5000/team/app")
	if err != nil {
		t.Fatal(err)
	}
	c := Config{Images: read.names, Refs: read.refs}
	if r, err := reuseFrom(c.Refs)("docker.io/team/base:v1"); err != nil || r.Own || r.Repo.Registry != "docker.io" || r.Tag != "v1" {
		t.Errorf("reuse-from docker.io/team/base:v1 with index.docker.io/team/app: %+v, %v; want a repository of the same registry", r, err)
	}
	if r, err := reuseFrom(c.Refs)("docker.io/team/app"); err != nil || !r.Own {
		t.Errorf("reuse-from docker.io/team/app with index.docker.io/team/app: %+v, %v; want the image's own", r, err)
	}
	if _, err := reuseFrom(c.Refs)("localhost:5000/team/base"); err == nil || err.Error() != `"localhost:5000/team/base" is not on docker.io, the image's registry; a layer is mounted from another repository of the same registry only` {
		t.Errorf("reuse-from on localhost:5000 with the image on Docker Hub: %v", err)
	}
	if c.Registry() != "docker.io" {
		t.Errorf("Registry() = %q, want docker.io", c.Registry())
	}
}

func TestVersionPlusSuggestsUnderscore(t *testing.T) {
	err := validateTag("v1.2.0+build.5")
	if err == nil || !strings.Contains(err.Error(), "use '_' instead") || !strings.Contains(err.Error(), "v1.2.0_build.5") {
		t.Errorf("%v: want the '_' spelling suggested", err)
	}
}

func TestBuildkitAddress(t *testing.T) {
	for _, ok := range []string{"unix:///run/buildkit/buildkitd.sock", "tcp://127.0.0.1:1234", "tcp://[::1]:1234", "tcp://buildkit.internal:1234"} {
		if err := buildkitd.ValidateAddress(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://localhost:1234", "tcp://", "tcp://::1:1234", "tcp://host", "unix://", "localhost:1234"} {
		if err := buildkitd.ValidateAddress(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	env["INPUT_BUILDKIT-ADDRESS"] = "tcp://[::1]:1234"
	env["INPUT_BUILDKIT-TLS-CA"] = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----"
	cfg, err := loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{})
	if err != nil || cfg.BuildkitTLS == nil || cfg.BuildkitTLS.ServerName != "::1" {
		t.Errorf("TLS to tcp://[::1]:1234: %+v %v, want server name ::1", cfg.BuildkitTLS, err)
	}
}

func TestPlatformsNormalised(t *testing.T) {
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	env["INPUT_PLATFORMS"] = "linux/x86_64,linux/aarch64"
	cfg, err := loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{})
	if err != nil || !slices.Equal(build.PlatformNames(cfg.Platforms), []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("platforms %v %v, want linux/amd64 and linux/arm64", cfg.Platforms, err)
	}
}

func TestMissingUsernameAndKeyBothReported(t *testing.T) {
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	delete(env, "INPUT_USERNAME")
	delete(env, "INPUT_API-KEY")
	_, err := loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{})
	got := ErrorList(err)
	if len(got) != 2 || !strings.HasPrefix(got[0].Error(), "username: required") || !strings.HasPrefix(got[1].Error(), "api-key: required") {
		t.Errorf("errors %v, want username and api-key, each on its own", got)
	}
}

func TestUnreadableTLSFilesAllReported(t *testing.T) {
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	env["INPUT_BUILDKIT-ADDRESS"] = "tcp://127.0.0.1:1234"
	env["INPUT_BUILDKIT-TLS-CA"] = "/nonexistent/ca.pem"
	env["INPUT_BUILDKIT-TLS-CERT"] = "/nonexistent/cert.pem"
	env["INPUT_BUILDKIT-TLS-KEY"] = "/nonexistent/key.pem"
	_, err := loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{})
	got := ErrorList(err)
	if len(got) != 3 {
		t.Fatalf("%d errors, want one per unreadable file: %v", len(got), got)
	}
	for i, name := range []string{"buildkit-tls-ca", "buildkit-tls-cert", "buildkit-tls-key"} {
		if !strings.HasPrefix(got[i].Error(), name+": cannot read") {
			t.Errorf("error %d: %v, want %s first", i, got[i], name)
		}
	}
}

// TestTagSuffix: the suffix is on every tag the run writes, and the
// version itself (what the never-backwards rule and the image's version
// annotation hold) keeps none.
func TestTagSuffix(t *testing.T) {
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	env["INPUT_TAG-SUFFIX"] = "-nix"
	env["INPUT_SHA-LENGTH"] = "12"
	env["INPUT_SEMVER-TAGS"] = "true"
	env["INPUT_TAGS"] = "latest"
	cfg, err := loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.VersionTag() != "v1.2.0-nix" || cfg.SHATag() != testcheck.SHA[:12]+"-nix" || cfg.Version != "v1.2.0" {
		t.Errorf("version tag %q, SHA tag %q, version %q; want v1.2.0-nix, %s-nix, v1.2.0", cfg.VersionTag(), cfg.SHATag(), cfg.Version, testcheck.SHA[:12])
	}
	if got, want := cfg.Follow(), []string{"v1-nix", "v1.2-nix", "latest"}; !slices.Equal(got, want) {
		t.Errorf("tags that follow releases %v, want %v (latest as it is, as metadata-action's onlatest=false)", got, want)
	}
	env["INPUT_TAG-SUFFIX-ON-LATEST"] = "true"
	if cfg, err = loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{}); err != nil || !slices.Contains(cfg.Follow(), "latest-nix") {
		t.Errorf("tag-suffix-on-latest: true: %v %v, want latest-nix", cfg.Follow(), err)
	}
	if v := cfg.Annotations["org.opencontainers.image.version"]; v != "v1.2.0" {
		t.Errorf("version annotation %q, want the version itself, v1.2.0", v)
	}
}

// TestSHAFromGit: by hand, with neither sha nor $GITHUB_SHA, the SHA is
// git rev-parse HEAD in the context; outside a checkout it is required.
func TestSHAFromGit(t *testing.T) {
	dir := testcheck.Workspace(t)
	env := testcheck.ValidInputs(dir)
	delete(env, "INPUT_SHA")
	testcheck.OneErrorLine(t, loadErrors(t, env), "sha: required; set it to the commit SHA (the default, $GITHUB_SHA, is not set here, and the context is no git checkout)")
	head := testcheck.Commit(t, dir)
	cfg, err := loadConfig(nil, testcheck.Lookup(env), &bytes.Buffer{})
	if err != nil || cfg.SHA != head || !cfg.SHAFromGit || cfg.SHATag() != head {
		t.Errorf("sha %q (from git %t), tag %q, %v; want %s from git rev-parse HEAD", cfg.SHA, cfg.SHAFromGit, cfg.SHATag(), err, head)
	}
}

// TestBadTagSuffix: one line naming tag-suffix, however many tags a long
// suffix makes too long.
func TestBadTagSuffix(t *testing.T) {
	version := "v1.2.0-" + strings.Repeat("a", 43) // 50: longer than the SHA
	long := "-" + strings.Repeat("x", 99)
	for suffix, want := range map[string]string{
		"-n/x": `tag-suffix: "-n/x" cannot be part of a tag`,
		"-n+x": `tag-suffix: "-n+x" cannot be part of a tag`,
		long:   "makes the tag " + version + long + " 150 characters long; a tag has at most 128",
	} {
		env := testcheck.ValidInputs(testcheck.Workspace(t))
		env["INPUT_TAG-SUFFIX"] = suffix
		env["INPUT_VERSION"] = version
		env["INPUT_TAGS"] = "latest\nstable"
		testcheck.OneErrorLine(t, loadErrors(t, env), want)
	}
}
