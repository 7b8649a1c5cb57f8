package config

import (
	"testing"

	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/oidc"
)

// TestLoginFor: the one login rule. The first image's registry takes
// username and api-key (and, with oidc-audience, the job's identity);
// another registry its line of registry-credentials when that has a
// password, else username and api-key; under oidc-audience a registry
// with no line has no login at all (config.Parse refuses it).
func TestLoginFor(t *testing.T) {
	c := Config{Access: Access{Username: "ci", APIKey: "zak_k"}, Image: "a.example/app",
		Images: []string{"a.example/app", "b.example/app", "c.example/app", "d.example/app"}}
	c.BuildOpts.Logins = []build.Credential{
		{Host: "b.example", Username: "bob", Password: "pw"},
		{Host: "c.example", Username: "carol"}, // no password
	}
	want := map[string]Login{
		"a.example/app": {User: "ci", Pass: "zak_k"},
		"b.example/app": {User: "bob", Pass: "pw"},
		"c.example/app": {User: "ci", Pass: "zak_k"},
		"d.example/app": {User: "ci", Pass: "zak_k"},
	}
	for image, w := range want {
		if got, ok := c.LoginFor(image); got != w || !ok {
			t.Errorf("%s: %+v %v, want %+v", image, got, ok, w)
		}
	}
	c.Access = Access{IDToken: &oidc.Forge{}}
	for image, w := range map[string]struct {
		login Login
		ok    bool
	}{
		"a.example/app": {Login{Identity: true}, true},
		"b.example/app": {Login{User: "bob", Pass: "pw"}, true},
		"c.example/app": {Login{}, true}, // a line: its (empty) login
		"d.example/app": {Login{}, false},
	} {
		if got, ok := c.LoginFor(image); got != w.login || ok != w.ok {
			t.Errorf("oidc-audience, %s: %+v %v, want %+v %v", image, got, ok, w.login, w.ok)
		}
	}
	if err := validateIdentityImages(c); err == nil {
		t.Error("oidc-audience with d.example, which has no login: no error")
	}
}
