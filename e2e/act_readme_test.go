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
	app := actRepo(t, r, map[string]string{
		".forgejo/workflows/image.yml": readmeUsageWorkflow(t, rr, prefix),
		"Dockerfile":                   "FROM scratch\nCOPY hello.txt /hello.txt\n",
		"hello.txt":                    "hello from the README's act command\n",
	})
	runActCommand(t, r, app, strings.Replace(readmeActCommand(t), "unix:///tmp/buildkitd.sock", r.buildkit, 1), nil)
	if d, code := rr.headDigest(t, prefix+"/app", "v1.0.0"); code != http.StatusOK {
		t.Errorf("%s/app:v1.0.0: HEAD %d %s, want it published", prefix, code, d)
	}
}

// TestActUsageNixRecipe runs docs/usage.md's nix recipe (changed only
// where a test must: the registry, plain HTTP) with act on a host whose
// nix-build writes the archive buildLayeredImage would: the version is
// read from the context's default.nix, v1.2.0-nix and <sha>-nix name the
// image, and no buildkitd is there.
func TestActUsageNixRecipe(t *testing.T) {
	r := newActRig(t)
	rr := requireRig(t)
	prefix, _ := unique(t)
	wf := editReadme(t, docBlock(t, "docs/usage.md", "yaml", "nix-image.yml"), readmeCredentials(rr, prefix, 0)[0],
		readmeEdit{"api-key: ${{ secrets.REGISTRY_API_KEY }}\n", "api-key: ${{ secrets.REGISTRY_API_KEY }}\n          registry-tls: disabled\n", 1})
	app := actRepo(t, r, map[string]string{
		".forgejo/workflows/nix-image.yml": wf,
		"containers/app/default.nix":       "{ pkgs ? import <nixpkgs> { } }:\nlet\n  version = \"1.2.0\";\nin\npkgs.dockerTools.buildLayeredImage { name = \"team/app\"; tag = version; }\n",
	})
	nixBuild := fakeNixBuild(t, []string{"app"})
	event := filepath.Join(t.TempDir(), "push.json")
	writeBytes(t, event, []byte(`{"ref": "refs/heads/main"}`))
	out := runActCommand(t, r, app, `act push -e "$1" -W .forgejo/workflows/nix-image.yml -P nix=-self-hosted --secret-file .secrets \
		--var REGISTRY_USER="$2" --local-repository "blumeops/build-push-image@v2=$PWD/../build-push-image" \
		--action-offline-mode --env BUILD_PUSH_IMAGE_DOWNLOAD=false --env BUILDKIT_HOST=unix:///nonexistent/buildkitd.sock`,
		[]string{event, rr.user}, "PATH="+nixBuild+":"+filepath.Dir(r.act)+":"+os.Getenv("PATH"))
	sha := forgeGit(t, app, nil, "rev-parse", "HEAD")
	v, code := rr.headDigest(t, prefix+"/app", "v1.2.0-nix")
	s, scode := rr.headDigest(t, prefix+"/app", sha+"-nix")
	if code != http.StatusOK || scode != http.StatusOK || v != s {
		t.Errorf("v1.2.0-nix is %d %s, %s-nix is %d %s: want both, one digest", code, v, sha, scode, s)
	}
	if !strings.Contains(out, "version v1.2.0 read from containers/app/default.nix:3") {
		t.Errorf("the leg does not say where it read the version; output:\n%s", out)
	}
}

// TestActReadmeArchiveSteps runs the README's archive steps (changed only
// where a test must: the registry, the user, plain HTTP) as the job of a
// workflow on a nix host: v1.2.0-nix is published from the result.
func TestActReadmeArchiveSteps(t *testing.T) {
	r := newActRig(t)
	rr := requireRig(t)
	prefix, _ := unique(t)
	steps := editReadme(t, readmeBlock(t, "yaml", "archive: result\n          image: registry.example/team/app"), readmeCredentials(rr, prefix, 1)...)
	app := actRepo(t, r, map[string]string{
		".forgejo/workflows/image.yml": "on: push\njobs:\n  image:\n    runs-on: nix\n    steps:\n" + steps,
	})
	runActCommand(t, r, app, `act push -W .forgejo/workflows/image.yml -P nix=-self-hosted --secret-file .secrets \
		--local-repository "blumeops/build-push-image@v2=$PWD/../build-push-image" \
		--action-offline-mode --env BUILD_PUSH_IMAGE_DOWNLOAD=false --env BUILDKIT_HOST=unix:///nonexistent/buildkitd.sock`,
		nil, "PATH="+fakeNixBuild(t, []string{"image"})+":"+filepath.Dir(r.act)+":"+os.Getenv("PATH"))
	if d, code := rr.headDigest(t, prefix+"/app", "v1.2.0-nix"); code != http.StatusOK {
		t.Errorf("%s/app:v1.2.0-nix: HEAD %d %s, want it published", prefix, code, d)
	}
}

// actRepo is a throwaway repository with files, its key in .secrets (as
// the README says), and a checkout of the action beside it, at
// ../build-push-image.
func actRepo(t *testing.T, r actRig, files map[string]string) string {
	t.Helper()
	base := t.TempDir()
	if out, err := exec.Command("git", "clone", "-q", r.src, filepath.Join(base, "build-push-image")).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v: %s", err, out)
	}
	files[".gitignore"] = ".secrets\n"
	app := filepath.Join(base, "app")
	if err := os.Rename(testcheck.WriteTree(t, files), app); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app, ".secrets"), []byte("REGISTRY_API_KEY="+r.key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	forgeGit(t, app, nil, "init", "-q", "-b", "main")
	forgeCommit(t, app, "README", "app\n")
	return app
}

// runActCommand runs command (bash, with args as $1…) in the repository
// app, with act on PATH and env added, and wants one job that succeeded.
// It returns act's output.
func runActCommand(t *testing.T, r actRig, app, command string, args []string, env ...string) string {
	t.Helper()
	return runActJobs(t, r, app, 1, command, args, env...)
}

// runActJobs is runActCommand for a workflow of jobs jobs.
func runActJobs(t *testing.T, r actRig, app string, jobs int, command string, args []string, env ...string) string {
	t.Helper()
	text, err := runActOutcome(t, r, app, jobs, 0, command, args, env...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", command, err, text)
	}
	return text
}

// runActOutcome is runActJobs for a workflow where failed jobs fail (act
// then exits non-zero: its error is returned, with act's output).
func runActOutcome(t *testing.T, r actRig, app string, succeeded, failed int, command string, args []string, env ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{"-euo", "pipefail", "-c", command, "bash"}, args...)...)
	cmd.Dir = app
	cmd.Env = append(append(actProcessEnv(), "PATH="+filepath.Dir(r.act)+":"+os.Getenv("PATH"),
		"XDG_CACHE_HOME="+filepath.Join(t.TempDir(), "cache"), // act's caches, not the user's
		"GOCACHE="+goEnv(t, "GOCACHE")),                       // the build of the action stays warm
		env...)
	out, err := cmd.CombinedOutput()
	text := string(out)
	if strings.Contains(text, r.key) {
		t.Errorf("the API key appears unmasked in act's output")
	}
	wantJobs(t, text, succeeded, failed)
	return text, err
}

// readmeActCommand is the act command docs/usage.md gives for the
// README's workflow.
func readmeActCommand(t *testing.T) string {
	t.Helper()
	return docBlock(t, "docs/usage.md", "sh", "act push")
}

// readmeUsageWorkflow is the README's first workflow (Usage), changed only
// where a test must: the registry, the user and plain HTTP.
func readmeUsageWorkflow(t *testing.T, r rig, prefix string) string {
	t.Helper()
	return editReadme(t, readmeBlock(t, "yaml", readmeTagPush), readmeCredentials(r, prefix, 1)...)
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}
