package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// actionYAML is the part of action.yml the docs are checked against.
type actionYAML struct {
	Inputs  map[string]struct{ Description, Default string }
	Outputs map[string]struct{ Description, Value string }
	Runs    struct {
		Using string
		Steps []struct {
			Env map[string]string
		}
	}
}

func readAction(t *testing.T) actionYAML {
	t.Helper()
	b, err := os.ReadFile("action.yml")
	if err != nil {
		t.Fatal(err)
	}
	var a actionYAML
	if err := yaml.Unmarshal(b, &a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	return a
}

// readmeTable returns the first column of the README table under heading.
func readmeTable(t *testing.T, heading string) []string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## "+heading+"\n")
	if !ok {
		t.Fatalf("README has no %q section", heading)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var names []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z-]+)` \\|").FindAllStringSubmatch(section, -1) {
		names = append(names, m[1])
	}
	return names
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestDocsMatchAction keeps the program's inputs, action.yml and the README
// in step: an input missing from action.yml never reaches the program.
func TestDocsMatchAction(t *testing.T) {
	a := readAction(t)
	var program, declared, mapped []string
	for _, in := range inputs {
		program = append(program, in.name)
	}
	for name, in := range a.Inputs {
		declared = append(declared, name)
		if in.Description == "" {
			t.Errorf("action.yml: input %s has no description", name)
		}
	}
	for _, step := range a.Runs.Steps {
		for k, v := range step.Env {
			if name, ok := strings.CutPrefix(k, "INPUT_"); ok {
				mapped = append(mapped, strings.ToLower(name))
				if want := "${{ inputs." + strings.ToLower(name) + " }}"; v != want {
					t.Errorf("action.yml: %s: %q, want %q", k, v, want)
				}
			}
		}
	}
	want := sorted(program)
	for what, got := range map[string][]string{
		"action.yml inputs":      declared,
		"action.yml env INPUT_*": mapped,
		"README's Inputs table":  readmeTable(t, "Inputs"),
	} {
		if !slices.Equal(sorted(got), want) {
			t.Errorf("%s: %v\nprogram's inputs: %v", what, sorted(got), want)
		}
	}
	outputs := []string{"digest", "image", "metadata", "sha-tag", "tags", "version-tag"}
	var declaredOut []string
	for name, o := range a.Outputs {
		declaredOut = append(declaredOut, name)
		if o.Description == "" || o.Value != "${{ steps.run.outputs."+name+" }}" {
			t.Errorf("action.yml: output %s lacks a description or is not wired to the step (%q)", name, o.Value)
		}
	}
	for what, got := range map[string][]string{"action.yml outputs": declaredOut, "README's Outputs table": readmeTable(t, "Outputs")} {
		if !slices.Equal(sorted(got), outputs) {
			t.Errorf("%s: %v, want %v", what, sorted(got), outputs)
		}
	}
	if a.Runs.Using != "composite" {
		t.Errorf("runs.using %q, want composite (the kind Forgejo runners, act and GitHub all run)", a.Runs.Using)
	}
}
