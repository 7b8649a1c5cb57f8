// Package e2e holds the end-to-end tests: they build the program and run
// it, or act running the action, against the real registry and buildkitd
// that `make test` starts (internal/testrig). The unit tests live beside
// the code they test.
package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testrig"
)

// rigEnv is what the rig sets and these tests read.
var rigEnv = []string{testrig.EnvRegistry, testrig.EnvUser, testrig.EnvKey, testrig.EnvBuildkit, testrig.EnvTools, testrig.EnvRigDir}

// TestMain runs the tests from the repository root (where the program,
// testdata and docs are), and stops with one line when the rig is absent:
// end-to-end tests never skip silently. -short skips them all.
func TestMain(m *testing.M) {
	flag.Parse()
	if err := chdirModuleRoot(); err != nil {
		fmt.Println("e2e:", err)
		os.Exit(1)
	}
	if !testing.Short() {
		var missing []string
		for _, name := range rigEnv {
			if os.Getenv(name) == "" {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			fmt.Printf("e2e: needs the registry and buildkitd of the test rig (%s not set): run `make test`, or `go test -short ./...` for the unit tests alone\n", strings.Join(missing, ", "))
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

// chdirModuleRoot makes the module's root the working directory.
func chdirModuleRoot() error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return fmt.Errorf("go env GOMOD: not inside the module")
	}
	return os.Chdir(filepath.Dir(mod))
}
