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

// TestActionStepIsOneLine: the composite step runs the shipped script in
// one line (a runner echoes the step's script into the job log), and hands
// it the job token through the environment only.
func TestActionStepIsOneLine(t *testing.T) {
	var doc struct {
		Runs struct {
			Using string
			Steps []struct {
				Run string
				Env map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(actionYAML, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Runs.Using != "composite" || len(doc.Runs.Steps) != 1 {
		t.Fatalf("runs: using %q with %d steps, want one composite step", doc.Runs.Using, len(doc.Runs.Steps))
	}
	step := doc.Runs.Steps[0]
	if want := `bash "$BPI_ACTION_PATH/scripts/action.sh"`; strings.TrimSpace(step.Run) != want {
		t.Errorf("run: is %q, want %q", step.Run, want)
	}
	if step.Env["BPI_TOKEN"] != "${{ github.token }}" || step.Env["BPI_ACTION_PATH"] != "${{ github.action_path }}" {
		t.Errorf("env: lacks BPI_TOKEN or BPI_ACTION_PATH from the github context")
	}
}
