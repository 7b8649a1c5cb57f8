package config

import (
	"bytes"
	"os"
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
	if img, err := p.ImageOf("app"); err != nil || img != "registry.example/team/app" {
		t.Errorf("ImageOf(app) = %q, %v", img, err)
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
