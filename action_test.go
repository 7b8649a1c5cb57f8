package main

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestActionDescriptionsHaveNoExpressions: runners evaluate action.yml's
// metadata and act refuses a ${{ }} in a description ("expressions are
// not allowed here"), failing every use of the action.
func TestActionDescriptionsHaveNoExpressions(t *testing.T) {
	for _, in := range inputs {
		if strings.Contains(in.Description, "${{") {
			t.Errorf("input %s: its description holds an expression; write it without ${{ }}", in.Name)
		}
	}
}

// TestActionStepIsOneLine: each action's composite step runs the shipped
// script in one line (a runner echoes the step's script into the job log),
// and hands it the job token through the environment only. The plan action
// runs the same script, one directory up, as `build-push-image plan`. The
// step's shell execs it (as the script execs the program): no process is
// left behind whose environment holds the key.
func TestActionStepIsOneLine(t *testing.T) {
	for _, a := range []struct {
		yaml      []byte
		run, path string
	}{
		{actionYAML, `exec bash "$BPI_ACTION_PATH/scripts/action.sh"`, "${{ github.action_path }}"},
		{planActionYAML, `exec bash "$BPI_ACTION_PATH/scripts/action.sh" plan`, "${{ github.action_path }}/.."},
	} {
		var doc struct {
			Runs struct {
				Using string
				Steps []struct {
					Run string
					Env map[string]string
				}
			}
		}
		if err := yaml.Unmarshal(a.yaml, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Runs.Using != "composite" || len(doc.Runs.Steps) != 1 {
			t.Fatalf("runs: using %q with %d steps, want one composite step", doc.Runs.Using, len(doc.Runs.Steps))
		}
		step := doc.Runs.Steps[0]
		if strings.TrimSpace(step.Run) != a.run {
			t.Errorf("run: is %q, want %q", step.Run, a.run)
		}
		if step.Env["BPI_TOKEN"] != "${{ github.token }}" || step.Env["BPI_ACTION_PATH"] != a.path {
			t.Errorf("%s: env lacks BPI_TOKEN or BPI_ACTION_PATH %s from the github context", a.run, a.path)
		}
	}
}
