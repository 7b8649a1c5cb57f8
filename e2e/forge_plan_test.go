package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
	"github.com/blumeops/build-push-image/internal/testrig"
)

// TestForgePlan runs the README's plan + matrix workflow on the real
// forge: three image directories, one already published at its version.
// The first push plans and publishes exactly the two others; a second
// push plans nothing and builds nothing.
func TestForgePlan(t *testing.T) {
	r := requireRig(t)
	act := newActRig(t)
	tools := os.Getenv(testrig.EnvTools)
	runner := forgeRunner{"gitea-runner", filepath.Join(tools, "gitea-runner")}
	f := startForge(t, tools)
	f.startRunner(t, runner, r.buildkit)
	f.publishAction(t, act.src, forgeDist(t, act.src))
	f.publishCheckout(t)

	prefix := randomName("forge/plan")
	app := f.createRepo(t, "", "images", true)
	f.api(t, http.MethodPut, "/repos/"+app+"/actions/secrets/REGISTRY_API_KEY", map[string]string{"data": r.key}, nil)
	dir := forgePlanTree(t, readmePlanWorkflow(t, r, prefix))
	// api is published at its version already, from the same sources.
	pre := runAction(t, r.inputs(prefix+"/api", "v1.0.0", filepath.Join(dir, "containers/api")), nil)
	if pre.code != 0 {
		t.Fatalf("publishing api first: exit %d: %s", pre.code, errorLine(pre.stdout))
	}
	apiDigest := pre.outputs["digest"]

	sha := forgeGit(t, dir, nil, "rev-parse", "HEAD")
	f.push(t, dir, app, "HEAD:refs/heads/main")
	built := wantPlanRun(t, f, app, f.waitRun(t, app, sha), r.key, 2, 3)
	if strings.Join(built, " ") != "web worker" {
		t.Errorf("the build legs published %v, want web and worker", built)
	}
	for _, name := range []string{"web", "worker"} {
		if _, code := r.headDigest(t, prefix+"/"+name, "v1.0.0"); code != http.StatusOK {
			t.Errorf("%s:v1.0.0: HEAD %d, want it published", name, code)
		}
	}
	r.wantTag(t, prefix+"/api", "v1.0.0", apiDigest)

	// A push that changes no version plans nothing and builds nothing.
	forgeCommit(t, dir, "notes.txt", "no version changed\n")
	sha2 := forgeGit(t, dir, nil, "rev-parse", "HEAD")
	f.push(t, dir, app, "HEAD:refs/heads/main")
	if built := wantPlanRun(t, f, app, f.waitRun(t, app, sha2), r.key, 0, 3); len(built) != 0 {
		t.Errorf("the second push built %v, want nothing", built)
	}
	f.wantNoKeyInLogs(t, r.key)
}

// wantPlanRun checks a run of the plan workflow: the plan job succeeded
// and planned n of its images; the build job published them (Gitea's
// runner runs the legs of a matrix it expands itself in one job) or, when
// n is 0, was skipped. It returns the names the legs published, sorted,
// and the plan job's log.
func wantPlanRun(t *testing.T, f *forge, app string, jobs []forgeJob, key string, n, of int) []string {
	t.Helper()
	var ran []forgeJob // a skipped job has no log
	for _, j := range jobs {
		switch {
		case j.Conclusion != "skipped":
			ran = append(ran, j)
		case j.Name == "plan" || n != 0:
			t.Fatalf("job %q skipped, want it to run (%d planned)", j.Name, n)
		}
	}
	if n == 0 && len(ran) != 1 || len(jobs) < 2 {
		t.Fatalf("jobs %+v: want the plan and a build job, skipped when nothing is planned", jobs)
	}
	logs := f.jobLogs(t, app, ran, key)
	var built []string
	for i, j := range ran {
		switch {
		case j.Name == "plan":
			if j.Conclusion != "success" || !strings.Contains(logs[i], fmt.Sprintf("plan: %d of %d images to publish", n, of)) {
				t.Fatalf("plan job: %s, want success planning %d of %d; log:\n%s", j.Conclusion, n, of, logs[i])
			}
		case j.Conclusion != "success":
			t.Fatalf("job %q: %s, want success; log:\n%s", j.Name, j.Conclusion, logs[i])
		default:
			for _, m := range regexp.MustCompile(`Tagged \S+/(\w+):v1\.0\.0(-nix)?\b`).FindAllStringSubmatch(logs[i], -1) {
				built = append(built, m[1])
			}
		}
	}
	if len(built) != n {
		t.Fatalf("%d images published (%v), want %d", len(built), built, n)
	}
	slices.Sort(built)
	return built
}

// readmePlanWorkflow is the README's plan + matrix workflow, changed only
// where a test must: runs-on, the registry and the credentials.
func readmePlanWorkflow(t *testing.T, r rig, prefix string) string {
	t.Helper()
	return readmeMatrixWorkflow(t, r, prefix, "docs/plan.md", "version-arg: APP_VERSION", "ubuntu-latest")
}

// readmeMatrixWorkflow is doc's first workflow holding marker, a plan job
// and a build job running on runsOn, changed only where a test must:
// runs-on, the registry and the credentials.
func readmeMatrixWorkflow(t *testing.T, r rig, prefix, doc, marker, runsOn string) string {
	t.Helper()
	edits := append([]readmeEdit{{"runs-on: " + runsOn + "\n", "runs-on: " + forgeLabel + "\n", 2}}, readmeCredentials(r, prefix, 2)...)
	return editReadme(t, docBlock(t, doc, "yaml", marker), edits...)
}

// forgePlanTree is the repository: the workflow and three image
// directories, each with its version in ARG APP_VERSION.
func forgePlanTree(t *testing.T, workflow string) string {
	t.Helper()
	files := map[string]string{".forgejo/workflows/images.yml": workflow}
	for _, name := range []string{"api", "web", "worker"} {
		files["containers/"+name+"/Dockerfile"] = "ARG APP_VERSION=1.0.0\nFROM scratch\nCOPY hello.txt /hello.txt\n"
		files["containers/"+name+"/hello.txt"] = "hello from " + name + "\n"
	}
	dir := testcheck.WriteTree(t, files)
	forgeGit(t, dir, nil, "init", "-q", "-b", "main")
	forgeCommit(t, dir, "README", "images\n")
	return dir
}
