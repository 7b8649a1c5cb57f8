package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/blumeops/build-push-image/internal/config"
)

// actionDoc is the part of action.yml the docs are checked against.
type actionDoc struct {
	Inputs map[string]struct {
		Description, Default string
		Required             bool
	}
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

// TestDocsMatchAction keeps action.yml's inputs (the program's flags and
// defaults, embedded) and their env mapping in step: an input the runs:
// step does not map never reaches the program. The same for the plan
// action. docs/inputs.md is held to them by TestDocsInputTables.
func TestDocsMatchAction(t *testing.T) {
	checkAction(t, actionYAML, inputs, "action.yml", []string{"digest", "image", "metadata", "sha-tag", "signature", "tags", "version-tag"})
	checkAction(t, planActionYAML, planInputs, "plan/action.yml", []string{"adoptable", "all", "changed-unbumped", "count", "images", "matrix"})
}

func checkAction(t *testing.T, action []byte, in config.Inputs, file string, outputs []string) {
	t.Helper()
	a := readAction(t, action)
	var program, mapped []string
	for _, in := range in {
		program = append(program, in.Name)
		if in.Description == "" {
			t.Errorf("%s: input %s has no description", file, in.Name)
		}
	}
	for _, step := range a.Runs.Steps {
		for k, v := range step.Env {
			if name, ok := strings.CutPrefix(k, "INPUT_"); ok {
				mapped = append(mapped, strings.ToLower(name))
				if want := "${{ inputs." + strings.ToLower(name) + " }}"; v != want {
					t.Errorf("%s: %s: %q, want %q", file, k, v, want)
				}
			}
		}
	}
	if want := sorted(program); !slices.Equal(sorted(mapped), want) {
		t.Errorf("%s: env INPUT_*: %v\nthe action's inputs: %v", file, sorted(mapped), want)
	}
	var declaredOut []string
	for name, o := range a.Outputs {
		declaredOut = append(declaredOut, name)
		if o.Description == "" || o.Value != "${{ steps.run.outputs."+name+" }}" {
			t.Errorf("%s: output %s lacks a description or is not wired to the step (%q)", file, name, o.Value)
		}
	}
	if !slices.Equal(sorted(declaredOut), outputs) {
		t.Errorf("%s: declared outputs %v, want %v", file, sorted(declaredOut), outputs)
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

// TestLayoutNamesEveryPackage: docs/architecture.md has a paragraph for
// every package under internal/, so a new one is not left out of the map.
func TestLayoutNamesEveryPackage(t *testing.T) {
	dirs, err := os.ReadDir("internal")
	if err != nil {
		t.Fatal(err)
	}
	arch, err := os.ReadFile("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		name := "`internal/" + d.Name() + "`"
		if !strings.Contains(string(arch), "**"+name+"**") {
			t.Errorf("docs/architecture.md has no paragraph for %s", name)
		}
	}
}

//go:generate go test -count=1 -run TestDocsInputTables -update .

// update makes TestDocsInputTables write docs/inputs.md's tables rather
// than compare them: go generate runs it so.
var update = flag.Bool("update", false, "write the default and description cells of docs/inputs.md from action.yml and plan/action.yml")

// inputsDoc holds a table of inputs per use, and the outputs.
const inputsDoc = "docs/inputs.md"

// tableRow is a row of a table of inputs or outputs: the name, then cells.
var tableRow = regexp.MustCompile("^\\| `([a-z-]+)` \\|")

// TestDocsInputTables: every input of action.yml is a row of exactly one
// table of docs/inputs.md (a section per use), every input of
// plan/action.yml one of the Plan section's, every output one of Outputs
// (Plan outputs), every row is one of them, and each row's default and
// description are the action's own. Which table a row is in is written by
// hand; its cells are written by go generate (this test with -update).
func TestDocsInputTables(t *testing.T) {
	doc, err := os.ReadFile(inputsDoc)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[bool]actionDoc{}
	for plan, file := range map[bool]string{false: "action.yml", true: "plan/action.yml"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		actions[plan] = readAction(t, b)
	}
	want, err := inputTables(string(doc), actions[false], actions[true])
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(inputsDoc, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got := strings.Split(string(doc), "\n"); want != string(doc) {
		for i, line := range strings.Split(want, "\n") {
			if i >= len(got) || got[i] != line {
				t.Fatalf("%s:%d: not what action.yml says; run go generate (it writes the cells):\n got %q\nwant %q", inputsDoc, i+1, got[min(i, len(got)-1)], line)
			}
		}
	}
}

// inputTables is doc with the cells of each row of its tables of inputs
// and outputs written from the actions' own (the plan's in sections whose
// heading begins with Plan), or an error naming every row that is no
// input or output and every one left out or listed twice.
func inputTables(doc string, main, plan actionDoc) (string, error) {
	type key struct {
		plan bool
		kind string // input, output
	}
	seen := map[key]map[string]int{}
	var errs []error
	var heading, kind string
	lines := strings.Split(doc, "\n")
	for i, line := range lines {
		switch {
		case strings.HasPrefix(line, "## "):
			heading = strings.TrimPrefix(line, "## ")
		case strings.HasPrefix(line, "| input |"), strings.HasPrefix(line, "| output |"):
			kind = strings.Fields(line)[1]
		case !strings.HasPrefix(line, "|"):
			kind = ""
		}
		m := tableRow.FindStringSubmatch(line)
		if m == nil || kind == "" {
			continue
		}
		k := key{strings.HasPrefix(heading, "Plan"), kind}
		a, file := main, "action.yml"
		if k.plan {
			a, file = plan, "plan/action.yml"
		}
		row, ok := tableCells(a, kind, m[1])
		if !ok {
			errs = append(errs, fmt.Errorf("%s:%d (## %s): %s is not an %s of %s", inputsDoc, i+1, heading, m[1], kind, file))
			continue
		}
		lines[i] = row
		if seen[k] == nil {
			seen[k] = map[string]int{}
		}
		seen[k][m[1]]++
	}
	for _, k := range []key{{false, "input"}, {false, "output"}, {true, "input"}, {true, "output"}} {
		a, file := main, "action.yml"
		if k.plan {
			a, file = plan, "plan/action.yml"
		}
		for _, name := range actionNames(a, k.kind) {
			if n := seen[k][name]; n != 1 {
				errs = append(errs, fmt.Errorf("%s: %s %s of %s is in %d of its tables, want 1", inputsDoc, k.kind, name, file, n))
			}
		}
	}
	return strings.Join(lines, "\n"), errors.Join(errs...)
}

// actionNames are the names of a's inputs or outputs, sorted.
func actionNames(a actionDoc, kind string) []string {
	var names []string
	if kind == "input" {
		for name := range a.Inputs {
			names = append(names, name)
		}
	} else {
		for name := range a.Outputs {
			names = append(names, name)
		}
	}
	return sorted(names)
}

// tableCells is the row of the input or output name of a: an input's
// default ("required" for a required one) and description, an output's
// description.
func tableCells(a actionDoc, kind, name string) (string, bool) {
	if kind == "output" {
		out, ok := a.Outputs[name]
		return "| `" + name + "` | " + markdownCell(out.Description) + " |", ok
	}
	in, ok := a.Inputs[name]
	def := "| |"
	switch {
	case in.Required:
		def = "| required |"
	case in.Default != "":
		def = "| `" + in.Default + "` |"
	}
	return "| `" + name + "` " + def + " " + markdownCell(in.Description) + " |", ok
}

// markdownCell is text as a table cell that shows it as written: one
// line, and Markdown's special characters escaped.
var markdownCell = strings.NewReplacer(
	"\\", "\\\\", "*", "\\*", "_", "\\_", "<", "\\<", ">", "\\>", "|", "\\|",
	"[", "\\[", "]", "\\]", "`", "\\`", "~", "\\~", "\n", " ",
).Replace

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// mdLink is a Markdown link's target; mdHeading a heading line.
var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdHeading = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
	mdCode    = regexp.MustCompile("(?s)```.*?```|`[^`\n]*`")
)

// TestDocsLinks: every relative link of the README, SECURITY.md and docs/
// names a file of the repository and, with #anchor, a heading of it, so a
// moved section leaves no dead link behind.
func TestDocsLinks(t *testing.T) {
	docs, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range append([]string{"README.md", "SECURITY.md"}, docs...) {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(mdCode.ReplaceAllString(string(b), ""), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			file := doc
			if path != "" {
				file = filepath.Join(filepath.Dir(doc), path)
			}
			if _, err := os.Stat(file); err != nil {
				t.Errorf("%s: link %s: no such file", doc, target)
				continue
			}
			if anchor != "" && !slices.Contains(anchors(t, file), anchor) {
				t.Errorf("%s: link %s: %s has no heading with that anchor", doc, target, file)
			}
		}
	}
}

// anchors are the anchors GitHub gives the headings of the Markdown file
// doc: lowercase, punctuation dropped, spaces as hyphens, -1, -2 for the
// same again.
func anchors(t *testing.T, doc string) []string {
	t.Helper()
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	seen := map[string]int{}
	text := regexp.MustCompile("(?s)```.*?```").ReplaceAllString(string(b), "")
	for _, m := range mdHeading.FindAllStringSubmatch(text, -1) {
		slug := strings.Map(func(r rune) rune {
			switch {
			case r == ' ':
				return '-'
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				return unicode.ToLower(r)
			}
			return -1
		}, strings.TrimSpace(m[1]))
		if n := seen[slug]; n > 0 {
			out = append(out, fmt.Sprintf("%s-%d", slug, n))
		} else {
			out = append(out, slug)
		}
		seen[slug]++
	}
	return out
}
