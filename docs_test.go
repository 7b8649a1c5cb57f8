package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/blumeops/build-push-image/internal/config"
)

// actionDoc is the part of action.yml the docs are checked against.
type actionDoc struct {
	Inputs  map[string]struct{ Required bool }
	Outputs map[string]struct{ Description, Value string }
	Runs    struct {
		Using string
		Steps []struct {
			Env map[string]string
		}
	}
}

func readAction(t *testing.T, b []byte) actionDoc {
	t.Helper()
	var a actionDoc
	if err := yaml.Unmarshal(b, &a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	return a
}

// readmeRows returns the name and second cell of each row of the README
// table under heading.
func readmeRows(t *testing.T, heading string) [][2]string {
	t.Helper()
	rows, ok := docRows(t, "README.md", heading)
	if !ok {
		t.Fatalf("README has no %q section", heading)
	}
	return rows
}

// docRows returns the name and second cell of each row of the table under
// the ## heading of the Markdown file doc, and whether it has the heading.
func docRows(t *testing.T, doc, heading string) ([][2]string, bool) {
	t.Helper()
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## "+heading+"\n")
	if !ok {
		return nil, false
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var rows [][2]string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z-]+)` \\|([^|]*)").FindAllStringSubmatch(section, -1) {
		rows = append(rows, [2]string{m[1], strings.TrimSpace(m[2])})
	}
	return rows, true
}

// docTables are the tables under heading in the README and in docs/: file
// → rows. A file without that heading, or whose section holds no table
// (it points at another), is left out; the README must have it.
func docTables(t *testing.T, heading string) map[string][][2]string {
	t.Helper()
	docs, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][2]string{"README.md": readmeRows(t, heading)}
	for _, doc := range docs {
		if rows, _ := docRows(t, doc, heading); len(rows) > 0 {
			out[doc] = rows
		}
	}
	return out
}

// TestReadmeDefaults: where action.yml (or plan/action.yml) gives an
// input a default, every table of inputs shows that value; "required"
// alone is for inputs the action marks required.
func TestReadmeDefaults(t *testing.T) {
	for heading, a := range map[string][]byte{"Inputs": actionYAML, "Plan inputs": planActionYAML} {
		required := readAction(t, a).Inputs
		in := config.MustInputs(a)
		for doc, rows := range docTables(t, heading) {
			shown := map[string]string{}
			for _, row := range rows {
				shown[row[0]] = row[1]
			}
			for _, in := range in {
				if in.Default != "" && shown[in.Name] != "`"+in.Default+"`" {
					t.Errorf("%s %s: input %s shows default %q, the action has %q", doc, heading, in.Name, shown[in.Name], in.Default)
				}
				if (shown[in.Name] == "required") != required[in.Name].Required {
					t.Errorf("%s %s: input %s shows default %q, the action marks it required: %t", doc, heading, in.Name, shown[in.Name], required[in.Name].Required)
				}
			}
		}
	}
}

func firstColumn(rows [][2]string) []string {
	var names []string
	for _, row := range rows {
		names = append(names, row[0])
	}
	return names
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestDocsMatchAction keeps action.yml's inputs (the program's flags and
// defaults, embedded), their env mapping and the README in step: an input
// the runs: step does not map never reaches the program. The same for the
// plan action.
func TestDocsMatchAction(t *testing.T) {
	checkAction(t, actionYAML, inputs, "Inputs", "Outputs", []string{"digest", "image", "metadata", "sha-tag", "signature", "tags", "version-tag"})
	checkAction(t, planActionYAML, planInputs, "Plan inputs", "Plan outputs", []string{"adoptable", "all", "changed-unbumped", "count", "images", "matrix"})
}

func checkAction(t *testing.T, action []byte, in config.Inputs, inputsHeading, outputsHeading string, outputs []string) {
	t.Helper()
	a := readAction(t, action)
	var program, mapped []string
	for _, in := range in {
		program = append(program, in.Name)
		if in.Description == "" {
			t.Errorf("%s: input %s has no description", inputsHeading, in.Name)
		}
	}
	for _, step := range a.Runs.Steps {
		for k, v := range step.Env {
			if name, ok := strings.CutPrefix(k, "INPUT_"); ok {
				mapped = append(mapped, strings.ToLower(name))
				if want := "${{ inputs." + strings.ToLower(name) + " }}"; v != want {
					t.Errorf("%s: %s: %q, want %q", inputsHeading, k, v, want)
				}
			}
		}
	}
	want := sorted(program)
	lists := map[string][]string{"env INPUT_*": mapped}
	for doc, rows := range docTables(t, inputsHeading) {
		lists[doc+"'s "+inputsHeading] = firstColumn(rows)
	}
	for what, got := range lists {
		if !slices.Equal(sorted(got), want) {
			t.Errorf("%s: %v\nthe action's inputs: %v", what, sorted(got), want)
		}
	}
	var declaredOut []string
	for name, o := range a.Outputs {
		declaredOut = append(declaredOut, name)
		if o.Description == "" || o.Value != "${{ steps.run.outputs."+name+" }}" {
			t.Errorf("%s: output %s lacks a description or is not wired to the step (%q)", outputsHeading, name, o.Value)
		}
	}
	lists = map[string][]string{"declared " + outputsHeading: declaredOut}
	for doc, rows := range docTables(t, outputsHeading) {
		lists[doc+"'s "+outputsHeading] = firstColumn(rows)
	}
	for what, got := range lists {
		if !slices.Equal(sorted(got), outputs) {
			t.Errorf("%s: %v, want %v", what, sorted(got), outputs)
		}
	}
	if a.Runs.Using != "composite" {
		t.Errorf("runs.using %q, want composite (the kind Forgejo runners, act and GitHub all run)", a.Runs.Using)
	}
}

// TestNoExpressionInDescriptions: runners evaluate ${{ }} in an input's
// description and refuse the whole action ("expressions are not allowed
// here"), so an example there must not use one.
func TestNoExpressionInDescriptions(t *testing.T) {
	for _, in := range append(slices.Clone(inputs), planInputs...) {
		if strings.Contains(in.Description, "${{") || strings.Contains(in.Default, "${{") {
			t.Errorf("input %s: an expression in its description or default breaks every run", in.Name)
		}
	}
}

// TestLayoutNamesEveryPackage: the README's layout paragraph and
// docs/architecture.md name every package under internal/, so a new one
// is not left out of the map.
func TestLayoutNamesEveryPackage(t *testing.T) {
	dirs, err := os.ReadDir("internal")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, layout, ok := strings.Cut(string(readme), "\nLayout: ")
	if !ok {
		t.Fatal("README has no Layout: paragraph")
	}
	layout, _, _ = strings.Cut(layout, "\n\n")
	arch, err := os.ReadFile("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		name := "`internal/" + d.Name() + "`"
		if !strings.Contains(layout, name) {
			t.Errorf("README's Layout: paragraph does not name %s", name)
		}
		if !strings.Contains(string(arch), "**"+name+"**") {
			t.Errorf("docs/architecture.md has no paragraph for %s", name)
		}
	}
}
