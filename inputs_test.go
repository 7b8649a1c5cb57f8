package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestParseInputs(t *testing.T) {
	got, err := parseInputs([]byte("inputs:\n  b:\n    description: >-\n      two\n      lines\n    default: x\n  a:\n    description: one\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []input{{"b", "x", "two lines"}, {"a", "", "one"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v (action.yml's order)", got, want)
	}
	for _, bad := range []string{"name: x\n", "inputs: [a]\n", "inputs:\n  a: [1]\n", "\t"} {
		if _, err := parseInputs([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestDefaultsFromActionYAML: an input left unset takes action.yml's
// default, and --help shows it.
func TestDefaultsFromActionYAML(t *testing.T) {
	env := validInputs(workspace(t))
	delete(env, "INPUT_REGISTRY-TLS")
	raw, err := readInputs(nil, fakeEnv(env), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var help bytes.Buffer
	_, _ = readInputs([]string{"--help"}, fakeEnv(nil), &help)
	for _, in := range inputs {
		if in.def == "" || env["INPUT_"+strings.ToUpper(in.name)] != "" {
			continue
		}
		if raw[in.name] != in.def {
			t.Errorf("%s: %q, want action.yml's default %q", in.name, raw[in.name], in.def)
		}
		if !bytes.Contains(help.Bytes(), []byte(`(default "`+in.def+`")`)) {
			t.Errorf("--help does not show %s's default %q", in.name, in.def)
		}
	}
}
