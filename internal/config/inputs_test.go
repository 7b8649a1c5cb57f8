package config

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

func TestParseInputs(t *testing.T) {
	got, err := ParseInputs([]byte("inputs:\n  b:\n    description: >-\n      two\n      lines\n    default: x\n  a:\n    description: one\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Inputs{{"b", "x", "two lines"}, {"a", "", "one"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v (action.yml's order)", got, want)
	}
	for _, bad := range []string{"name: x\n", "inputs: [a]\n", "inputs:\n  a: [1]\n", "\t"} {
		if _, err := ParseInputs([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestDefaultsFromActionYAML: an input left unset takes action.yml's
// default, and --help shows it.
func TestDefaultsFromActionYAML(t *testing.T) {
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	delete(env, "INPUT_REGISTRY-TLS")
	raw, err := actionInputs.Read(nil, testcheck.Lookup(env), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var help bytes.Buffer
	_, _ = actionInputs.Read([]string{"--help"}, testcheck.Lookup(nil), &help)
	for _, in := range actionInputs {
		if in.Default == "" || env["INPUT_"+strings.ToUpper(in.Name)] != "" {
			continue
		}
		if raw[in.Name] != in.Default {
			t.Errorf("%s: %q, want action.yml's default %q", in.Name, raw[in.Name], in.Default)
		}
		if !bytes.Contains(help.Bytes(), []byte(`(default "`+in.Default+`")`)) {
			t.Errorf("--help does not show %s's default %q", in.Name, in.Default)
		}
	}
}

// TestUnsetIsNotEmpty: under a runner, an input not in the environment at
// all (a run: step calling the binary with a few INPUT_*) takes
// action.yml's default, as by hand; only one set to "" keeps it empty,
// in either spelling of its name.
func TestUnsetIsNotEmpty(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"runner, unset", map[string]string{"GITHUB_ACTIONS": "true"}, "v"},
		{"runner, set empty", map[string]string{"GITHUB_ACTIONS": "true", "INPUT_VERSION-PREFIX": ""}, ""},
		{"runner, set empty, underscores", map[string]string{"FORGEJO_ACTIONS": "true", "INPUT_VERSION_PREFIX": ""}, ""},
		{"runner, set", map[string]string{"GITHUB_ACTIONS": "true", "INPUT_VERSION-PREFIX": "release-"}, "release-"},
		{"by hand, unset", map[string]string{}, "v"},
		{"by hand, set empty", map[string]string{"INPUT_VERSION-PREFIX": ""}, "v"},
	} {
		raw, err := actionInputs.Read(nil, testcheck.Lookup(tc.env), &bytes.Buffer{})
		if err != nil || raw["version-prefix"] != tc.want {
			t.Errorf("%s: version-prefix %q, %v; want %q", tc.name, raw["version-prefix"], err, tc.want)
		}
		if raw["registry-tls"] != "enabled" || raw["key-expiry-warning"] != "14" {
			t.Errorf("%s: unset inputs registry-tls %q, key-expiry-warning %q: want action.yml's defaults", tc.name, raw["registry-tls"], raw["key-expiry-warning"])
		}
	}
}
