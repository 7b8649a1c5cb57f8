package main

import (
	_ "embed"
	"errors"
	"fmt"
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
