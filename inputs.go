package main

import (
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// actionYAML is the action's metadata, the one description of the inputs:
// its inputs are the program's flags, their defaults the program's defaults
// and their descriptions its --help.
//
//go:embed action.yml
var actionYAML []byte

// input is one action input: its name (the flag name, and INPUT_<NAME> in
// the environment), its default and its description, as in action.yml.
type input struct {
	name, def, description string
}

// inputs are action.yml's inputs, in its order. A broken action.yml is a
// build error, caught by every test of this package.
var inputs = mustParseInputs(actionYAML)

func mustParseInputs(b []byte) []input {
	in, err := parseInputs(b)
	if err != nil {
		panic(err)
	}
	return in
}

// parseInputs reads the inputs: section of an action.yml.
func parseInputs(b []byte) ([]input, error) {
	var doc struct{ Inputs yaml.Node }
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("action.yml: %w", err)
	}
	n := doc.Inputs
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		return nil, errors.New("action.yml: inputs: is missing or not a mapping")
	}
	out := make([]input, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		var v struct{ Description, Default string }
		if err := n.Content[i+1].Decode(&v); err != nil {
			return nil, fmt.Errorf("action.yml: input %s: %w", n.Content[i].Value, err)
		}
		out = append(out, input{name: n.Content[i].Value, def: v.Default, description: strings.Join(strings.Fields(v.Description), " ")})
	}
	return out, nil
}

// loadConfig reads every input from flags, falling back to INPUT_* and
// then to the defaults, and validates the result.
func loadConfig(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	raw, err := readInputs(args, getenv, usage)
	if err != nil {
		return config{}, err
	}
	return parseConfig(raw, getenv)
}

func readInputs(args []string, getenv func(string) string, usage io.Writer) (map[string]string, error) {
	fs := flag.NewFlagSet("build-push-image", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.Usage = func() {
		fmt.Fprintln(usage, "Usage: build-push-image [--input value ...]\n\nEvery input of action.yml is a flag, or INPUT_<NAME> in the environment; a flag wins.\napi-key is read from the environment only: INPUT_API-KEY or INPUT_API_KEY.")
		fs.PrintDefaults()
	}
	flags := make(map[string]*string, len(inputs))
	for _, in := range inputs {
		flags[in.name] = fs.String(in.name, in.def, in.description)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("command line: %w; see --help", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("command line: unexpected argument %q; every input is a --flag", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["api-key"] {
		return nil, errors.New("api-key: not accepted as a flag, since a command line is visible to every process on the machine; set INPUT_API_KEY in the environment instead")
	}
	raw := make(map[string]string, len(inputs))
	for _, in := range inputs {
		v := envInput(getenv, in.name)
		if set[in.name] {
			v = strings.TrimSpace(*flags[in.name])
		}
		raw[in.name] = firstNonEmpty(v, in.def)
	}
	return raw, nil
}

// envInput reads INPUT_<NAME>. Runners keep the hyphens of an input's name
// (INPUT_API-KEY), which a shell cannot export, so the underscore spelling
// is accepted too.
func envInput(getenv func(string) string, name string) string {
	upper := strings.ToUpper(name)
	if v := getenv("INPUT_" + upper); v != "" {
		return strings.TrimSpace(v)
	}
	return strings.TrimSpace(getenv("INPUT_" + strings.ReplaceAll(upper, "-", "_")))
}
