package e2e

// The release workflow's publishing step (.forgejo/workflows/release.yml,
// "Publish the release and move v2"), run as written against a real Gitea:
// three releases in a row, each from a fresh clone (the step asks the forge
// where v2 is, so a shallow checkout without tags does too).

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testrig"
	"gopkg.in/yaml.v3"
)

// releaseAssetPlatforms are the asset names' platforms in this test; the
// step publishes whatever dist/ holds.
var releaseAssetPlatforms = []string{"linux-amd64", "darwin-arm64"}

// TestReleaseKeepsV2Assets: each release uploads its commit's assets to its
// own release and to v2 before v2 moves, and only then removes from v2 the
// assets of commits older than the previous one. v2 never lacks the assets
// of the commit it points at, nor those of the commit it pointed at before.
func TestReleaseKeepsV2Assets(t *testing.T) {
	requireRig(t)
	script := releasePublishStep(t)
	f := startForge(t, os.Getenv(testrig.EnvTools))
	repo := f.createRepo(t, "blumeops", "build-push-image", false)
	src := t.TempDir()
	forgeGit(t, src, nil, "init", "-q", "-b", "main")

	var shas []string
	for _, tag := range []string{"v2.0.0", "v2.0.1", "v2.0.2"} {
		forgeCommit(t, src, "VERSION", tag+"\n")
		sha := f.pushTag(t, src, repo, tag)
		shas = append(shas, sha)
		out := f.runPublish(t, script, repo, tag, sha)

		v2 := f.releaseAssets(t, repo, "v2")
		keep := shas[max(0, len(shas)-2):] // this commit's and the previous one's
		if want := releaseAssetNames(keep...); !slices.Equal(v2, want) {
			t.Errorf("%s: release v2 holds\n%s\nwant\n%s", tag, strings.Join(v2, "\n"), strings.Join(want, "\n"))
		}
		if got, want := f.releaseAssets(t, repo, tag), releaseAssetNames(sha); !slices.Equal(got, want) {
			t.Errorf("%s: its release holds %v, want %v", tag, got, want)
		}
		f.waitRef(t, repo, "tags/v2", sha)
		// Order: every upload to v2 before the tag moves, removals after.
		moved := strings.Index(out, "v2 now points at "+tag)
		if moved < 0 || strings.LastIndex(out, "uploaded ") > moved ||
			(strings.Contains(out, "removed ") && strings.Index(out, "removed ") < moved) {
			t.Errorf("%s: the step did not upload, move v2, then remove, in that order:\n%s", tag, out)
		}
	}
}

// releaseStep is one step of a job of release.yml.
type releaseStep struct{ Name, Run string }

// releaseJobs reads release.yml's jobs: each job's steps, in order. The
// tests run its scripts as written, so they read the workflow itself.
func releaseJobs(t *testing.T) map[string][]releaseStep {
	t.Helper()
	data, err := os.ReadFile(".forgejo/workflows/release.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Jobs map[string]struct{ Steps []releaseStep }
	}
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatal(err)
	}
	jobs := make(map[string][]releaseStep, len(wf.Jobs))
	for name, job := range wf.Jobs {
		jobs[name] = job.Steps
	}
	return jobs
}

// releasePublishStep is the run: script of release.yml's publishing step.
func releasePublishStep(t *testing.T) string {
	t.Helper()
	for _, step := range releaseJobs(t)["release"] {
		if strings.HasPrefix(step.Name, "Publish") {
			return step.Run
		}
	}
	t.Fatal("release.yml: no Publish step in job release")
	return ""
}

// runPublish runs the publishing step for tag at sha, in a fresh clone of
// repo with every tag, with dist/ holding that commit's assets; it returns
// the step's output.
func (f *forge) runPublish(t *testing.T, script, repo, tag, sha string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "checkout")
	auth := []string{"GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader",
		"GIT_CONFIG_VALUE_0=Authorization: token " + f.token}
	forgeGit(t, t.TempDir(), auth, "clone", "-q", f.url+repo+".git", dir)
	forgeGit(t, dir, nil, "checkout", "-q", sha)
	if err := os.Mkdir(filepath.Join(dir, "dist"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range releaseAssetNames(sha) {
		if err := os.WriteFile(filepath.Join(dir, "dist", name), []byte(name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"TOKEN=" + f.token, "API=" + f.url + "api/v1/repos/" + repo, "GIT_URL=" + f.url + repo + ".git",
		"TAG=" + tag, "SHA=" + sha}, auth...)
	out, err := cmd.CombinedOutput()
	t.Logf("publish %s:\n%s", tag, out)
	if err != nil {
		t.Fatalf("publish %s: %v", tag, err)
	}
	if strings.Contains(string(out), f.token) {
		t.Errorf("publish %s: the token appears in the step's output", tag)
	}
	return string(out)
}

// releaseAssets lists the asset names of the release of tag, sorted.
func (f *forge) releaseAssets(t *testing.T, repo, tag string) []string {
	t.Helper()
	var rel struct {
		Assets []struct{ Name string } `json:"assets"`
	}
	if code := f.get(t, "/repos/"+repo+"/releases/tags/"+tag, &rel); code != http.StatusOK {
		t.Fatalf("release %s: %d", tag, code)
	}
	var names []string
	for _, a := range rel.Assets {
		names = append(names, a.Name)
	}
	slices.Sort(names)
	return names
}

// releaseAssetNames are the assets make dist names for commits, sorted.
func releaseAssetNames(commits ...string) []string {
	var names []string
	for _, c := range commits {
		for _, p := range releaseAssetPlatforms {
			names = append(names, "build-push-image-"+p+"-"+c, "build-push-image-"+p+"-"+c+".sha256")
		}
	}
	slices.Sort(names)
	return names
}
