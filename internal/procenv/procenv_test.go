package procenv

import (
	"os"
	"slices"
	"testing"
)

func TestEnviron(t *testing.T) {
	env := map[string]string{
		"PATH":              "/usr/bin:/bin",
		"HOME":              "/home/ci",
		"LANG":              "C.UTF-8",
		"INPUT_API-KEY":     "zak_0123456789",
		"INPUT_API_KEY":     "zak_0123456789",
		"INPUT_IMAGE":       "registry.example/team/app",
		"GITHUB_TOKEN":      "ghs_token",
		"AWS_SECRET":        "aws",
		"HTTPS_PROXY":       "http://ci:zak_0123456789@proxy:3128",
		"TZ":                "1",
		"XDG_RUNTIME_DIR":   "/run/user/1000",
		"GIT_CONFIG_GLOBAL": "/tmp/gitconfig",

		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token-of-the-job",
	}
	got := Environ(func(k string) string { return env[k] },
		WithVars("GIT_CONFIG_GLOBAL", "INPUT_API-KEY", "input_image", "PATH", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
		WithoutValues("zak_0123456789", "", "1"))
	want := []string{"PATH=/usr/bin:/bin", "HOME=/home/ci", "LANG=C.UTF-8", "XDG_RUNTIME_DIR=/run/user/1000", "GIT_CONFIG_GLOBAL=/tmp/gitconfig"}
	if !slices.Equal(got, want) {
		t.Errorf("Environ = %q\nwant %q", got, want)
	}
}

func TestEnvironNeverNil(t *testing.T) {
	if got := Environ(func(string) string { return "" }); got == nil || len(got) != 0 {
		t.Errorf("Environ of an empty environment = %#v, want an empty non-nil slice (nil would inherit everything)", got)
	}
}

func TestScrub(t *testing.T) {
	for k, v := range map[string]string{
		"INPUT_API-KEY": "zak_0123456789", "input_lower": "x", "NPM_TOKEN": "npm_secret_value",
		"PROXY_URL": "http://u:npm_secret_value@p", "KEEP_ME": "ordinary", "SHORT": "ab",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token-of-the-job",
	} {
		t.Setenv(k, v)
	}
	Scrub("npm_secret_value", "", "ab")
	for _, gone := range []string{"INPUT_API-KEY", "input_lower", "NPM_TOKEN", "PROXY_URL", "SHORT", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"} {
		if v, ok := os.LookupEnv(gone); ok {
			t.Errorf("%s=%q still in the environment", gone, v)
		}
	}
	if os.Getenv("KEEP_ME") != "ordinary" || os.Getenv("PATH") == "" {
		t.Error("Scrub removed a variable that holds no secret")
	}
}
