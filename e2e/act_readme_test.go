package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// TestActReadmeCommand runs the README's act command, as written but for
// the buildkitd's address, in a throwaway repository holding the README's
// first workflow (changed only where a test must: the registry, the
// user, plain HTTP) with a checkout of the action beside it, where the
// README says to put one. The tag push it simulates publishes v1.0.0.
func TestActReadmeCommand(t *testing.T) {
	r := newActRig(t)
	rr := requireRig(t)
	prefix, _ := unique(t)
	base := t.TempDir()
	// The action, at its own path, as a checkout of this repository.
	if out, err := exec.Command("git", "clone", "-q", r.src, filepath.Join(base, "build-push-image")).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v: %s", err, out)
	}
	wf := readmeUsageWorkflow(t, rr, prefix)
	app := filepath.Join(base, "app")
	if err := os.Rename(testcheck.WriteTree(t, map[string]string{
		".forgejo/workflows/image.yml": wf,
		"Dockerfile":                   "FROM scratch\nCOPY hello.txt /hello.txt\n",
		"hello.txt":                    "hello from the README's act command\n",
		".gitignore":                   ".secrets\n",
	}), app); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app, ".secrets"), []byte("REGISTRY_API_KEY="+r.key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	forgeGit(t, app, nil, "init", "-q", "-b", "main")
	forgeCommit(t, app, "README", "app\n")

	command := strings.Replace(readmeActCommand(t), "unix:///tmp/buildkitd.sock", r.buildkit, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", command)
	cmd.Dir = app
	cmd.Env = append(actProcessEnv(), "PATH="+filepath.Dir(r.act)+":"+os.Getenv("PATH"),
		"XDG_CACHE_HOME="+filepath.Join(base, "cache"), // act's caches, not the user's
		"GOCACHE="+goEnv(t, "GOCACHE"))                 // the build of the action stays warm
	out, err := cmd.CombinedOutput()
	text := string(out)
	if strings.Contains(text, r.key) {
		t.Errorf("the API key appears unmasked in act's output")
	}
	wantJobs(t, text, 1, 0)
	if err != nil {
		t.Fatalf("the README's act command: %v\n%s", err, text)
	}
	if d, code := rr.headDigest(t, prefix+"/app", "v1.0.0"); code != http.StatusOK {
		t.Errorf("%s/app:v1.0.0: HEAD %d %s, want it published", prefix, code, d)
	}
}

// readmeActCommand is the README's act command.
func readmeActCommand(t *testing.T) string {
	t.Helper()
	return readmeBlock(t, "sh", "act push")
}

// readmeUsageWorkflow is the README's first workflow (Usage), changed only
// where a test must: the registry, the user and plain HTTP.
func readmeUsageWorkflow(t *testing.T, r rig, prefix string) string {
	t.Helper()
	return editReadme(t, readmeBlocks(t, "yaml")[0], readmeCredentials(r, prefix, 1)...)
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}
