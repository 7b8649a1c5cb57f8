package e2e

// The real-forge end-to-end test: a Gitea server and an act-based runner
// (Gitea's, or Forgejo's when FORGEJO_RUNNER names its binary), both built
// into .tools by make tools (tools/forge/build.sh). The forge serves the
// action as blumeops/build-push-image@v2 (a tag and a release with the
// binaries, as the release workflow makes them) and a minimal
// actions/checkout; an application repository runs the README's matrix
// workflow on a runner without Go, so the action takes its release binary.
//
//	make tools && .tools/bin/rig -tools .tools/bin -- go test -count=1 -run Forge -v ./e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/blumeops/build-push-image/internal/testrig"
)

// forgeLabel is the runner's own label: jobs of other repositories (and of
// the action's repository) never land on it.
const forgeLabel = "bpi-e2e"

// forgeRunner is one act-based runner binary the test drives.
type forgeRunner struct{ name, bin string }

// TestForge runs the README's matrix workflow on a real forge, twice: the
// first push builds and pushes both images, the second is refused in both
// legs because the version tag exists. With FORGEJO_RUNNER set it runs again
// with Forgejo's runner v12, built by hand outside this repository (its
// protocol module is not on the Go module proxy; Gitea's equivalent stands
// in, so it is Forgejo's runner and act with Gitea's protocol package).
func TestForge(t *testing.T) {
	r := requireRig(t)
	act := newActRig(t) // for its snapshot of this repository
	tools := os.Getenv(testrig.EnvTools)
	runners := []forgeRunner{{"gitea-runner", filepath.Join(tools, "gitea-runner")}}
	if bin := os.Getenv("FORGEJO_RUNNER"); bin != "" {
		runners = append(runners, forgeRunner{"forgejo-runner", bin})
	}
	dist := forgeDist(t, act.src)
	for _, runner := range runners {
		t.Run(runner.name, func(t *testing.T) {
			start := time.Now()
			f := startForge(t, tools)
			f.startRunner(t, runner, r.buildkit)
			f.publishAction(t, act.src, dist)
			f.publishCheckout(t)
			forgeScenario(t, f, r)
			t.Logf("%s: forge, runner, two runs: %s", runner.name, time.Since(start).Round(100*time.Millisecond))
		})
	}
}

// forgeScenario pushes tag v1.0.0 of an application repository twice.
func forgeScenario(t *testing.T, f *forge, r rig) {
	prefix := randomName("forge/team")
	app := f.createRepo(t, "", "app", true)
	f.api(t, http.MethodPut, "/repos/"+app+"/actions/secrets/REGISTRY_API_KEY", map[string]string{"data": r.key}, nil)
	dir := forgeAppTree(t, readmeWorkflow(t, r, prefix))

	sha := f.pushTag(t, dir, app, "v1.0.0")
	jobs := f.waitRun(t, app, sha)
	logs := f.jobLogs(t, app, jobs, r.key)
	wantConclusions(t, jobs, "success", logs)
	wantReleaseBinary(t, logs)
	for _, log := range logs {
		// The runner echoes the step's script and renders no summary.
		wantOneLineStep(t, log)
		if !strings.Contains(log, "summary: digest sha256:") {
			t.Errorf("a leg's log lacks the summary as plain lines:\n%s", log)
		}
	}
	digests := map[string]string{}
	for _, name := range []string{"api", "web"} {
		image := prefix + "/" + name
		v, code := r.headDigest(t, image, "v1.0.0")
		s, scode := r.headDigest(t, image, sha)
		if code != http.StatusOK || scode != http.StatusOK || v != s {
			t.Fatalf("%s: v1.0.0 is %d %s, %s is %d %s: want both, one digest", image, code, v, sha, scode, s)
		}
		digests[image] = v
	}

	// The same version again, from a new commit: both legs are refused.
	forgeCommit(t, dir, "again.txt", "a second commit\n")
	sha2 := f.pushTag(t, dir, app, "v1.0.0")
	jobs = f.waitRun(t, app, sha2)
	logs = f.jobLogs(t, app, jobs, r.key)
	wantConclusions(t, jobs, "failure", logs)
	for _, log := range logs {
		if !strings.Contains(log, "already exists") {
			t.Errorf("a refused leg does not say the version tag already exists:\n%s", log)
		}
	}
	for image, want := range digests {
		if got, _ := r.headDigest(t, image, "v1.0.0"); got != want {
			t.Errorf("%s:v1.0.0 moved from %s to %s", image, want, got)
		}
	}
	f.wantNoKeyInLogs(t, r.key)
}

// wantReleaseBinary checks that the legs ran the release binary: one
// downloaded it, the other took it from the shared tool cache (or
// downloaded it too); none built one (the runner has no Go).
func wantReleaseBinary(t *testing.T, logs []string) {
	t.Helper()
	downloaded := 0
	for i, log := range logs {
		lines := binarySources(log)
		joined := strings.Join(lines, "\n")
		if strings.Contains(joined, "binary: downloaded ") {
			downloaded++
		}
		if len(lines) == 0 || strings.Contains(joined, "built from source") {
			t.Errorf("leg %d did not run the release binary; binary lines: %q", i, lines)
		}
	}
	if downloaded == 0 {
		t.Errorf("no leg downloaded the release binary")
	}
}

func wantConclusions(t *testing.T, jobs []forgeJob, want string, logs []string) {
	t.Helper()
	if len(jobs) != 2 {
		t.Fatalf("%d jobs, want the 2 matrix legs", len(jobs))
	}
	for i, j := range jobs {
		if j.Conclusion != want {
			t.Fatalf("job %q: %s, want %s; log:\n%s", j.Name, j.Conclusion, want, logs[i])
		}
	}
}

// readmeWorkflow is the README's usage workflow with the matrix of its
// second example, changed only where the issue allows: runs-on, the
// registry and the credentials. A README that no longer fits fails here.
func readmeWorkflow(t *testing.T, r rig, prefix string) string {
	t.Helper()
	head := readmeBlock(t, "yaml", readmeTagPush)
	matrix := docBlock(t, "docs/usage.md", "yaml", "- { name: api, context: services/api }")
	runsOn := regexp.MustCompile(`(?m)^    runs-on: .*\n`)
	loc := runsOn.FindStringIndex(head)
	if loc == nil || matrix == "" {
		t.Fatalf("README.md: no usage workflow with runs-on, or no matrix example")
	}
	wf := head[:loc[0]] + "    runs-on: " + forgeLabel + "\n" + matrix
	return editReadme(t, wf, readmeCredentials(r, prefix, 1)...)
}

// forgeAppTree is the application: the workflow and one image per leg.
func forgeAppTree(t *testing.T, workflow string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{".forgejo/workflows/image.yml": workflow}
	for _, name := range []string{"api", "web"} {
		files["services/"+name+"/Dockerfile"] = "FROM scratch\nCOPY hello.txt /hello.txt\n"
		files["services/"+name+"/hello.txt"] = "hello from " + name + "\n"
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	forgeGit(t, dir, nil, "init", "-q", "-b", "main")
	forgeCommit(t, dir, "README", "app\n")
	return dir
}

// forgeCommit writes a file and commits everything.
func forgeCommit(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	forgeGit(t, dir, nil, "add", "-A")
	forgeGit(t, dir, nil, "-c", "user.name=forge test", "-c", "user.email=forge@test.invalid",
		"-c", "commit.gpgsign=false", "commit", "-q", "--no-verify", "-m", "forge test: "+name)
}

func forgeGit(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// forgeDist builds the release assets from a clone of the snapshot with
// the release recipe (make dist), for this machine's platform only: the
// binaries name the snapshot's commit, as the action checks.
func forgeDist(t *testing.T, src string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "src")
	forgeGit(t, src, nil, "clone", "-q", src, dir)
	dist := exec.Command("make", "dist", "VERSION=v2", "DIST_PLATFORMS="+runtime.GOOS+"/"+runtime.GOARCH)
	dist.Dir = dir
	if out, err := dist.CombinedOutput(); err != nil {
		t.Fatalf("make dist: %v\n%s", err, out)
	}
	return filepath.Join(dir, "dist")
}

// forge is a running Gitea with an admin user and its API token.
type forge struct {
	url, dir, gitea, config string
	user, token             string
}

func startForge(t *testing.T, tools string) *forge {
	t.Helper()
	port, err := testrig.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(os.Getenv(testrig.EnvRigDir), "forge-")
	if err != nil {
		t.Fatal(err)
	}
	f := &forge{url: fmt.Sprintf("http://127.0.0.1:%d/", port), dir: dir, gitea: filepath.Join(tools, "gitea"),
		config: filepath.Join(dir, "app.ini"), user: "bpi"}
	static := filepath.Join(tools, "..", "share", "gitea")
	if err := os.WriteFile(f.config, []byte(forgeAppIni(dir, static, f.url, port)), 0o600); err != nil {
		t.Fatal(err)
	}
	f.run(t, "migrate")
	out := f.run(t, "admin", "user", "create", "--admin", "--username", f.user, "--email", "bpi@test.invalid",
		"--random-password", "--must-change-password=false", "--access-token")
	m := regexp.MustCompile(`Access token was successfully created\.\.\. (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("gitea admin user create printed no access token:\n%s", out)
	}
	f.token = m[1]
	forgeSpawn(t, filepath.Join(dir, "gitea.log"), f.env(), f.gitea, "web", "-c", f.config)
	forgeWait(t, "gitea web", filepath.Join(dir, "gitea.log"), func() error {
		resp, err := http.Get(f.url + "api/v1/version")
		if err == nil {
			_ = resp.Body.Close()
		}
		return err
	})
	return f
}

func forgeAppIni(dir, static, url string, port int) string {
	return fmt.Sprintf(`APP_NAME = bpi-e2e
RUN_MODE = prod
WORK_PATH = %[1]s
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[4]d
ROOT_URL = %[3]s
DISABLE_SSH = true
OFFLINE_MODE = true
LFS_START_SERVER = false
STATIC_ROOT_PATH = %[2]s
APP_DATA_PATH = %[1]s/data

[database]
DB_TYPE = sqlite3
PATH = %[1]s/data/gitea.db

[repository]
ROOT = %[1]s/repos

[security]
INSTALL_LOCK = true
SECRET_KEY = forge-e2e-not-a-secret

[service]
DISABLE_REGISTRATION = true

[log]
MODE = console
LEVEL = warn
ROOT_PATH = %[1]s/log

[actions]
ENABLED = true
DEFAULT_ACTIONS_URL = self
WORKFLOW_DIRS = .forgejo/workflows
`, dir, static, url, port)
}

// env is the environment of every gitea command: its own HOME, nothing of
// a runner this test may itself run under.
func (f *forge) env() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + f.dir, "GITEA_WORK_DIR=" + f.dir}
}

// run runs a gitea subcommand against the forge's config.
func (f *forge) run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(f.gitea, append(args, "-c", f.config)...)
	cmd.Env = f.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gitea %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// forgeSpawn starts a long-running process, stopped (by PID) at cleanup.
func forgeSpawn(t *testing.T, logPath string, env []string, bin string, args ...string) {
	t.Helper()
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = filepath.Dir(logPath)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	// Killed with the test process too (a test timeout skips cleanups).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v (run make tools)", bin, err)
	}
	t.Cleanup(func() { testrig.StopProcess(cmd); _ = log.Close() })
}

// forgeWait polls ready until it succeeds, for at most a minute (a start
// that hangs, not a timing assertion).
func forgeWait(t *testing.T, what, logPath string, ready func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		err := ready()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			log, _ := os.ReadFile(logPath)
			t.Fatalf("%s did not come up: %v\n%s", what, err, log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// startRunner registers an act-based runner in host mode with the test's
// own label and starts it with a controlled environment: no Go on PATH, so
// the action must take its release binary; BUILDKIT_HOST from the runner's
// configuration, as an admin would set it for a host runner.
func (f *forge) startRunner(t *testing.T, runner forgeRunner, buildkit string) {
	t.Helper()
	const path = "/usr/sbin:/usr/bin:/sbin:/bin"
	if goBin, err := lookPathIn("go", path); err == nil {
		t.Fatalf("the runner's PATH %s has Go (%s): it must not, to test the release binary", path, goBin)
	}
	f.startHostRunner(t, runner, forgeLabel, path, map[string]string{"BUILDKIT_HOST": buildkit})
}

// startHostRunner registers runner in host mode with label and starts it
// with PATH and HOME alone in its environment; envs go into its config,
// for every job (as an admin sets them).
func (f *forge) startHostRunner(t *testing.T, runner forgeRunner, label, path string, envs map[string]string) {
	t.Helper()
	dir := filepath.Join(f.dir, runner.name)
	if err := os.MkdirAll(filepath.Join(dir, "home"), 0o755); err != nil {
		t.Fatal(err)
	}
	var envLines strings.Builder
	for k, v := range envs {
		fmt.Fprintf(&envLines, "    %s: %q\n", k, v)
	}
	config := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf(`log:
  level: info
runner:
  file: %[1]s/.runner
  capacity: 2
  envs:
%[2]s  fetch_interval: 1s
  fetch_interval_max: 1s
  log_report_interval: 1s
  log_report_max_latency: 500ms
  state_report_interval: 1s
  labels: ["%[3]s:host"]
cache:
  enabled: false
host:
  workdir_parent: %[1]s/work
`, dir, envLines.String(), label)
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + path, "HOME=" + filepath.Join(dir, "home")}
	// The token is the last line; gitea may log before it.
	out := strings.Fields(f.run(t, "actions", "generate-runner-token"))
	if len(out) == 0 {
		t.Fatal("gitea actions generate-runner-token printed nothing")
	}
	token := out[len(out)-1]
	reg := exec.Command(runner.bin, "register", "--no-interactive", "--instance", f.url, "--token", token,
		"--name", runner.name, "-c", config)
	reg.Dir, reg.Env = dir, env
	if out, err := reg.CombinedOutput(); err != nil {
		t.Fatalf("%s register: %v\n%s", runner.name, err, out)
	}
	forgeSpawn(t, filepath.Join(dir, "runner.log"), env, runner.bin, "daemon", "-c", config)
}

func lookPathIn(name, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil && st.Mode()&0o111 != 0 {
			return filepath.Join(dir, name), nil
		}
	}
	return "", os.ErrNotExist
}

// api calls the forge's API as the admin; out, if not nil, gets the JSON
// answer.
func (f *forge) api(t *testing.T, method, path string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	f.do(t, method, path, body, "application/json", out)
}

func (f *forge) do(t *testing.T, method, path string, body io.Reader, contentType string, out any) {
	t.Helper()
	if err := f.send(method, path, body, contentType, out); err != nil {
		t.Fatal(err)
	}
}

// send is do, with the failure returned: for a request the caller retries.
func (f *forge) send(method, path string, body io.Reader, contentType string, out any) error {
	req, err := http.NewRequest(method, f.url+"api/v1"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "token "+f.token)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s\n%s", method, path, resp.Status, data)
	}
	if out == nil {
		return nil
	}
	if s, ok := out.(*string); ok {
		*s = string(data)
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", method, path, err, data)
	}
	return nil
}

// createRepo creates owner/name (owner "" is the admin, else an
// organisation, created on first use) and returns its full name.
func (f *forge) createRepo(t *testing.T, owner, name string, actions bool) string {
	t.Helper()
	path := "/user/repos"
	if owner != "" {
		f.api(t, http.MethodPost, "/orgs", map[string]any{"username": owner, "visibility": "public"}, nil)
		path = "/orgs/" + owner + "/repos"
	}
	var repo struct {
		FullName string `json:"full_name"`
	}
	f.api(t, http.MethodPost, path, map[string]any{"name": name, "default_branch": "main"}, &repo)
	if !actions {
		// An action's own repository runs no workflows of its own.
		f.api(t, http.MethodPatch, "/repos/"+repo.FullName, map[string]any{"has_actions": false}, nil)
	}
	return repo.FullName
}

// push pushes refspecs of the repository in dir to repo on the forge, with
// the token in git's environment, not on its command line.
func (f *forge) push(t *testing.T, dir, repo string, refspecs ...string) {
	t.Helper()
	auth := "Authorization: token " + f.token
	env := []string{"GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0=" + auth}
	forgeGit(t, dir, env, append([]string{"push", "-q", "-f", f.url + repo + ".git"}, refspecs...)...)
}

// pushTag pushes main and points tag at its head; it returns the commit.
// Gitea takes in a push asynchronously: the tag goes only once the forge
// has main at that commit (before that the repository may count as empty,
// and a tag push to an empty repository starts no workflow).
func (f *forge) pushTag(t *testing.T, dir, repo, tag string) string {
	t.Helper()
	sha := forgeGit(t, dir, nil, "rev-parse", "HEAD")
	f.push(t, dir, repo, "HEAD:refs/heads/main")
	f.waitRef(t, repo, "branches/main", sha)
	f.push(t, dir, repo, "HEAD:refs/tags/"+tag)
	f.waitRef(t, repo, "tags/"+tag, sha)
	return sha
}

// waitRef waits until the forge's API shows ref (branches/NAME or
// tags/NAME) at commit sha.
func (f *forge) waitRef(t *testing.T, repo, ref, sha string) {
	t.Helper()
	var got string
	forgeWait(t, "the push of "+ref, filepath.Join(f.dir, "gitea.log"), func() error {
		var r struct {
			Empty  bool `json:"empty"`
			Commit struct {
				ID  string `json:"id"`
				SHA string `json:"sha"`
			} `json:"commit"`
		}
		if code := f.get(t, "/repos/"+repo+"/"+ref, &r); code != http.StatusOK {
			return fmt.Errorf("GET %s: %d", ref, code)
		}
		got = r.Commit.ID + r.Commit.SHA
		var meta struct {
			Empty bool `json:"empty"`
		}
		f.get(t, "/repos/"+repo, &meta)
		if got != sha || meta.Empty {
			return fmt.Errorf("%s is at %q (repository empty: %v), want %s", ref, got, meta.Empty, sha)
		}
		return nil
	})
}

// get is a GET whose status the caller judges (404 while a push is being
// taken in); the JSON answer goes to out on 200.
func (f *forge) get(t *testing.T, path string, out any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.url+"api/v1"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "token "+f.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

// publishAction serves the snapshot as blumeops/build-push-image: branch
// main, tag v2 and release v2 with the binaries.
func (f *forge) publishAction(t *testing.T, src, dist string) {
	t.Helper()
	repo := f.createRepo(t, "blumeops", "build-push-image", false)
	f.pushTag(t, src, repo, "v2")
	var rel struct {
		ID int64 `json:"id"`
	}
	// Gitea records the pushed tag as a release in the background: a create
	// that collides with it fails (500, UNIQUE constraint); the next one
	// turns the tag into the release.
	forgeWait(t, "the release of v2", filepath.Join(f.dir, "gitea.log"), func() error {
		return f.send(http.MethodPost, "/repos/"+repo+"/releases", strings.NewReader(`{"tag_name":"v2","name":"v2"}`), "application/json", &rel)
	})
	assets, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range assets {
		f.uploadAsset(t, repo, rel.ID, filepath.Join(dist, a.Name()))
	}
}

func (f *forge) uploadAsset(t *testing.T, repo string, release int64, path string) {
	t.Helper()
	var body bytes.Buffer
	form := multipart.NewWriter(&body)
	part, err := form.CreateFormFile("attachment", filepath.Base(path))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = part.Write(data)
	_ = form.Close()
	f.do(t, http.MethodPost, fmt.Sprintf("/repos/%s/releases/%d/assets?name=%s", repo, release, filepath.Base(path)),
		&body, form.FormDataContentType(), nil)
}

// checkoutAction stands in for actions/checkout, which is not reachable
// here: it fetches the workflow's commit with git, the token in git's
// environment.
const checkoutAction = `name: checkout
description: Minimal stand-in for actions/checkout (the e2e test's forge serves it).
runs:
  using: composite
  steps:
    - name: checkout
      shell: bash
      env:
        TOKEN: ${{ github.token }}
        SERVER: ${{ github.server_url }}
        REPO: ${{ github.repository }}
        SHA: ${{ github.sha }}
      run: |
        set -euo pipefail
        export GIT_TERMINAL_PROMPT=0 GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=http.extraHeader
        export GIT_CONFIG_VALUE_0="Authorization: token $TOKEN"
        git init -q .
        git fetch -q --depth=1 "$SERVER/$REPO.git" "$SHA"
        git checkout -q FETCH_HEAD
`

func (f *forge) publishCheckout(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	forgeGit(t, dir, nil, "init", "-q", "-b", "main")
	forgeCommit(t, dir, "action.yml", checkoutAction)
	f.pushTag(t, dir, f.createRepo(t, "actions", "checkout", false), "v4")
}

type forgeJob struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	Conclusion string `json:"conclusion"`
}

// waitRun waits for the run of commit sha to complete and returns its jobs.
// The deadline catches a hung run; it asserts nothing about speed.
func (f *forge) waitRun(t *testing.T, repo, sha string) []forgeJob {
	t.Helper()
	start := time.Now()
	deadline := start.Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		var runs struct {
			Runs []struct {
				ID      int64  `json:"id"`
				HeadSha string `json:"head_sha"`
				Status  string `json:"status"`
			} `json:"workflow_runs"`
		}
		f.api(t, http.MethodGet, "/repos/"+repo+"/actions/runs", nil, &runs)
		for _, run := range runs.Runs {
			if run.HeadSha == sha && run.Status == "completed" {
				var jobs struct {
					Jobs []forgeJob `json:"jobs"`
				}
				f.api(t, http.MethodGet, fmt.Sprintf("/repos/%s/actions/runs/%d/jobs", repo, run.ID), nil, &jobs)
				t.Logf("run of %.12s: completed in %s (since the push)", sha, time.Since(start).Round(100*time.Millisecond))
				return jobs.Jobs
			}
		}
		time.Sleep(time.Second)
	}
	var runs string
	f.api(t, http.MethodGet, "/repos/"+repo+"/actions/runs", nil, &runs)
	t.Fatalf("no completed run for %s after 5 minutes; runs: %s\n%s", sha, runs, f.logs())
	return nil
}

// logs is the tail of every log of the forge and its runners, for a
// failure message.
func (f *forge) logs() string {
	var b strings.Builder
	for _, p := range f.logPaths() {
		data, _ := os.ReadFile(p)
		if len(data) > 8000 {
			data = data[len(data)-8000:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", p, data)
	}
	return b.String()
}

// logPaths are the logs of the server and of the runners.
func (f *forge) logPaths() []string {
	paths, _ := filepath.Glob(filepath.Join(f.dir, "*.log"))
	more, _ := filepath.Glob(filepath.Join(f.dir, "*", "runner.log"))
	return append(paths, more...)
}

// wantNoKeyInLogs checks the server's and the runners' own logs.
func (f *forge) wantNoKeyInLogs(t *testing.T, key string) {
	t.Helper()
	for _, p := range f.logPaths() {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), key) {
			t.Errorf("the API key appears in %s", p)
		}
	}
}

// jobLogs fetches each job's log through the API and checks that the key
// is not in it.
func (f *forge) jobLogs(t *testing.T, repo string, jobs []forgeJob, key string) []string {
	t.Helper()
	logs := make([]string, len(jobs))
	for i, j := range jobs {
		f.api(t, http.MethodGet, fmt.Sprintf("/repos/%s/actions/jobs/%d/logs", repo, j.ID), nil, &logs[i])
		if strings.Contains(logs[i], key) {
			t.Errorf("job %q: the API key appears in its log", j.Name)
		}
	}
	return logs
}
