package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// A tag write is one transaction: SHA tag, then the version tag (the commit
// point), then tags that follow releases. These tests refuse and break the
// tag writes the way real registries do (shared/notes/registries.md),
// through the fault proxy in front of the real registry.

// refusal is how one registry refuses a tag write.
type refusal struct {
	name   string
	status int
	body   string
	// said is what of the registry's answer the user must see.
	said []string
}

var refusals = []refusal{
	{"harbor", http.StatusPreconditionFailed,
		`{"errors":[{"code":"PRECONDITION","message":"the tag is configured as immutable, cannot be updated"}]}`,
		[]string{"HTTP 412", "PRECONDITION", "configured as immutable, cannot be updated"}},
	{"ecr", http.StatusBadRequest,
		`{"errors":[{"code":"TAG_INVALID","message":"The image tag already exists and cannot be overwritten because the repository is immutable"}]}`,
		[]string{"HTTP 400", "TAG_INVALID", "cannot be overwritten because the repository is immutable"}},
	{"zot", http.StatusForbidden,
		`{"errors":[{"code":"DENIED","message":"requested access to the resource is denied","detail":{"reason":"release tags are create-only"}}]}`,
		[]string{"HTTP 403", "DENIED", "requested access to the resource is denied", "release tags are create-only"}},
}

// refuse is a fault that answers like reg, for tag.
func (reg refusal) refuse(tag string) fault {
	return fault{status: reg.status, contentType: "application/json", body: reg.body, tag: tag}
}

// txRun runs the program through fp with a fixed SOURCE_DATE_EPOCH, so that
// a re-run of the same context builds the same digest.
func txRun(t *testing.T, r rig, fp *faultProxy, image, dir string, extra map[string]string) result {
	t.Helper()
	env := fp.inputs(r, image, "v1.0.0", dir)
	env["INPUT_SOURCE-DATE-EPOCH"] = "1700000000"
	for k, v := range extra {
		env[k] = v
	}
	return runAction(t, env, nil)
}

// wantSaid asserts that res failed with one line saying no release was
// made, in the registry's own words.
func (reg refusal) wantSaid(t *testing.T, res result) {
	t.Helper()
	testcheck.OneErrorLine(t, res.stdout, "nothing that names a release was written")
	line := errorLine(res.stdout)
	for _, s := range reg.said {
		if !strings.Contains(line, s) {
			t.Errorf("error line lacks the registry's %q: %s", s, line)
		}
	}
}

// meta is the metadata output.
type meta struct {
	Digest     string   `json:"digest"`
	VersionTag string   `json:"version-tag"`
	Tags       []string `json:"tags"`
	Written    []string `json:"written"`
	Unchanged  []string `json:"unchanged"`
}

func metadata(t *testing.T, res result) meta {
	t.Helper()
	var m meta
	if err := json.Unmarshal([]byte(res.outputs["metadata"]), &m); err != nil {
		t.Fatalf("metadata %q: %v", res.outputs["metadata"], err)
	}
	return m
}

// wantTag asserts what tag names: a digest, or nothing ("").
func (r rig) wantTag(t *testing.T, image, tag, want string) {
	t.Helper()
	got, status := r.headDigest(t, image, tag)
	if want == "" && status != http.StatusNotFound {
		t.Errorf("tag %s: HEAD %d (%s), want none", tag, status, got)
	}
	if want != "" && (status != http.StatusOK || got != want) {
		t.Errorf("tag %s: HEAD %d %q, want %s", tag, status, got, want)
	}
}

func TestVersionTagRefused(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	for _, reg := range refusals {
		t.Run(reg.name, func(t *testing.T) {
			row(t, "transaction", reg.name+"-style refusal of a new version tag (policy, tag absent)", "the proxy answers the version tag PUT "+reg.body)
			fp := newFaultProxy(t, r).fail(kindTagPut, -1, reg.refuse("v1.0.0"))
			image, dir := randomName("tx/"+reg.name), uniqueContext(t, 1024)
			res := txRun(t, r, fp, image, dir, nil)
			reg.wantSaid(t, res)
			r.wantTag(t, image, "v1.0.0", "")
			sha, _ := r.headDigest(t, image, testcheck.SHA)
			if fp.hits(kindTagPut) == 0 || sha == "" {
				t.Fatalf("the version tag PUT was not refused (%d) or the SHA tag not written first (%q)", fp.hits(kindTagPut), sha)
			}
			// A re-run once the policy allows it repairs: same image, both tags.
			again := txRun(t, r, newFaultProxy(t, r), image, dir, nil)
			if again.code != 0 || again.outputs["digest"] != sha {
				t.Fatalf("re-run: exit %d, digest %s (SHA tag %s): %s", again.code, again.outputs["digest"], sha, errorLine(again.stdout))
			}
			assertPublished(t, r, image, "v1.0.0", again.outputs["digest"])
		})
	}
}

func TestSHATagRefused(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	for _, reg := range refusals {
		t.Run(reg.name, func(t *testing.T) {
			row(t, "transaction", reg.name+"-style refusal of a new SHA tag (before the commit point)", "the proxy answers the SHA tag PUT "+reg.body)
			_, image, res, _ := pushThroughFaults(t, r, func(fp *faultProxy) { fp.fail(kindTagPut, -1, reg.refuse(testcheck.SHA)) }, "tx/sha"+reg.name)
			reg.wantSaid(t, res)
			r.wantTag(t, image, "v1.0.0", "")
			r.wantTag(t, image, testcheck.SHA, "")
		})
	}
}

func TestSHATagTakenIsAWarning(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	row(t, "transaction", "SHA tag names another image and the registry refuses to move it (ECR)", "SHA tag pre-written with an independent client, its PUT answered 400 TAG_INVALID")
	fp, image, other := seeded(t, r, "tx/shataken")
	fp.fail(kindTagPut, -1, refusals[1].refuse(testcheck.SHA))
	res := runAction(t, fp.inputs(r, image, "v1.0.0", uniqueContext(t, 1024)), nil)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, errorLine(res.stdout))
	}
	d := res.outputs["digest"]
	r.wantTag(t, image, "v1.0.0", d)
	r.wantTag(t, image, testcheck.SHA, other)
	if !strings.Contains(res.stdout, "::warning::the registry refused to move tag") || !strings.Contains(res.stdout, "TAG_INVALID") {
		t.Errorf("no warning about the SHA tag:\n%s", res.stdout)
	}
	if m := metadata(t, res); len(m.Tags) != 1 || !strings.HasSuffix(m.Tags[0], ":v1.0.0") {
		t.Errorf("tags %v, want the version tag alone (the SHA tag names another image)", m.Tags)
	}
}

// seeded is a fault proxy and a new repository that already holds another
// image, pushed with the program itself under another version (so its SHA
// tag names it too); other is its digest.
func seeded(t *testing.T, r rig, prefix string) (fp *faultProxy, image, other string) {
	t.Helper()
	image = randomName(prefix)
	res := runAction(t, r.inputs(image, "v0.0.1-other", uniqueContext(t, 1024)), nil)
	if res.code != 0 {
		t.Fatalf("seeding: exit %d: %s", res.code, errorLine(res.stdout))
	}
	return newFaultProxy(t, r), image, res.outputs["digest"]
}

func TestIdenticalJobWroteVersionFirst(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	row(t, "transaction", "the version tag PUT lands, but its answer is a refusal (as when an identical job was first)", "the proxy forwards the PUT, then answers 403 DENIED")
	recovers(t, r, "tx/identical", kindTagPut, 1, fault{forward: true, status: http.StatusForbidden, contentType: "application/json", body: zotDenied, tag: "v1.0.0"})
}

// recovers pushes through a fault that breaks times requests of kind, and
// asserts a complete release with both tags all the same.
func recovers(t *testing.T, r rig, prefix, kind string, times int, f fault) {
	t.Helper()
	fp, image, res, _ := pushThroughFaults(t, r, func(fp *faultProxy) { fp.fail(kind, times, f) }, prefix)
	if res.code != 0 || fp.hits(kind) != times {
		t.Fatalf("exit %d after %d broken %s requests (want %d): %s", res.code, fp.hits(kind), kind, times, errorLine(res.stdout))
	}
	assertPublished(t, r, image, "v1.0.0", res.outputs["digest"])
}

func TestVersionTakenAtWriteIsImmutability(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	row(t, "transaction", "another image takes the version tag between the last check and the write (Harbor refuses)", "the proxy writes another image to the tag, then answers the PUT 412 PRECONDITION")
	fp, image, other := seeded(t, r, "tx/taken")
	fp.fail(kindTagPut, -1, fault{status: http.StatusPreconditionFailed, contentType: "application/json", body: refusals[0].body, tag: "v1.0.0",
		inspect: func() { r.copyTag(t, image, other, "v1.0.0") }})
	res := runAction(t, fp.inputs(r, image, "v1.0.0", uniqueContext(t, 1024)), nil)
	testcheck.OneErrorLine(t, res.stdout, "registry-enforced immutability")
	line := errorLine(res.stdout)
	if !strings.Contains(line, "PRECONDITION") || !strings.Contains(line, "bump the version") {
		t.Errorf("error line: %s", line)
	}
	r.wantTag(t, image, "v1.0.0", other)
}

func TestEventuallyConsistentReread(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	row(t, "transaction", "eventually consistent registry: the first re-read after the version tag PUT answers 404", "the proxy answers the version tag HEADs after the first tag PUT 404, twice")
	recovers(t, r, "tx/eventual", kindTagHead, 2, fault{status: http.StatusNotFound, tag: "v1.0.0", after: kindTagPut})
}

func TestRerunRepairsAfterSHATag(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	row(t, "transaction", "a run died after the SHA tag; a skip-identical re-run", "the version tag PUT fails with 503 every time; then a clean re-run")
	fp := newFaultProxy(t, r).fail(kindTagPut, -1, fault{status: http.StatusServiceUnavailable, tag: "v1.0.0"})
	image, dir := randomName("tx/diedsha"), uniqueContext(t, 1024)
	if first := txRun(t, r, fp, image, dir, nil); first.code == 0 {
		t.Fatal("the first run succeeded despite the failing version tag")
	}
	d, _ := r.headDigest(t, image, testcheck.SHA)
	r.wantTag(t, image, "v1.0.0", "")
	res := rerun(t, r, image, dir)
	m := metadata(t, res)
	if res.outputs["digest"] != d || !slices1(m.Written, ":v1.0.0") || !slices1(m.Unchanged, ":"+testcheck.SHA) {
		t.Errorf("digest %s (SHA tag %s), written %v, unchanged %v", res.outputs["digest"], d, m.Written, m.Unchanged)
	}
	assertPublished(t, r, image, "v1.0.0", d)
}

func TestRerunRepairsAfterVersionTag(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	row(t, "transaction", "a run died after the version tag (SHA tag missing); a skip-identical re-run", "a full run, the SHA tag deleted with the registry API, then a re-run")
	image, dir := randomName("tx/diedversion"), uniqueContext(t, 1024)
	first := txRun(t, r, newFaultProxy(t, r), image, dir, nil)
	if first.code != 0 {
		t.Fatalf("first run: exit %d: %s", first.code, errorLine(first.stdout))
	}
	del := r.request(t, http.MethodDelete, "/v2/"+image+"/manifests/"+testcheck.SHA, nil, "")
	_ = del.Body.Close()
	r.wantTag(t, image, testcheck.SHA, "")
	res := rerun(t, r, image, dir)
	m := metadata(t, res)
	if !slices1(m.Written, ":"+testcheck.SHA) || !slices1(m.Unchanged, ":v1.0.0") || len(m.Tags) != 2 {
		t.Errorf("written %v, unchanged %v, tags %v", m.Written, m.Unchanged, m.Tags)
	}
	assertPublished(t, r, image, "v1.0.0", first.outputs["digest"])
}

// rerun runs the job on dir again, with skip-identical and no faults.
func rerun(t *testing.T, r rig, image, dir string) result {
	t.Helper()
	res := txRun(t, r, newFaultProxy(t, r), image, dir, map[string]string{"INPUT_ON-EXISTING-VERSION": "skip-identical"})
	if res.code != 0 {
		t.Fatalf("re-run: exit %d: %s", res.code, errorLine(res.stdout))
	}
	return res
}

// slices1 is true when s holds exactly one element, ending in suffix.
func slices1(s []string, suffix string) bool {
	return len(s) == 1 && strings.HasSuffix(s[0], suffix)
}

// TestRaceIdenticalJobsZot: 4 identical jobs with skip-identical race for
// one version on a registry that refuses to overwrite tags (a real zot
// when $ZOT_BINARY is set, else the proxy's emulation): the refusals of
// the slower jobs' writes are re-checked, the tags name their digest, and
// all 4 succeed.
func TestRaceIdenticalJobsZot(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	row(t, "race", "4 identical jobs, skip-identical, zot-like registry (403 DENIED on existing tag)", "4 concurrent runs of the same build through the fault proxy in zot mode")
	zr, fp := zotTarget(t, r)
	image := randomName("tx/zotsame")
	dir := uniqueContext(t, 1024)
	jobs := runJobs(t, 4, func(int) map[string]string {
		env := fp.inputs(zr, image, "v1.0.0", dir)
		env["INPUT_ON-EXISTING-VERSION"] = "skip-identical"
		env["INPUT_SOURCE-DATE-EPOCH"] = "1700000000"
		return env
	})
	for i, j := range jobs {
		if j.code != 0 {
			t.Errorf("job %d: exit %d: %s", i, j.code, errorLine(j.stdout))
		}
		if j.digest != jobs[0].digest {
			t.Errorf("job %d built %s, job 0 %s: not identical", i, j.digest, jobs[0].digest)
		}
		testcheck.NoSecret(t, zr.key, j.all()...)
	}
	// More than 2 (the version and SHA tags) were refused and re-checked.
	t.Logf("tag PUTs: %d", fp.count(kindTagPut))
	assertPublished(t, zr, image, "v1.0.0", jobs[0].digest)
}

func TestFallbackWhenBuildkitCannotPush(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	for _, via := range []string{"auto", "buildkit"} {
		t.Run(via, func(t *testing.T) {
			row(t, "push path", "push-via: "+via+": the registry is unreachable from buildkitd, reachable from the action", "the proxy resets every blob upload POST that does not come from the action")
			fp, image, res, _ := pushThroughFaults(t, r, func(fp *faultProxy) {
				fp.fail(kindBlobPost, -1, fault{reset: true, notAction: true})
				fp.via = via
			}, "tx/fallback")
			if fp.hits(kindBlobPost) == 0 {
				t.Fatal("buildkitd never tried to push")
			}
			if via == "buildkit" {
				testcheck.OneErrorLine(t, res.stdout, "buildkitd built the image but could not push it")
				assertNoTagOrComplete(t, r, image, "v1.0.0")
				return
			}
			if res.code != 0 || !strings.Contains(res.stdout, "::warning::push-via: buildkitd could not push") {
				t.Fatalf("exit %d, no fallback warning:\n%s", res.code, res.stdout)
			}
			texts := assertPublished(t, r, image, "v1.0.0", res.outputs["digest"])
			testcheck.NoSecret(t, r.key, append(res.all(), texts...)...)
		})
	}
}
