package e2e

// The release workflow on the real forge: the repository's own
// .forgejo/workflows/release.yml, run by a real runner on a tag push, is
// what publishes the assets (the test uploads nothing), and the action used
// from that tag downloads them, checks them and runs them.
//
//	make tools && .tools/bin/rig -tools .tools/bin -- go test -count=1 -run ForgeRelease -v ./e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testrig"
)

// releaseLabel is the label of the runner with Go that builds the release
// (the repository variable RELEASE_RUNNER names it).
const releaseLabel = "bpi-release"

// TestForgeRelease pushes tag v2.0.0 of a snapshot of this repository to
// Gitea, with the variables a user sets: RELEASE_RUNNER (a host runner with
// Go), RELEASE_SKIP_TESTS (the suite is this very run) and
// RELEASE_PLATFORMS (this machine's, to keep it short). The release job
// must build and publish v2.0.0's and v2's assets and move v2; then an
// application's workflow, on a runner without Go, uses
// blumeops/build-push-image@v2.0.0 and must run the asset it downloaded.
func TestForgeRelease(t *testing.T) {
	r := requireRig(t)
	act := newActRig(t) // its snapshot of this repository, release.yml included
	tools := os.Getenv(testrig.EnvTools)
	bin := filepath.Join(tools, "gitea-runner")
	f := startForge(t, tools)
	f.startReleaseRunner(t, forgeRunner{"release-runner", bin})
	f.startRunner(t, forgeRunner{"gitea-runner", bin}, r.buildkit)
	f.publishCheckout(t)

	repo := f.createRepo(t, "blumeops", "build-push-image", true)
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for name, value := range map[string]string{"RELEASE_RUNNER": releaseLabel, "RELEASE_SKIP_TESTS": "true", "RELEASE_PLATFORMS": platform} {
		f.api(t, http.MethodPost, "/repos/"+repo+"/actions/variables/"+name, map[string]string{"value": value}, nil)
	}
	sha := f.pushTag(t, act.src, repo, "v2.0.0")
	jobs := f.waitRun(t, repo, sha)
	logs := f.jobLogs(t, repo, jobs, r.key)
	name := "build-push-image-" + strings.ReplaceAll(platform, "/", "-") + "-" + sha
	wantReleaseJobs(t, jobs, logs, "dist/"+name+" (v2.0.0, commit "+sha+")")
	want := []string{name, name + ".sha256"}
	for _, tag := range []string{"v2.0.0", "v2"} {
		if got := f.releaseAssets(t, repo, tag); !slices.Equal(got, want) {
			t.Errorf("release %s holds %v, want %v (published by the release job)", tag, got, want)
		}
	}
	f.waitRef(t, repo, "tags/v2", sha)

	// The action used from the tag: the asset of that release, verified.
	app := f.createRepo(t, "", "app", true)
	f.api(t, http.MethodPut, "/repos/"+app+"/actions/secrets/REGISTRY_API_KEY", map[string]string{"data": r.key}, nil)
	image := randomName("forge/release") + "/app"
	dir := forgeAppTree(t, releaseAppWorkflow(r.registry+"/"+image, r.user))
	appSHA := f.pushTag(t, dir, app, "v1.0.0")
	appJobs := f.waitRun(t, app, appSHA)
	appLogs := f.jobLogs(t, app, appJobs, r.key)
	if len(appJobs) != 1 || appJobs[0].Conclusion != "success" {
		t.Fatalf("the application's run: %+v, want one successful job; logs:\n%s", appJobs, strings.Join(appLogs, "\n"))
	}
	url := f.url + repo + "/releases/download/v2.0.0/" + name
	f.wantRanAsset(t, appLogs[0], url, sha)
	if _, code := r.headDigest(t, image, "v1.0.0"); code != http.StatusOK {
		t.Errorf("%s:v1.0.0: %d, want the image the action pushed", image, code)
	}
	f.wantNoKeyInLogs(t, r.key)
}

// startReleaseRunner starts a host runner labelled releaseLabel with Go on
// PATH, and the test's own Go caches in its configuration so make dist
// compiles what the test run compiled already (the release builds the
// same sources, for this machine's platform).
func (f *forge) startReleaseRunner(t *testing.T, runner forgeRunner) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	envs := map[string]string{"GOTOOLCHAIN": "local"}
	for _, name := range []string{"GOCACHE", "GOMODCACHE", "GOPROXY", "GOFLAGS"} {
		out, err := exec.Command(goBin, "env", name).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", name, err)
		}
		envs[name] = strings.TrimSpace(string(out))
	}
	f.startHostRunner(t, runner, releaseLabel, filepath.Dir(goBin)+":/usr/sbin:/usr/bin:/sbin:/bin", envs)
}

// wantReleaseJobs: the test job skipped (RELEASE_SKIP_TESTS), the release
// job run after it and succeeded, the asset built by make dist in it (its
// line, built, names the tag and the commit).
func wantReleaseJobs(t *testing.T, jobs []forgeJob, logs []string, built string) {
	t.Helper()
	got := map[string]string{}
	for i, j := range jobs {
		got[j.Name] = j.Conclusion
		if j.Name == "release" && (j.Conclusion != "success" || !strings.Contains(logs[i], built)) {
			t.Fatalf("job release: %s, want success with make dist's line %q; log:\n%s", j.Conclusion, built, logs[i])
		}
	}
	if len(jobs) != 2 || got["test"] != "skipped" || got["release"] != "success" {
		t.Fatalf("release run's jobs: %v, want test skipped and release success", got)
	}
}

// releaseAppWorkflow uses the action at the release tag, on the runner
// without Go.
func releaseAppWorkflow(image, user string) string {
	return `name: image
on:
  push:
    tags: ["v*"]
jobs:
  image:
    runs-on: ` + forgeLabel + `
    steps:
      - uses: actions/checkout@v4
      - uses: blumeops/build-push-image@v2.0.0
        with:
          image: ` + image + `
          version: ${{ github.ref_name }}
          context: services/api
          username: ` + user + `
          api-key: ${{ secrets.REGISTRY_API_KEY }}
          registry-tls: disabled
`
}

// wantRanAsset: the job's step downloaded url, and the file it ran is the
// release asset byte for byte (its sha256 is the one the release's .sha256
// names) and says it was built from commit.
func (f *forge) wantRanAsset(t *testing.T, log, url, commit string) {
	t.Helper()
	lines := binarySources(log)
	m := regexp.MustCompile(`binary: downloaded (\S+) \(sha256 ([0-9a-f]{64}) and commit verified\) into (\S+)`).FindStringSubmatch(strings.Join(lines, "\n"))
	if m == nil || m[1] != url {
		t.Fatalf("the step did not download %s; binary lines: %q", url, lines)
	}
	if strings.Contains(log, "built from source") {
		t.Errorf("the step built a binary from source")
	}
	resp, err := http.Get(url + ".sha256")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum, _ := io.ReadAll(resp.Body)
	if fields := strings.Fields(string(sum)); resp.StatusCode != http.StatusOK || len(fields) == 0 || fields[0] != m[2] {
		t.Errorf("the release's %s.sha256 is %d %q, the step verified sha256 %s", url, resp.StatusCode, sum, m[2])
	}
	data, err := os.ReadFile(m[3])
	if err != nil {
		t.Fatalf("the binary the step ran: %v", err)
	}
	if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != m[2] {
		t.Errorf("%s is not the asset it verified (sha256 %x)", m[3], got)
	}
	out, err := exec.Command(m[3], "--version").Output()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "commit "+commit) {
		t.Errorf("%s --version: %q, %v; want it built from %s", m[3], out, err, commit)
	}
}
