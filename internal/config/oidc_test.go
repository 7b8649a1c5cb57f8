package config

import (
	"bytes"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/oidc"
	"github.com/blumeops/build-push-image/internal/testcheck"
)

// offered is a job's environment with enable-openid-connect.
func offered(env map[string]string) map[string]string {
	env[oidc.EnvRequestURL] = "https://forge.example/api/actions/_apis/pipelines/workflows/1/idtoken?api-version=2.0"
	env[oidc.EnvRequestToken] = "request-token-of-the-job"
	return env
}

// TestOIDCAudience: oidc-audience replaces username and api-key when the
// forge offered the job an ID token; the request token is a secret value.
func TestOIDCAudience(t *testing.T) {
	env := offered(testcheck.ValidInputs(testcheck.Workspace(t)))
	delete(env, "INPUT_USERNAME")
	delete(env, "INPUT_API-KEY")
	env["INPUT_OIDC-AUDIENCE"] = "zot.example"
	// An image on another registry, which has a login of its own.
	env["INPUT_IMAGE"] += "\nother.example/team/app"
	env["INPUT_REGISTRY-CREDENTIALS"] = "other.example=bot:other-registry-password"
	c, err := loadConfig(nil, testcheck.Lookup(env), new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if c.IDToken == nil || c.IDToken.Audience != "zot.example" || c.IDToken.RequestToken != env[oidc.EnvRequestToken] {
		t.Fatalf("IDToken = %+v", c.IDToken)
	}
	found := false
	for _, v := range c.SecretValues() {
		found = found || v == env[oidc.EnvRequestToken]
	}
	if !found {
		t.Error("the request token is not among the secret values")
	}
	for _, kv := range c.ChildEnv {
		if strings.Contains(kv, env[oidc.EnvRequestToken]) {
			t.Errorf("a child's environment holds the request token: %s", kv)
		}
	}
}

// TestOIDCAudienceRefused: one line each, naming oidc-audience and the
// fix; a build that pushes nothing never asks for a token.
func TestOIDCAudienceRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(map[string]string)
		want string
	}{
		{"with api-key", func(env map[string]string) { offered(env) }, "oidc-audience: and api-key are both set; give one"},
		{"not offered", func(env map[string]string) { delete(env, "INPUT_API-KEY") }, "set enable-openid-connect: true"},
		{"white space", func(env map[string]string) {
			offered(env)
			delete(env, "INPUT_API-KEY")
			env["INPUT_OIDC-AUDIENCE"] = "a b"
		}, "oidc-audience: \"a b\" holds white space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := testcheck.ValidInputs(testcheck.Workspace(t))
			env["INPUT_OIDC-AUDIENCE"] = "zot.example"
			tc.edit(env)
			testcheck.OneErrorLine(t, loadErrors(t, env), tc.want)
		})
	}
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	delete(env, "INPUT_API-KEY")
	env["INPUT_OIDC-AUDIENCE"] = "zot.example"
	env["INPUT_PUSH"] = "false"
	if c, err := loadConfig(nil, testcheck.Lookup(env), new(bytes.Buffer)); err != nil || c.IDToken != nil {
		t.Errorf("push: false with oidc-audience and no token offered: %v, IDToken %+v; want accepted, no token asked for", err, c.IDToken)
	}
}
