package main

import (
	_ "embed"

	"github.com/blumeops/build-push-image/internal/config"
)

// actionYAML is the action's metadata, the one description of the inputs:
// its inputs are the program's flags, their defaults the program's defaults
// and their descriptions its --help. It stays at the repository root, where
// runners read it; internal/config parses it.
//
//go:embed action.yml
var actionYAML []byte

// inputs are action.yml's inputs, in its order. A broken action.yml is a
// build error, caught by every test of this package.
var inputs = config.MustInputs(actionYAML)
