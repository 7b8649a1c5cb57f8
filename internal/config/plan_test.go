package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/push"
	"github.com/blumeops/build-push-image/internal/testcheck"
)

// planInputs are the plan action's inputs, from plan/action.yml as main
// embeds it.
var planInputs = func() Inputs {
	b, err := os.ReadFile("../../plan/action.yml")
	if err != nil {
		panic(err)
	}
	return MustInputs(b)
}()

func validPlan() map[string]string {
	return map[string]string{
		"INPUT_CONTEXTS":       "containers/*",
		"INPUT_IMAGE":          "registry.example/team/{name}",
		"INPUT_VERSION-ARG":    "APP_VERSION",
		"INPUT_REGISTRY-TLS":   "disabled",
		"INPUT_VERSION-PREFIX": "v",
	}
}

func TestParsePlan(t *testing.T) {
	env := validPlan()
	env["INPUT_CONTEXTS"] = "containers/*\n  nix/*  \n!./containers/lib\n"
	env["INPUT_TAG-SUFFIX"] = "-nix"
	p, err := LoadPlan(planInputs, nil, testcheck.Lookup(env), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Contexts) != 2 || p.Contexts[1] != "nix/*" || len(p.Exclude) != 1 || p.Exclude[0] != "containers/lib" || p.FailUnversioned || p.TagSuffix != "-nix" || p.Source.Arg != "APP_VERSION" || p.Source.Prefix != "v" || p.RegistryTLS != push.TLSDisabled || p.APIKey != "" {
		t.Errorf("plan %+v", p)
	}
	if img, err := p.ImageOf("app"); err != nil || img.Reference != "registry.example/team/app" || img.Registry != "registry.example" {
		t.Errorf("ImageOf(app) = %+v, %v", img, err)
	}
}

func TestPlanOnUnversioned(t *testing.T) {
	env := validPlan()
	env["INPUT_ON-UNVERSIONED"] = "fail"
	if p, err := LoadPlan(planInputs, nil, testcheck.Lookup(env), &bytes.Buffer{}); err != nil || !p.FailUnversioned {
		t.Errorf("on-unversioned: fail gives %+v, %v", p, err)
	}
}

func TestPlanBadInputs(t *testing.T) {
	for _, tc := range []struct{ input, value, want string }{
		{"INPUT_CONTEXTS", "", "contexts: required"},
		{"INPUT_CONTEXTS", "containers/[", `contexts: "containers/[" is not a valid glob`},
		{"INPUT_CONTEXTS", "../other/*", `contexts: "../other/*" leaves the workspace`},
		{"INPUT_CONTEXTS", "/etc", `contexts: "/etc" is absolute: the plan reads only the workspace; give a glob relative to it, e.g. containers/*`},
		{"INPUT_CONTEXTS", "containers/* /e*", `contexts: "/e*" is absolute`},
		{"INPUT_CONTEXTS", "!containers/lib", "contexts: required; set it to the directories that hold an image each"},
		{"INPUT_CONTEXTS", "containers/*\n!containers/[", `contexts: "!containers/[" is not a valid glob`},
		{"INPUT_ON-UNVERSIONED", "error", `on-unversioned: "error" is not skip or fail`},
		{"INPUT_IMAGE", "", "image: required"},
		{"INPUT_IMAGE", "team/{name}", "image: \"team/name\" is not a valid repository: it names no registry host"},
		{"INPUT_VERSION-ARG", "", "version-arg: or version-file is required"},
		{"INPUT_VERSION-PATTERN", "version", "version-pattern: \"version\" has no group"},
		{"INPUT_TAG-SUFFIX", "-a b", `tag-suffix: "-a b" cannot be part of a tag`},
		{"INPUT_API-KEY", "zak_plan_secret", "username: required with api-key"},
		{"INPUT_REGISTRY-TLS", "off", "registry-tls"},
		{"INPUT_VERSION-COMMAND", "sh -c 'echo", "version-command: \"sh -c 'echo\" has an unclosed quote"},
		{"INPUT_VERSION-COMMAND-FIRST", "true", "version-command-first: needs version-command"},
		{"INPUT_CHANGED", "yes", `changed: "yes" is not auto, true or false`},
		{"INPUT_SHARED-PATHS", "/etc/passwd", `shared-paths: "/etc/passwd" is absolute`},
		{"INPUT_SHARED-PATHS", "../x.lock", `shared-paths: "../x.lock" leaves the workspace`},
		{"INPUT_ADOPT-TAGS", "v*-nix", `adopt-tags: "v*-nix" does not name {version}`},
		{"INPUT_ADOPT-TAGS", "{version}-[a]-nix", `adopt-tags: "{version}-[a]-nix" is not a pattern of tags`},
	} {
		env := validPlan()
		env[tc.input] = tc.value
		_, err := LoadPlan(planInputs, nil, testcheck.Lookup(env), &bytes.Buffer{})
		if err == nil {
			t.Errorf("%s=%q accepted", tc.input, tc.value)
			continue
		}
		out := errorLines(err)
		testcheck.OneErrorLine(t, out, tc.want)
		testcheck.NoSecret(t, "zak_plan_secret", out)
	}
}

// TestPlanChangedEvent: the base commit is the event's (a pull request's
// base.sha, a push's before), none for a new branch or another event; the
// version command's and git's environments hold no input and no secret.
func TestPlanChangedEvent(t *testing.T) {
	sha := strings.Repeat("a1", 20)
	dir := t.TempDir()
	for _, tc := range []struct{ name, body, base, noBase string }{
		{"pull_request", `{"pull_request": {"base": {"sha": "` + sha + `"}}}`, sha, ""},
		{"pull_request_target", `{"pull_request": {"base": {"sha": "` + sha + `"}}}`, sha, ""},
		{"push", `{"before": "` + sha + `"}`, sha, ""},
		{"push", `{"before": "0000000000000000000000000000000000000000"}`, "", "names no base commit"},
		{"push", `{"before": "HEAD~1"}`, "", "is not a commit"},
		{"push", `not json`, "", "cannot be read"},
		{"workflow_dispatch", `{}`, "", `the event is workflow_dispatch`},
		{"", `{}`, "", "a run by hand"},
	} {
		event := filepath.Join(dir, "event.json")
		if err := os.WriteFile(event, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		env := validPlan()
		env["GITHUB_EVENT_NAME"], env["GITHUB_EVENT_PATH"] = tc.name, event
		env["INPUT_VERSION-COMMAND"] = "nix eval --raw .#{name}.version"
		env["INPUT_USERNAME"], env["INPUT_API-KEY"] = "ci", "zak_plan_secret"
		env["NIX_PATH"], env["NIX_CONFIG"], env["HTTPS_PROXY"] = "nixpkgs=/n", "access-tokens = x", "http://ci:zak_plan_secret@proxy"
		p, err := LoadPlan(planInputs, nil, testcheck.Lookup(env), &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		c := p.Changed
		if c.Base != tc.base || !strings.Contains(c.NoBase, tc.noBase) || c.PullRequest != strings.HasPrefix(tc.name, "pull_request") {
			t.Errorf("%s %s: %+v, want base %q (why %q)", tc.name, tc.body, c, tc.base, tc.noBase)
		}
		cmdEnv := strings.Join(p.Source.Command.Env, "\n")
		if !strings.Contains(cmdEnv, "NIX_PATH=nixpkgs=/n") || strings.Contains(cmdEnv, "NIX_CONFIG") || strings.Contains(cmdEnv, "INPUT_") {
			t.Errorf("the command's environment %q: want NIX_PATH, no NIX_CONFIG, no input", cmdEnv)
		}
		testcheck.NoSecret(t, "zak_plan_secret", cmdEnv, strings.Join(c.GitEnv, "\n"))
	}
}
