package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/config"
)

// docRun says what becomes of one fenced block of the README or docs/:
// the e2e test that runs it, or why none can. A block is named by its file
// and a marker only it holds (^marker: the block begins with it).
type docRun struct {
	doc, marker string
	test        string // an e2e test that runs the block as written
	exempt      string // why no test here runs it
}

// Why blocks are exempt, one wording per reason.
const (
	printed   = "output the action prints, quoted: not a command"
	fragment  = "a with: fragment of inputs, not a workflow: TestDocsBlocksRun checks each key is an input of action.yml"
	runner    = "the set-up of a runner, forge or buildkitd host this rig is not (runner config, app.ini, macOS, Kubernetes, a buildkitd as a service)"
	docker    = "a Docker daemon command (docker build, buildx, rm), not the action's; the Docker path is run by TestBuildkitInDocker"
	developer = "a developer command of this repository that runs the suite or the benchmarks themselves"
	zotAdmin  = "zot's administration (its config, htpasswd, its key API by curl) on the zot host; TestZotKeyExpiry and TestZotRefusals run a real zot so configured"
	notYet    = "not run yet: "
	keyless   = "the combined-auth zot's administration, and a workflow whose job asks the forge for an ID token (enable-openid-connect), which act refuses (an unknown key) and does not give; TestKeylessPublish, TestKeylessRefusals and TestKeylessZotTakesKeysToo run a zot so configured and the action with what a Forgejo runner gives such a job, TestActKeyless the same steps under act with that environment given by hand"
)

// docRuns lists every fenced block of README.md and docs/*.md. A new block
// must be added here with the test that runs it or a reason.
var docRuns = []docRun{
	{doc: "README.md", marker: "on:\n  push:\n    tags: [\"v*\"]", test: "TestActReadmeCommand"},
	{doc: "README.md", marker: "./result -> /nix/store/…-stream-app, a program", test: "TestActUsageStreamSteps"},
	{doc: "README.md", marker: "archive: result\n          image: ${{ matrix.plan.image }}", test: "TestForgePlanNix"},
	{doc: "README.md", marker: "archive: result\n          image: registry.example/team/app", test: "TestActReadmeArchiveSteps"},
	{doc: "README.md", marker: "on: pull_request", test: "TestActPullRequestCheck"},
	{doc: "docs/development.md", marker: "make demo", exempt: developer},
	{doc: "docs/signing.md", marker: "cosign generate-key-pair", test: "TestActReadmeSigning"},
	{doc: "docs/signing.md", marker: "signing-key: ${{ secrets.COSIGN_PRIVATE_KEY }}", test: "TestActReadmeSigning"},
	{doc: "docs/signing.md", marker: "cosign verify --key cosign.pub", test: "TestActReadmeSigning"},
	{doc: "docs/plan.md", marker: "version-arg: APP_VERSION", test: "TestForgePlan"},
	{doc: "docs/benchmarks.md", marker: "make bench", exempt: developer},
	{doc: "docs/reliability.md", marker: "BPI_RELIABILITY_REPORT", exempt: developer},
	{doc: "docs/migrating.md", marker: "docker buildx build", exempt: docker + ": the workflow users migrate from"},
	{doc: "docs/migrating.md", marker: "image: zot.example/team/app          # no tag", test: "TestActUsageWorkflows"},
	{doc: "docs/plan.md", marker: "# where default.nix names none", test: "TestPlanVersionCommand"},
	{doc: "docs/plan.md", marker: "nix-pr-changed.yml", test: "TestActPlanChangedPullRequest"},
	{doc: "docs/plan.md", marker: "changed-unbumped != '[]'", test: "TestPlanChanged"},
	{doc: "docs/plan.md", marker: "# v1.2.0-abc1234-nix: v1.2.0-nix", test: "TestPlanAdoptTags"},
	{doc: "docs/plan.md", marker: "nix-images.yml", test: "TestActPlanPush"},
	{doc: "docs/usage.md", marker: "name: image\non:\n  push:\n    tags: [\"v*\"]\njobs:\n  image:\n    runs-on: docker\n", test: "TestActUsageWorkflows"},
	{doc: "docs/usage.md", marker: "        - uses: https://forge.example/blumeops/build-push-image@v2", exempt: fragment},
	{doc: "docs/usage.md", marker: "DEFAULT_ACTIONS_URL = self", exempt: runner},
	{doc: "docs/usage.md", marker: "binary: download of", exempt: printed},
	{doc: "docs/usage.md", marker: "no cached or released binary", exempt: printed},
	{doc: "docs/usage.md", marker: "context: services/worker", test: "TestActUsageWorkflows"},
	{doc: "docs/usage.md", marker: "- { name: api, context: services/api }", test: "TestForge"},
	{doc: "docs/usage.md", marker: "act push", test: "TestActReadmeCommand"},
	{doc: "docs/usage.md", marker: "push: ${{ github.event_name == 'push' }}", test: "TestActUsageWorkflows"},
	{doc: "docs/usage.md", marker: "uses: https://code.example/actions/build-push-image@v1", exempt: fragment},
	{doc: "docs/usage.md", marker: "mirrors = [\"zot.example\"]", exempt: fragment},
	{doc: "docs/usage.md", marker: "^        with:\n          buildkit-address: tcp://", exempt: fragment},
	{doc: "docs/usage.md", marker: "No buildkitd at unix:///run/buildkit/buildkitd.sock and none on PATH", exempt: printed},
	{doc: "docs/usage.md", marker: "buildkit-container-flags:", exempt: fragment},
	{doc: "docs/usage.md", marker: "buildkit-address: docker-container://buildkitd", exempt: fragment},
	{doc: "docs/usage.md", marker: "docker rm -f build-push-image-buildkitd\n", exempt: docker},
	{doc: "docs/usage.md", marker: "nix-image.yml", test: "TestActUsageNixRecipe"},
	{doc: "docs/usage.md", marker: "pkgs.dockerTools.streamLayeredImage {", exempt: "a nix expression: nix cannot build here; TestActUsageStreamSteps reads its version line, e2e/nixstream writes what its script writes (TestStreamPush)"},
	{doc: "docs/usage.md", marker: "nix-pr.yml", test: "TestActPullRequestCheck"},
	{doc: "docs/usage.md", marker: "docker build -t app:ci", exempt: docker},
	{doc: "docs/usage.md", marker: "buildkitd --addr unix:///run/buildkit/buildkitd.sock --oci-worker-net host", exempt: runner},
	{doc: "docs/usage.md", marker: "forgejo-runner register", exempt: runner},
	{doc: "docs/usage.md", marker: "runs-on: linux-docker", exempt: notYet + "a Docker host runner's job (TestBuildkitInDocker runs the action on a Docker daemon)"},
	{doc: "docs/usage.md", marker: "docker_host: automount", exempt: runner},
	{doc: "docs/usage.md", marker: "brew install colima docker", exempt: runner},
	{doc: "docs/usage.md", marker: "labels: [\"macos:host\"]", exempt: runner},
	{doc: "docs/usage.md", marker: "runs-on: macos", exempt: runner},
	{doc: "docs/usage.md", marker: "exec /hello: exec format error", exempt: printed},
	{doc: "docs/usage.md", marker: "# the runner's pod (excerpt)", exempt: runner},
	{doc: "docs/usage.md", marker: "--tlscacert ca.pem", exempt: runner},
	{doc: "docs/usage.md", marker: "runs-on: linux-build", test: "TestActUsageRemoteBuildkitd"},
	{doc: "docs/usage.md", marker: "sudo buildkitd --addr unix:///tmp/buildkitd.sock &", exempt: "what the rig of TestActReadmeCommand starts itself: a buildkitd and a registry"},
	{doc: "docs/zot.md", marker: "\"apikey\": true\n    },", exempt: zotAdmin},
	{doc: "docs/zot.md", marker: "htpasswd -bBn ci-bot", exempt: zotAdmin},
	{doc: "docs/zot.md", marker: "^\"policies\": [", exempt: zotAdmin},
	{doc: "docs/zot.md", marker: "-X POST https://zot.example/zot/auth/apikey", exempt: zotAdmin},
	{doc: "docs/zot.md", marker: "image: zot.example/team/app", exempt: fragment},
	{doc: "docs/zot.md", marker: "# lists ci-bot's keys", exempt: zotAdmin},
	{doc: "docs/zot.md", marker: "::warning::api-key: the zot API key", exempt: printed},
	{doc: "docs/zot.md", marker: "base=https://zot.example/v2/team/app/manifests", exempt: zotAdmin},
	{doc: "docs/zot.md", marker: "\"issuer\": \"https://forge.example/api/actions\"", exempt: keyless},
	{doc: "docs/zot.md", marker: "enable-openid-connect: true   # the forge hands this job an ID token", exempt: keyless},
}

// names says whether r's marker names block.
func (r docRun) names(block string) bool {
	if prefix, ok := strings.CutPrefix(r.marker, "^"); ok {
		return strings.HasPrefix(block, prefix)
	}
	return strings.Contains(block, r.marker)
}

// fencedBlocks are the fenced blocks of a Markdown file, indented or not.
var fencedBlocks = regexp.MustCompile("(?ms)^[ \t]*```[a-z]*\n(.*?)^[ \t]*```")

// TestDocsBlocksRun: every fenced block of the README and docs/ is run by
// a named e2e test or exempt for a stated reason, so a new command or
// workflow in the docs cannot go untested unnoticed.
func TestDocsBlocksRun(t *testing.T) {
	docs, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	e2e := e2eSource(t)
	used := make([]int, len(docRuns))
	for _, doc := range append([]string{"README.md"}, docs...) {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range fencedBlocks.FindAllStringSubmatchIndex(string(b), -1) {
			block := string(b[m[2]:m[3]])
			line := strings.Count(string(b[:m[0]]), "\n") + 1
			var hits []int
			for i, r := range docRuns {
				if r.doc == doc && r.names(block) {
					hits = append(hits, i)
					used[i]++
				}
			}
			if len(hits) == 1 && docRuns[hits[0]].exempt == fragment {
				checkFragment(t, doc, line, block)
			}
			if len(hits) != 1 {
				t.Errorf("%s:%d: the block is named by %d entries of docRuns, want 1 (the test that runs it, or why none can):\n%s", doc, line, len(hits), block)
			}
		}
	}
	for i, r := range docRuns {
		switch {
		case used[i] != 1:
			t.Errorf("docRuns: %s %q names %d blocks, want 1", r.doc, r.marker, used[i])
		case (r.test == "") == (r.exempt == ""):
			t.Errorf("docRuns: %s %q: give a test or a reason, not both", r.doc, r.marker)
		case r.test != "" && !strings.Contains(e2e, "\nfunc "+r.test+"(t *testing.T) {"):
			t.Errorf("docRuns: %s %q: no test %s in e2e/", r.doc, r.marker, r.test)
		}
	}
}

// fragmentKey is a key of a step's YAML: an input under with:, or uses:.
var fragmentKey = regexp.MustCompile(`(?m)^\s*(?:- )?([a-z][a-z0-9-]*):`)

// checkFragment wants every key of a with: fragment to be an input of
// action.yml, so a fragment that is not run still names real inputs.
func checkFragment(t *testing.T, doc string, line int, block string) {
	t.Helper()
	for _, m := range fragmentKey.FindAllStringSubmatch(block, -1) {
		if key := m[1]; key != "uses" && key != "with" && !slices.ContainsFunc(inputs, func(in config.Input) bool { return in.Name == key }) {
			t.Errorf("%s:%d: %s: is not an input of action.yml", doc, line, key)
		}
	}
}

// e2eSource is the text of the e2e package's files.
func e2eSource(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob("e2e/*.go")
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	return all.String()
}
