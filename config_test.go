package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/buildkitd"
)

// TestEveryBadInputReported: several bad inputs at once are each reported
// on an ::error:: line of their own, naming the input, in one run.
func TestEveryBadInputReported(t *testing.T) {
	env := validInputs(workspace(t))
	env["INPUT_VERSION"] = "v1+x"
	env["INPUT_PUSH"] = "yes"
	env["INPUT_LABELS"] = "=a\nok=1\nb"
	env["INPUT_CACHE-FROM"] = "ref=x\ntype=registry,ref=ok\ntype=local,\"dest=a"
	env["INPUT_PROVENANCE"] = "full"
	env["INPUT_REGISTRY-TLS"] = "off"
	env["INPUT_SECRETS"] = "a=env:UNSET_1\nb=file:/nonexistent/x"
	var stdout, stderr bytes.Buffer
	if code := realMain(nil, fakeEnv(env), &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	var lines []string
	for _, l := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(l, "::error::") {
			lines = append(lines, strings.TrimPrefix(l, "::error::"))
		}
	}
	want := []string{
		`push: "yes" is not a boolean`,
		`version: "v1+x" contains '+'`,
		"labels: line 1 is not KEY=VALUE",
		"labels: line 3 is not KEY=VALUE",
		`registry-tls: "off" is not one of`,
		"secrets: a: environment variable UNSET_1 is empty or unset",
		"secrets: b: cannot read /nonexistent/x",
		"cache-from: line 1: no type=",
		"cache-from: line 3: not comma-separated key=value",
		`provenance: "full" is not one of`,
	}
	for _, w := range want {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, w) }) {
			t.Errorf("no error line starting %q in:\n%s", w, strings.Join(lines, "\n"))
		}
	}
	if len(lines) != len(want) {
		t.Errorf("%d error lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
}

// TestBadContextIsOneError: a bad context is one error, not also one for
// the Dockerfile it would hold; a bad file given explicitly is its own.
func TestBadContextIsOneError(t *testing.T) {
	dir := workspace(t)
	env := validInputs(dir)
	env["INPUT_CONTEXT"] = dir + "/nope"
	_, err := loadConfig(nil, fakeEnv(env), &bytes.Buffer{})
	if got := errorList(err); len(got) != 1 {
		t.Errorf("%d errors, want 1: %v", len(got), got)
	}
	env["INPUT_FILE"] = dir + "/Nope"
	_, err = loadConfig(nil, fakeEnv(env), &bytes.Buffer{})
	if got := errorList(err); len(got) != 2 {
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
	env := validInputs(workspace(t))
	env["INPUT_BUILDKIT-ADDRESS"] = "tcp://[::1]:1234"
	env["INPUT_BUILDKIT-TLS-CA"] = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----"
	cfg, err := loadConfig(nil, fakeEnv(env), &bytes.Buffer{})
	if err != nil || cfg.BuildkitTLS == nil || cfg.BuildkitTLS.ServerName != "::1" {
		t.Errorf("TLS to tcp://[::1]:1234: %+v %v, want server name ::1", cfg.BuildkitTLS, err)
	}
}

func TestPlatformsNormalised(t *testing.T) {
	env := validInputs(workspace(t))
	env["INPUT_PLATFORMS"] = "linux/x86_64,linux/aarch64"
	cfg, err := loadConfig(nil, fakeEnv(env), &bytes.Buffer{})
	if err != nil || !slices.Equal(cfg.Platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("platforms %v %v, want linux/amd64 and linux/arm64", cfg.Platforms, err)
	}
}

func TestMissingUsernameAndKeyBothReported(t *testing.T) {
	env := validInputs(workspace(t))
	delete(env, "INPUT_USERNAME")
	delete(env, "INPUT_API-KEY")
	_, err := loadConfig(nil, fakeEnv(env), &bytes.Buffer{})
	got := errorList(err)
	if len(got) != 2 || !strings.HasPrefix(got[0].Error(), "username: required") || !strings.HasPrefix(got[1].Error(), "api-key: required") {
		t.Errorf("errors %v, want username and api-key, each on its own", got)
	}
}

func TestUnreadableTLSFilesAllReported(t *testing.T) {
	env := validInputs(workspace(t))
	env["INPUT_BUILDKIT-ADDRESS"] = "tcp://127.0.0.1:1234"
	env["INPUT_BUILDKIT-TLS-CA"] = "/nonexistent/ca.pem"
	env["INPUT_BUILDKIT-TLS-CERT"] = "/nonexistent/cert.pem"
	env["INPUT_BUILDKIT-TLS-KEY"] = "/nonexistent/key.pem"
	_, err := loadConfig(nil, fakeEnv(env), &bytes.Buffer{})
	got := errorList(err)
	if len(got) != 3 {
		t.Fatalf("%d errors, want one per unreadable file: %v", len(got), got)
	}
	for i, name := range []string{"buildkit-tls-ca", "buildkit-tls-cert", "buildkit-tls-key"} {
		if !strings.HasPrefix(got[i].Error(), name+": cannot read") {
			t.Errorf("error %d: %v, want %s first", i, got[i], name)
		}
	}
}
