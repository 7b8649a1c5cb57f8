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

// planActionYAML is the plan action's metadata (uses:
// blumeops/build-push-image/plan@v2), the one description of the plan
// command's inputs.
//
//go:embed plan/action.yml
var planActionYAML []byte

// inputs and planInputs are the inputs of action.yml and plan/action.yml,
// in their order. A broken one is a build error, caught by every test of
// this package.
var (
	inputs     = config.MustInputs(actionYAML)
	planInputs = config.MustInputs(planActionYAML)
)
