package procenv

import (
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
	}
	got := Environ(func(k string) string { return env[k] },
		WithVars("GIT_CONFIG_GLOBAL", "INPUT_API-KEY", "input_image", "PATH"),
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
