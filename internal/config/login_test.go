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
	images := "a.example/app\nb.example/app\nc.example/app\nd.example/app"
	read, err := parseImages(images)
	if err != nil {
		t.Fatal(err)
	}
	c := Config{Access: Access{Username: "ci", APIKey: "zak_k"}, Image: "a.example/app", Images: read.names, Refs: read.refs}
	c.BuildOpts.Logins = []build.Credential{
		{Host: "b.example", Username: "bob", Password: "pw"},
		{Host: "c.example", Username: "carol"}, // no password
	}
	want := map[string]Login{
		"a.example": {User: "ci", Pass: "zak_k"},
		"b.example": {User: "bob", Pass: "pw"},
		"c.example": {User: "ci", Pass: "zak_k"},
		"d.example": {User: "ci", Pass: "zak_k"},
	}
	for host, w := range want {
		if got, ok := c.LoginFor(host); got != w || !ok {
			t.Errorf("%s: %+v %v, want %+v", host, got, ok, w)
		}
	}
	c.Access = Access{IDToken: &oidc.Forge{}}
	for host, w := range map[string]struct {
		login Login
		ok    bool
	}{
		"a.example": {Login{Identity: true}, true},
		"b.example": {Login{User: "bob", Pass: "pw"}, true},
		"c.example": {Login{}, true}, // a line: its (empty) login
		"d.example": {Login{}, false},
	} {
		if got, ok := c.LoginFor(host); got != w.login || ok != w.ok {
			t.Errorf("oidc-audience, %s: %+v %v, want %+v %v", host, got, ok, w.login, w.ok)
		}
	}
	if err := validateIdentityImages(c); err == nil {
		t.Error("oidc-audience with d.example, which has no login: no error")
	}
}
