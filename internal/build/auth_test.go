package build

import (
	"context"
	"slices"
	"testing"

	"github.com/moby/buildkit/session/auth"
)

// TestAuthProvider asks the session's auth provider what buildkitd asks
// it: credentials per host. Docker Hub's aliases share one login; any
// other host gets nothing. Each host given a login is reported once.
func TestAuthProvider(t *testing.T) {
	var handed []string
	ap := authProvider([]Credential{
		{Host: "docker.io", Username: "hub", Password: "hub-key"},
		{Host: "Registry.Example:5000", Username: "ci", Password: "zak_key"},
	}, func(host string) { handed = append(handed, host) }).(auth.AuthServer)
	cases := []struct{ host, user, secret string }{
		{"registry-1.docker.io", "hub", "hub-key"},
		{"index.docker.io", "hub", "hub-key"},
		{"docker.io", "hub", "hub-key"},
		{"https://index.docker.io/v1/", "hub", "hub-key"},
		{"registry.example:5000", "ci", "zak_key"},
		{"registry.example", "", ""},
		{"registry.example:5001", "", ""},
		{"ghcr.io", "", ""},
	}
	for _, tc := range cases {
		resp, err := ap.Credentials(context.Background(), &auth.CredentialsRequest{Host: tc.host})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Username != tc.user || resp.Secret != tc.secret {
			t.Errorf("credentials for %s: %q/%q, want %q/%q", tc.host, resp.Username, resp.Secret, tc.user, tc.secret)
		}
	}
	if want := []string{"registry-1.docker.io", "registry.example:5000"}; !slices.Equal(handed, want) {
		t.Errorf("reported hosts %q, want %q", handed, want)
	}
}
