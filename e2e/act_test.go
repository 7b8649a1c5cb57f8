package e2e

// Integration tests that run the action the way a runner does: act (host
// mode, no Docker) runs the workflows in testdata/act/workflows against the
// rig's registry and buildkitd. Run them with
//
//	make tools && .tools/bin/rig -tools .tools/bin -- go test -count=1 -run Act -v ./e2e

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// actRig is what every act test needs: the rig's services, act itself, a
// snapshot of this repository, and a per-run action and tool cache.
type actRig struct {
	act      string // the act binary
	registry string // host:port
	user     string
	key      string
	buildkit string
	src      string // snapshot of the repository: act's workdir and the @v2 checkout
	cache    string // act's --action-cache-path; its tool_cache is RUNNER_TOOL_CACHE
}

var (
	actOnce  sync.Once
	actSetup actRig
	actErr   error
)

func newActRig(t *testing.T) actRig {
	t.Helper()
	if testing.Short() {
		t.Skip("act integration test: skipped with -short")
	}
	actOnce.Do(func() { actSetup, actErr = setupAct(os.Getenv("BPI_TEST_REGISTRY")) })
	if actErr != nil {
		t.Fatal(actErr)
	}
	return actSetup
}

func setupAct(registry string) (actRig, error) {
	tools, rigDir := os.Getenv("BPI_TEST_TOOLS"), os.Getenv("BPI_TEST_RIG_DIR")
	r := actRig{
		act:      filepath.Join(tools, "act"),
		registry: registry,
		user:     os.Getenv("BPI_TEST_USER"),
		key:      os.Getenv("BPI_TEST_KEY"),
		buildkit: os.Getenv("BUILDKIT_HOST"),
	}
	if _, err := os.Stat(r.act); err != nil {
		return r, fmt.Errorf("act not found in %s: run make tools (%v)", tools, err)
	}
	// Everything lives in the rig's directory, which the rig removes: the
	// first action use of a test run builds the binary (cold), later uses
	// must find it in the tool cache.
	base, err := os.MkdirTemp(rigDir, "act-")
	if err != nil {
		return r, err
	}
	r.src, r.cache = filepath.Join(base, "src"), filepath.Join(base, "cache")
	if err := os.MkdirAll(r.cache, 0o755); err != nil {
		return r, err
	}
	return r, snapshotRepo(r.src)
}

// snapshotRepo copies the working tree (tracked and untracked files, not
// ignored ones) into dir and commits it there. act needs a git repository
// (for github.sha), and a snapshot keeps .tools out of the @v2 copy and
// freezes the files while other work goes on in the checkout.
//
// BPI_ACT_SNAPSHOT=HEAD snapshots the last commit instead of the working
// tree, to test the action while unrelated work in progress does not build.
func snapshotRepo(dir string) error {
	if os.Getenv("BPI_ACT_SNAPSHOT") == "HEAD" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		archive := exec.Command("sh", "-c", `git archive --format=tar HEAD | tar -x -C "$1"`, "sh", dir)
		if out, err := archive.CombinedOutput(); err != nil {
			return fmt.Errorf("git archive HEAD: %v: %s", err, out)
		}
		return commitSnapshot(dir)
	}
	out, err := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return fmt.Errorf("git ls-files: %w", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		st, err := os.Lstat(name)
		if err != nil || !st.Mode().IsRegular() {
			continue // deleted in the working tree, or not a file
		}
		data, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, st.Mode().Perm()); err != nil {
			return err
		}
	}
	return commitSnapshot(dir)
}

func commitSnapshot(dir string) error {
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "-A"},
		{"-c", "user.name=act test", "-c", "user.email=act@test.invalid", "-c", "commit.gpgsign=false",
			"commit", "-q", "--no-verify", "-m", "act test snapshot"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s in %s: %v: %s", args[0], dir, err, out)
		}
	}
	return nil
}

// actRun is one act invocation.
type actRun struct {
	workflow string            // file under testdata/act/workflows
	env      map[string]string // --env
	args     []string          // more flags
	cache    string            // --action-cache-path, if not the shared one
	secrets  map[string]string // more secrets than API_KEY
}

// run runs act and returns its combined output. act exits 0 when it skips
// a job, so callers check the "Job succeeded"/"Job failed" lines, not err.
func (r actRig) run(t *testing.T, run actRun) (string, error) {
	t.Helper()
	secrets := filepath.Join(t.TempDir(), "secrets")
	lines := "API_KEY=" + r.key + "\n"
	for k, v := range run.secrets {
		lines += k + "=" + v + "\n"
	}
	if err := os.WriteFile(secrets, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"push",
		"-P", "ubuntu-latest=-self-hosted",
		"--no-cache-server",
		"--action-offline-mode",
		"--action-cache-path", cmp.Or(run.cache, r.cache),
		"-W", filepath.Join(r.src, "testdata", "act", "workflows", run.workflow),
		"--secret-file", secrets, // the key is never on a command line
		"--local-repository", "blumeops/build-push-image@v2=" + r.src,
	}
	env := map[string]string{
		"REGISTRY":      r.registry,
		"REGISTRY_USER": r.user,
		"BUILDKIT_HOST": r.buildkit,
	}
	for k, v := range run.env {
		env[k] = v
	}
	for k, v := range env {
		args = append(args, "--env", k+"="+v)
	}
	args = append(args, run.args...)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.act, args...)
	cmd.Dir = r.src
	cmd.Env = actProcessEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	text := out.String()
	t.Logf("act %s: %v, %s; binary: %q", run.workflow, err, time.Since(start).Round(100*time.Millisecond), binarySources(text))
	if strings.Contains(text, r.key) {
		t.Errorf("the API key appears unmasked in act's output")
	}
	return text, err
}

// actProcessEnv is this process's environment without the rig's key (act
// must get it only as a secret) and without the variables of a runner this
// test may itself run under, which would leak into act's host-mode jobs.
func actProcessEnv() []string {
	env := []string{"ACT_DISABLE_VERSION_CHECK=1"}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "BPI_TEST_KEY", name == "ACT_DISABLE_VERSION_CHECK",
			strings.HasPrefix(name, "GITHUB_"), strings.HasPrefix(name, "RUNNER_"),
			strings.HasPrefix(name, "INPUT_"), strings.HasPrefix(name, "ACTIONS_"),
			strings.HasPrefix(name, "FORGEJO_"), strings.HasPrefix(name, "GITEA_"):
			continue
		}
		env = append(env, kv)
	}
	return env
}

// unique names an image path and version per test: the registry is shared.
func unique(t *testing.T) (prefix, version string) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)
	name := regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(t.Name()), "-")
	return "act/" + strings.Trim(name, "-") + "-" + suffix, "v1.0.0-" + suffix
}

// jobResults counts act's "Job succeeded" and "Job failed" lines.
func jobResults(out string) (succeeded, failed int) {
	return strings.Count(out, "Job succeeded"), strings.Count(out, "Job failed")
}

func wantJobs(t *testing.T, out string, succeeded, failed int) {
	t.Helper()
	s, f := jobResults(out)
	if s != succeeded || f != failed {
		t.Fatalf("act: %d jobs succeeded and %d failed, want %d and %d; output:\n%s", s, f, succeeded, failed, out)
	}
}

// binarySources lists how each use of the action got its binary.
var binaryLine = regexp.MustCompile(`build-push-image: binary: (cached|downloaded|built from source|download)[^\n]*`)

func binarySources(out string) []string { return binaryLine.FindAllString(out, -1) }

func wantCachedUse(t *testing.T, out string) {
	t.Helper()
	lines := binarySources(out)
	for _, l := range lines {
		if strings.Contains(l, "binary: cached") {
			return
		}
	}
	t.Errorf("no use of the action took the cached binary; binary lines:\n%s", strings.Join(lines, "\n"))
}

// TestActLocalAction runs `uses: ./` with the key as a secret; a later step
// reads the outputs and checks them against the registry.
func TestActLocalAction(t *testing.T) {
	r := newActRig(t)
	t.Parallel()
	prefix, version := unique(t)
	out, err := r.run(t, actRun{workflow: "single.yml", env: map[string]string{"IMAGE_PREFIX": prefix, "VERSION": version}})
	wantJobs(t, out, 1, 0)
	if err != nil {
		t.Fatalf("act: %v", err)
	}
	if !strings.Contains(out, "outputs verified: "+r.registry+"/"+prefix+"/hello@sha256:") {
		t.Errorf("the check step did not verify the outputs; output:\n%s", out)
	}
}

// TestActMatrixLocal runs two legs with `uses: ./` at once: both push their
// own image, and they share the tool cache without corrupting it.
func TestActMatrixLocal(t *testing.T) {
	testActMatrix(t, "matrix-local.yml", "")
}

// TestActMatrixRemote is the matrix with `uses: blumeops/build-push-image@v2`,
// resolved to this repository by --local-repository. It starts with a tool
// cache of its own, cold: a remote action first tries its release asset
// (github.com here, offline or not found: it must fall through), then one
// leg builds and the other must wait for it and take its binary.
func TestActMatrixRemote(t *testing.T) {
	out := testActMatrix(t, "matrix-remote.yml", t.TempDir())
	if !regexp.MustCompile(`binary: download of \S+/blumeops/build-push-image/releases/download/v2/build-push-image-linux-\w+-[0-9a-f]{40} failed`).MatchString(out) {
		t.Errorf("no failed release download before building; binary lines:\n%s", strings.Join(binarySources(out), "\n"))
	}
	if n := strings.Count(strings.Join(binarySources(out), "\n"), "binary: built from source with"); n != 1 {
		t.Errorf("%d legs built the binary, want 1; binary lines:\n%s", n, strings.Join(binarySources(out), "\n"))
	}
}

func testActMatrix(t *testing.T, workflow, cache string) string {
	r := newActRig(t)
	t.Parallel()
	prefix, version := unique(t)
	out, err := r.run(t, actRun{workflow: workflow, cache: cache, env: map[string]string{"IMAGE_PREFIX": prefix, "VERSION": version}})
	wantJobs(t, out, 2, 0)
	if err != nil {
		t.Fatalf("act: %v", err)
	}
	for _, name := range []string{"alpha", "beta"} {
		if !strings.Contains(out, "outputs verified: "+r.registry+"/"+prefix+"/"+name+"@sha256:") {
			t.Errorf("leg %s: the check step did not verify the outputs; output:\n%s", name, out)
		}
	}
	// Two legs: at most one builds, the other (or both) use the cache.
	wantCachedUse(t, out)
	return out
}

// TestActReusedVersionFails pushes a version, then runs the same workflow
// with the same version again: the action must fail the job.
func TestActReusedVersionFails(t *testing.T) {
	r := newActRig(t)
	t.Parallel()
	prefix, version := unique(t)
	env := map[string]string{"IMAGE_PREFIX": prefix, "VERSION": version}
	out, err := r.run(t, actRun{workflow: "single.yml", env: env})
	wantJobs(t, out, 1, 0)
	if err != nil {
		t.Fatalf("first run: act: %v", err)
	}
	out, err = r.run(t, actRun{workflow: "single.yml", env: env})
	wantJobs(t, out, 0, 1)
	if err == nil {
		t.Errorf("act exited 0 although the job failed")
	}
	want := fmt.Sprintf("version tag %s already exists in %s/%s/hello", version, r.registry, prefix)
	if !strings.Contains(out, want) {
		t.Errorf("act's output lacks %q; output:\n%s", want, out)
	}
	if strings.Contains(out, "outputs verified") {
		t.Errorf("the step after the failed action ran")
	}
	wantCachedUse(t, out)
}

// TestActKeyMasked runs with act's verbose log, which shows far more (the
// steps' inputs and environment): the key must still never appear. Every
// other test checks the same on its normal output (actRig.run).
func TestActKeyMasked(t *testing.T) {
	r := newActRig(t)
	t.Parallel()
	prefix, version := unique(t)
	out, err := r.run(t, actRun{workflow: "single.yml", env: map[string]string{"IMAGE_PREFIX": prefix, "VERSION": version}, args: []string{"--verbose"}})
	wantJobs(t, out, 1, 0)
	if err != nil {
		t.Fatalf("act: %v", err)
	}
	if !strings.Contains(out, "::add-mask::") && !strings.Contains(out, "***") {
		t.Errorf("neither the action's ::add-mask:: nor act's masking shows in the verbose log")
	}
	wantOneLineStep(t, out)
}

// wantOneLineStep: the composite step's script, as the runner shows it
// (act's verbose log, a forge's job log), is the one line calling the
// shipped script, not the script itself.
func wantOneLineStep(t *testing.T, out string) {
	t.Helper()
	if !strings.Contains(out, `bash "$BPI_ACTION_PATH/scripts/action.sh"`) {
		t.Errorf("the log does not show the step's one-line script")
	}
	if strings.Contains(out, "hash_sources") {
		t.Errorf("the log shows the body of scripts/action.sh: the step's run: is not one line")
	}
}

// TestActExampleWorkflows checks that act can parse and plan every example
// workflow in testdata/workflows.
func TestActExampleWorkflows(t *testing.T) {
	r := newActRig(t)
	t.Parallel()
	for _, event := range []string{"push", "pull_request"} {
		cmd := exec.Command(r.act, event, "--list", "-W", filepath.Join(r.src, "testdata", "workflows"))
		cmd.Dir = r.src
		cmd.Env = actProcessEnv()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("act %s --list: %v\n%s", event, err, out)
		}
		t.Logf("act %s --list:\n%s", event, out)
	}
}
