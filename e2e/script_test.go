package e2e

// Tests of scripts/action.sh, the action's step, run by bash as a runner
// runs it: which binary it runs (the tool cache's, a release asset's, or
// none), where it downloads from, and to whom it sends the job token. The
// "forge" is a local HTTP server on 127.0.0.1 that records what it is asked;
// the binaries are the real program, built with the commit stamped in.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

const otherCommit = "1111111111111111111111111111111111111111"

// stamped is a fake action checkout (a git repository of one commit) and
// the real program built twice: stamped with that commit, and with another.
type stamped struct {
	action, commit string
	own, other     string // binaries
}

var (
	stampedOnce sync.Once
	stampedSet  stamped
	stampedErr  error
)

func stampedBinaries(t *testing.T) stamped {
	t.Helper()
	stampedOnce.Do(func() { stampedSet, stampedErr = makeStamped() })
	if stampedErr != nil {
		t.Fatal(stampedErr)
	}
	return stampedSet
}

func makeStamped() (stamped, error) {
	dir, err := os.MkdirTemp(os.Getenv("BPI_TEST_RIG_DIR"), "script-")
	if err != nil {
		return stamped{}, err
	}
	s := stamped{action: filepath.Join(dir, "action")}
	if err := os.MkdirAll(s.action, 0o755); err != nil {
		return s, err
	}
	if err := os.WriteFile(filepath.Join(s.action, "README.md"), []byte("an action checkout\n"), 0o644); err != nil {
		return s, err
	}
	if err := commitSnapshot(s.action); err != nil {
		return s, err
	}
	out, err := exec.Command("git", "-C", s.action, "rev-parse", "HEAD").Output()
	if err != nil {
		return s, fmt.Errorf("git rev-parse: %w", err)
	}
	s.commit = strings.TrimSpace(string(out))
	s.own, s.other = filepath.Join(dir, "own"), filepath.Join(dir, "other")
	for bin, c := range map[string]string{s.own: s.commit, s.other: otherCommit} {
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-X main.commit="+c, "-o", bin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return s, fmt.Errorf("go build: %w\n%s", err, out)
		}
	}
	return s, nil
}

// scriptRun is one run of scripts/action.sh.
type scriptRun struct {
	env  map[string]string
	noGo bool   // PATH without Go: building from source is impossible
	path string // directories before the usual PATH
	// exactPath, when set, is the whole PATH (a toolset of the test's own).
	exactPath string
	cache     string
}

// platform names the asset and cache directory for this machine.
const platform = runtime.GOOS + "-" + runtime.GOARCH

// systemPath is a PATH without Go (it is in /usr/local/go/bin here).
const systemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// runScript runs the action's script with a clean environment plus env, and
// returns its output and exit code. The inputs are incomplete on purpose:
// when the program runs, it says so (exit 2, "::error::image: required").
func runScript(t *testing.T, s stamped, run scriptRun) (string, int) {
	t.Helper()
	path := os.Getenv("PATH")
	if run.noGo {
		path = systemPath
		for _, dir := range filepath.SplitList(systemPath) {
			if _, err := os.Stat(filepath.Join(dir, "go")); err == nil {
				t.Fatalf("go is in %s: cannot take it away for this test", dir)
			}
		}
	}
	if run.path != "" {
		path = run.path + ":" + path
	}
	if run.exactPath != "" {
		path = run.exactPath
	}
	env := []string{
		"PATH=" + path,
		"HOME=" + os.Getenv("HOME"),
		"RUNNER_TOOL_CACHE=" + run.cache,
		"BPI_ACTION_PATH=" + s.action,
		"INPUT_API-KEY=zak_script_test_key",
	}
	for k, v := range run.env {
		env = append(env, k+"="+v)
	}
	cmd := exec.Command(scriptBash(), "scripts/action.sh")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("bash scripts/action.sh: %v", err)
		}
		code = ee.ExitCode()
	}
	text := string(out)
	t.Logf("scripts/action.sh (exit %d):\n%s", code, text)
	for _, secret := range []string{"zak_script_test_key", "forge-job-token", "remote-password"} {
		if strings.Contains(text, secret) {
			t.Errorf("the script's output shows %q", secret)
		}
	}
	return text, code
}

// scriptBash is the bash the script tests run: BPI_TEST_BASH (e.g. a bash
// 3.2 built by hand, as macOS ships it), else the bash on PATH.
func scriptBash() string {
	if b := os.Getenv("BPI_TEST_BASH"); b != "" {
		return b
	}
	return "bash"
}

// programRan: the program started (it reports the missing inputs).
const programRan = "::error::image: required"

// cacheWith makes a tool cache holding bin as the binary for commit.
func cacheWith(t *testing.T, commit, bin string) string {
	t.Helper()
	cache := t.TempDir()
	dir := filepath.Join(cache, "build-push-image", commit, platform)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "build-push-image"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	return cache
}

// TestScriptVersionPrintsCommit: a binary built with the commit stamped in
// prints it with --version (what the script reads).
func TestScriptVersionPrintsCommit(t *testing.T) {
	requireRig(t)
	s := stampedBinaries(t)
	out, err := exec.Command(s.own, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	if want := " commit " + s.commit + "\n"; !strings.HasPrefix(string(out), "build-push-image ") || !strings.HasSuffix(string(out), want) {
		t.Errorf("--version printed %q, want build-push-image <version>%s", out, want)
	}
}

// TestScriptRunsCachedBinaryOfItsCommit: the tool cache's binary of the
// checkout's commit is run, and gets the inputs.
func TestScriptRunsCachedBinaryOfItsCommit(t *testing.T) {
	requireRig(t)
	s := stampedBinaries(t)
	out, code := runScript(t, s, scriptRun{cache: cacheWith(t, s.commit, s.own), noGo: true,
		env: map[string]string{"INPUT_VERSION": "v1.0.0"}})
	if !strings.Contains(out, "build-push-image: binary: cached ") || !strings.Contains(out, programRan) || code != 2 {
		t.Errorf("the cached binary of the action's commit did not run (exit %d)", code)
	}
	if strings.Contains(out, "::error::version:") {
		t.Errorf("INPUT_VERSION did not reach the program")
	}
}

// TestScriptRefusesCachedBinaryOfAnotherCommit: a binary under the commit's
// cache key that was built from another commit is not run; the log says
// why in one line.
func TestScriptRefusesCachedBinaryOfAnotherCommit(t *testing.T) {
	requireRig(t)
	s := stampedBinaries(t)
	out, code := runScript(t, s, scriptRun{cache: cacheWith(t, s.commit, s.other), noGo: true,
		env: map[string]string{"BUILD_PUSH_IMAGE_DOWNLOAD": "false"}})
	want := fmt.Sprintf("%s: it was built from commit %s, this action is at %s; fetching or building again\n",
		filepath.Join("build-push-image", s.commit, platform, "build-push-image"), otherCommit, s.commit)
	if strings.Count(out, "binary: not running cached ") != 1 || !strings.Contains(out, want) {
		t.Errorf("the log does not say why the cached binary is not run; want a line ending in %q", want)
	}
	if strings.Contains(out, programRan) || code != 1 || !strings.Contains(out, "::error::build-push-image: no cached or released binary") {
		t.Errorf("exit %d: want the other commit's binary refused and the step failed (no Go to build)", code)
	}
}

// releaseServer stands in for a forge's release downloads: an HTTP server
// on 127.0.0.1 that records each request's path and Authorization header.
// It serves files by path; redirects maps a path to a URL to redirect to.
type releaseServer struct {
	*httptest.Server
	mu        sync.Mutex
	files     map[string][]byte
	redirects map[string]string
	seen      []string // "path auth=<Authorization>"
}

func newReleaseServer(t *testing.T) *releaseServer {
	f := &releaseServer{files: map[string][]byte{}, redirects: map[string]string{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen = append(f.seen, r.URL.Path+" auth="+r.Header.Get("Authorization"))
		data, ok := f.files[r.URL.Path]
		to := f.redirects[r.URL.Path]
		f.mu.Unlock()
		switch {
		case to != "":
			http.Redirect(w, r, to, http.StatusFound)
		case ok:
			_, _ = w.Write(data)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// release publishes bin as the linux/amd64 asset of commit under
// <repoPath>/releases/download/<ref>/, with its .sha256.
func (f *releaseServer) release(t *testing.T, repoPath, ref, commit, bin string) string {
	t.Helper()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	name := "build-push-image-" + platform + "-" + commit
	sum := sha256.Sum256(data)
	p := repoPath + "/releases/download/" + ref + "/" + name
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[p] = data
	f.files[p+".sha256"] = []byte(hex.EncodeToString(sum[:]) + "  " + name + "\n")
	return p
}

// wantRequests: the server saw exactly these requests, in this order, each
// "path auth=<Authorization header>".
func (f *releaseServer) wantRequests(t *testing.T, want ...string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := strings.Join(f.seen, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("the server saw\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

// wantRanDownload: the script downloaded url, verified it and ran it.
func wantRanDownload(t *testing.T, out string, code int, url string) {
	t.Helper()
	if !strings.Contains(out, "binary: downloaded "+url+" (sha256 ") || !strings.Contains(out, programRan) || code != 2 {
		t.Errorf("exit %d: %s was not downloaded, verified and run", code, url)
	}
}

// withRemote gives a copy of the stamped action checkout the git remote
// origin url (same commit).
func withRemote(t *testing.T, s stamped, url string) stamped {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "action")
	if out, err := exec.Command("git", "clone", "-q", s.action, dir).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	if out, err := exec.Command("git", "-C", dir, "remote", "set-url", "origin", url).CombinedOutput(); err != nil {
		t.Fatalf("git remote set-url: %v\n%s", err, out)
	}
	s.action = dir
	return s
}

// stepEnv is what a runner gives the step for an action used as
// blumeops/build-push-image@v2 from serverURL, with a job token.
func stepEnv(serverURL string) map[string]string {
	return map[string]string{
		"BPI_SERVER_URL":        serverURL,
		"BPI_ACTION_REPOSITORY": "blumeops/build-push-image",
		"BPI_ACTION_REF":        "v2",
		"BPI_TOKEN":             "forge-job-token",
	}
}

// TestScriptDownloadsFromCheckoutRemote: the asset URL comes from the
// checkout's remote (not server_url + repository), without the remote's
// credentials, and the token goes with it because the host is the forge's.
func TestScriptDownloadsFromCheckoutRemote(t *testing.T) {
	requireRig(t)
	f := newReleaseServer(t)
	s := stampedBinaries(t)
	asset := f.release(t, "/mirror/bpi", "v2", s.commit, s.own)
	s = withRemote(t, s, strings.Replace(f.URL, "http://", "http://ci:remote-password@", 1)+"/mirror/bpi.git")
	out, code := runScript(t, s, scriptRun{cache: t.TempDir(), noGo: true, env: stepEnv(f.URL)})
	wantRanDownload(t, out, code, f.URL+asset)
	f.wantRequests(t, asset+" auth=token forge-job-token", asset+".sha256 auth=token forge-job-token")
}

// TestScriptDownloadBaseFromServerURL: without an http(s) remote, the asset
// comes from github.server_url + github.action_repository.
func TestScriptDownloadBaseFromServerURL(t *testing.T) {
	requireRig(t)
	f := newReleaseServer(t)
	s := stampedBinaries(t)
	asset := f.release(t, "/blumeops/build-push-image", "v2", s.commit, s.own)
	s = withRemote(t, s, "git@forge.invalid:blumeops/build-push-image.git")
	out, code := runScript(t, s, scriptRun{cache: t.TempDir(), noGo: true, env: stepEnv(f.URL)})
	wantRanDownload(t, out, code, f.URL+asset)
}

// TestScriptTokenNotSentToOtherHost: the checkout's remote is another host
// than the token's forge: the asset is fetched without the token.
func TestScriptTokenNotSentToOtherHost(t *testing.T) {
	requireRig(t)
	other := newReleaseServer(t)
	s := stampedBinaries(t)
	asset := other.release(t, "/blumeops/build-push-image", "v2", s.commit, s.own)
	s = withRemote(t, s, other.URL+"/blumeops/build-push-image")
	tokenForge := strings.Replace(other.URL, "127.0.0.1", "localhost", 1) // same port, another host
	out, code := runScript(t, s, scriptRun{cache: t.TempDir(), noGo: true, env: stepEnv(tokenForge)})
	wantRanDownload(t, out, code, other.URL+asset)
	other.wantRequests(t, asset+" auth=", asset+".sha256 auth=")
}

// TestScriptTokenNotFollowingRedirect: the forge redirects the asset to
// another host (as to object storage): the token stays with the forge.
func TestScriptTokenNotFollowingRedirect(t *testing.T) {
	requireRig(t)
	f := newReleaseServer(t)
	s := stampedBinaries(t)
	stored := f.release(t, "/storage", "v2", s.commit, s.own)
	asset := "/blumeops/build-push-image/releases/download/v2/build-push-image-" + platform + "-" + s.commit
	storage := strings.Replace(f.URL, "127.0.0.1", "localhost", 1)
	f.redirects[asset] = storage + stored
	f.redirects[asset+".sha256"] = storage + stored + ".sha256"
	out, code := runScript(t, s, scriptRun{cache: t.TempDir(), noGo: true, env: stepEnv(f.URL)})
	wantRanDownload(t, out, code, f.URL+asset)
	// The token only on the forge's own requests, not on the redirected ones.
	f.wantRequests(t, asset+" auth=token forge-job-token", stored+" auth=",
		asset+".sha256 auth=token forge-job-token", stored+".sha256 auth=")
}

// TestScriptRefusesDownloadOfAnotherCommit: an asset whose sha256 matches
// but whose binary names another commit is discarded, not run.
func TestScriptRefusesDownloadOfAnotherCommit(t *testing.T) {
	requireRig(t)
	f := newReleaseServer(t)
	s := stampedBinaries(t)
	asset := f.release(t, "/blumeops/build-push-image", "v2", s.commit, s.other)
	out, code := runScript(t, s, scriptRun{cache: t.TempDir(), noGo: true, env: stepEnv(f.URL)})
	want := fmt.Sprintf("binary: downloaded %s was built from commit %s, this action is at %s; discarded, building from source", f.URL+asset, otherCommit, s.commit)
	if !strings.Contains(out, want) {
		t.Errorf("the log lacks %q", want)
	}
	if strings.Contains(out, programRan) || code != 1 {
		t.Errorf("exit %d: want the other commit's binary refused and the step failed (no Go to build)", code)
	}
}

// TestScriptKeepsInputsFromChildren: no process the script starts before
// the program (git and curl here, go alike) sees the inputs, the job
// token or the job's ID token request token, and the program sees the
// inputs and the request token but not the job token. git and curl are
// the real ones behind a wrapper that records their environment; the
// program is a stand-in that prints its own (the cache holds it for the
// commit).
func TestScriptKeepsInputsFromChildren(t *testing.T) {
	requireRig(t)
	s := stampedBinaries(t)
	probe := t.TempDir()
	for _, tool := range []string{"git", "curl"} {
		real, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		wrapper := fmt.Sprintf("#!/bin/sh\ntr '\\0' '\\n' < /proc/$$/environ > \"$(mktemp %s/env.%s.XXXXXX)\"\nexec %s \"$@\"\n", probe, tool, real)
		if err := os.WriteFile(filepath.Join(probe, tool), []byte(wrapper), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stub := filepath.Join(t.TempDir(), "stub")
	program := fmt.Sprintf("#!/bin/sh\n[ \"$1\" = --version ] && { echo 'build-push-image test commit %s'; exit 0; }\necho PROGRAM-ENV; tr '\\0' '\\n' < /proc/$$/environ | cut -d= -f1\n", s.commit)
	if err := os.WriteFile(stub, []byte(program), 0o755); err != nil {
		t.Fatal(err)
	}
	f := newReleaseServer(t) // a download that fails (404) still runs curl
	env := stepEnv(f.URL)
	env["INPUT_IMAGE"] = "registry.example/team/app"
	// A job with enable-openid-connect has its ID token request token.
	env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "id-token-request-of-the-job"
	wrong := cacheWith(t, s.commit, s.other) // refused: the script goes on to curl
	out, _ := runScript(t, s, scriptRun{cache: wrong, path: probe, noGo: true, env: env})
	if !strings.Contains(out, "binary: download of ") {
		t.Fatalf("the script did not try the download")
	}
	out, _ = runScript(t, s, scriptRun{cache: cacheWith(t, s.commit, stub), path: probe, env: env})
	_, programEnv, ok := strings.Cut(out, "PROGRAM-ENV")
	if !ok {
		t.Fatalf("the stand-in program did not run")
	}
	if !strings.Contains(programEnv, "\nINPUT_API-KEY\n") || !strings.Contains(programEnv, "\nINPUT_IMAGE\n") || !strings.Contains(programEnv, "\nACTIONS_ID_TOKEN_REQUEST_TOKEN\n") {
		t.Errorf("the program did not get the inputs and the ID token request")
	}
	if strings.Contains(programEnv, "BPI_TOKEN") {
		t.Errorf("the program got the job token")
	}
	seen := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(probe, "env.*"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		tool := strings.Split(filepath.Base(file), ".")[1]
		seen[tool] = true
		for _, leak := range []string{"INPUT_", "zak_script_test_key", "forge-job-token", "id-token-request-of-the-job"} {
			if strings.Contains(string(data), leak) {
				t.Errorf("%s ran with %q in its environment", tool, leak)
			}
		}
	}
	if !seen["git"] || !seen["curl"] {
		t.Errorf("the probes saw %v, want git and curl", seen)
	}
}

// TestScriptCheckoutOfAnotherUser: a runner may clone the action as
// another user than the job's; git calls that dubious ownership, and the
// script must still read the commit (and so run the cached binary).
func TestScriptCheckoutOfAnotherUser(t *testing.T) {
	requireRig(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the checkout to another user (make test runs as root in CI)")
	}
	s := stampedBinaries(t)
	s = withRemote(t, s, "http://127.0.0.1:1/blumeops/build-push-image")
	if out, err := exec.Command("chown", "-R", "65534:65534", s.action).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
	out, code := runScript(t, s, scriptRun{cache: cacheWith(t, s.commit, s.own), noGo: true})
	if !strings.Contains(out, "binary: cached ") || !strings.Contains(out, "(commit "+s.commit+")") || code != 2 {
		t.Errorf("exit %d: the cached binary of the commit did not run from a checkout owned by another user", code)
	}
}

// TestScriptNoAssetNoGo: the release has no asset for this platform and
// commit (404) and the runner has no Go: the step fails with one error line
// that names both ways out, after one line saying the download failed.
func TestScriptNoAssetNoGo(t *testing.T) {
	requireRig(t)
	f := newReleaseServer(t) // serves nothing: every asset is a 404
	s := stampedBinaries(t)
	out, code := runScript(t, s, scriptRun{cache: t.TempDir(), noGo: true, env: stepEnv(f.URL)})
	asset := f.URL + "/blumeops/build-push-image/releases/download/v2/build-push-image-" + platform + "-" + s.commit
	if !strings.Contains(out, "binary: download of "+asset+" failed (") {
		t.Errorf("the log does not say the download of %s failed", asset)
	}
	want := "::error::build-push-image: no cached or released binary for " + platform + " at " + s.commit +
		", and no Go toolchain to build one: use the action at a release tag whose release has build-push-image-" +
		platform + "-" + s.commit + " (e.g. @v2), or install Go"
	if code != 1 || strings.Count(out, "::error::") != 1 || !strings.Contains(out, want) {
		t.Errorf("exit %d: want one error line starting %q", code, want)
	}
}

// TestScriptNoAssetBuildsWithGo: the same missing asset on a runner with
// Go: the step builds the binary from the action's own sources (a snapshot
// of this repository), stamped with its commit, and runs it.
func TestScriptNoAssetBuildsWithGo(t *testing.T) {
	requireRig(t)
	f := newReleaseServer(t)
	s := stamped{action: newActRig(t).src}
	s.commit = strings.TrimSpace(forgeGit(t, s.action, nil, "rev-parse", "HEAD"))
	out, code := runScript(t, s, scriptRun{cache: t.TempDir(), env: stepEnv(f.URL)})
	if !strings.Contains(out, "binary: download of ") || !strings.Contains(out, "failed (") {
		t.Errorf("the log does not say the download failed")
	}
	if !strings.Contains(out, "binary: built from source with go") || !strings.Contains(out, "(commit "+s.commit+")") ||
		!strings.Contains(out, programRan) || code != 2 {
		t.Errorf("exit %d: want the binary built from source for commit %s and run", code, s.commit)
	}
}
