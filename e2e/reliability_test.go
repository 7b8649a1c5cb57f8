package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// Reliability tests: registry faults through faultProxy, races between
// jobs, cancellation, and secrets. Each records a row for
// docs/reliability.md when BPI_RELIABILITY_REPORT names a file (see
// e2e/reliabilitydoc).

const envReport = "BPI_RELIABILITY_REPORT"

var reportMu sync.Mutex

// row records scenario for the reliability table. The result is the
// test's outcome, written when it ends.
func row(t *testing.T, area, scenario, how string) {
	t.Helper()
	path := os.Getenv(envReport)
	if path == "" {
		return
	}
	start := time.Now()
	t.Cleanup(func() {
		result := "pass"
		if t.Failed() {
			result = "FAIL"
		} else if t.Skipped() {
			result = "skipped"
		}
		b, _ := json.Marshal(map[string]string{
			"area": area, "scenario": scenario, "how": how, "result": result,
			"test": t.Name(), "seconds": fmt.Sprintf("%.1f", time.Since(start).Seconds()),
		})
		reportMu.Lock()
		defer reportMu.Unlock()
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Errorf("reliability report: %v", err)
			return
		}
		defer f.Close()
		_, _ = f.Write(append(b, '\n'))
	})
}

// uniqueContext is a build context whose image no other test pushes.
func uniqueContext(t *testing.T, size int) string {
	t.Helper()
	return contextDir(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY payload /payload\n",
		"payload":    randomName("payload") + strings.Repeat("x", size),
	})
}

// blob fetches a blob or manifest from the real registry and checks that
// its content has the digest it is named by.
func (r rig) blob(t *testing.T, image, kind, digest string) []byte {
	t.Helper()
	body := r.get(t, image, kind, digest)
	sum := sha256.Sum256(body)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != digest {
		t.Fatalf("%s %s: content has digest %s", kind, digest, got)
	}
	return body
}

// verifyImage pulls every manifest and blob of image@digest from the real
// registry, checks each against its digest and size, and returns the text
// of every manifest, config and (unpacked) layer file, for secret scans.
func (r rig) verifyImage(t *testing.T, image, digest string) []string {
	t.Helper()
	var texts []string
	var walk func(d string)
	walk = func(d string) {
		body := r.blob(t, image, "manifests", d)
		texts = append(texts, string(body))
		var m struct {
			Manifests []struct{ Digest string } `json:"manifests"`
			Config    *struct {
				Digest string `json:"digest"`
				Size   int    `json:"size"`
			} `json:"config"`
			Layers []struct {
				Digest string `json:"digest"`
				Size   int    `json:"size"`
			} `json:"layers"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("manifest %s: %v", d, err)
		}
		for _, sub := range m.Manifests {
			walk(sub.Digest)
		}
		if m.Config != nil {
			cfg := r.blob(t, image, "blobs", m.Config.Digest)
			if len(cfg) != m.Config.Size {
				t.Errorf("config %s: %d bytes, manifest says %d", m.Config.Digest, len(cfg), m.Config.Size)
			}
			texts = append(texts, string(cfg))
		}
		for _, l := range m.Layers {
			layer := r.blob(t, image, "blobs", l.Digest)
			if len(layer) != l.Size {
				t.Errorf("layer %s: %d bytes, manifest says %d", l.Digest, len(layer), l.Size)
			}
			texts = append(texts, layerFiles(t, layer)...)
		}
	}
	walk(digest)
	return texts
}

// assertPublished checks, against the real registry, that the version and
// SHA tags name digest and that the image is complete.
func assertPublished(t *testing.T, r rig, image, version, digest string) []string {
	t.Helper()
	if !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("digest output %q", digest)
	}
	for _, tag := range []string{version, testcheck.SHA} {
		if got, status := r.headDigest(t, image, tag); status != http.StatusOK || got != digest {
			t.Errorf("tag %s: %d %q, want %s", tag, status, got, digest)
		}
	}
	return r.verifyImage(t, image, digest)
}

// assertNoTagOrComplete checks that a failed run left no version tag, or
// one that names a complete image.
func assertNoTagOrComplete(t *testing.T, r rig, image, version string) {
	t.Helper()
	for _, tag := range []string{version, testcheck.SHA} {
		d, status := r.headDigest(t, image, tag)
		switch status {
		case http.StatusNotFound:
		case http.StatusOK:
			r.verifyImage(t, image, d)
		default:
			t.Errorf("HEAD tag %s: %d", tag, status)
		}
	}
}

// proxyErrorLine is the ::error:: line, for failures whose wording is
// checked loosely.
func errorLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "::error") {
			return l
		}
	}
	return ""
}

const nginx502 = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

// TestFaultsRecovered: transient registry faults on every kind of request
// the push makes; the push completes and the tags name a complete image.
func TestFaultsRecovered(t *testing.T) {
	r := requireRig(t)
	httpDate := func() string { return time.Now().Add(time.Second).UTC().Format(http.TimeFormat) }
	cases := []struct {
		name  string
		rules func(fp *faultProxy)
		kind  string // the kind whose faults must have happened
		times int
		only  string // the push-vias this fault is about, space-separated ("": every one)
	}{
		{"503 on blob upload POST", func(fp *faultProxy) { fp.fail(kindBlobPost, 2, fault{status: 503}) }, kindBlobPost, 2, ""},
		{"503 with Retry-After on blob upload PUT", func(fp *faultProxy) { fp.fail(kindBlobPut, 2, fault{status: 503, retryAfter: "1"}) }, kindBlobPut, 2, ""},
		{"500 on blob HEAD", func(fp *faultProxy) { fp.fail(kindBlobHead, 2, fault{status: 500}) }, kindBlobHead, 2, ""},
		{"502 (nginx HTML page) on manifest PUT", func(fp *faultProxy) {
			fp.fail(kindManifestPut, 2, fault{status: 502, contentType: "text/html", body: nginx502})
		}, kindManifestPut, 2, ""},
		{"504 on tag HEAD", func(fp *faultProxy) { fp.fail(kindTagHead, 2, fault{status: 504}) }, kindTagHead, 2, ""},
		{"429 with Retry-After on tag PUT", func(fp *faultProxy) { fp.fail(kindTagPut, 2, fault{status: 429, retryAfter: "1"}) }, kindTagPut, 2, ""},
		{"429 without Retry-After on blob upload PUT", func(fp *faultProxy) { fp.fail(kindBlobPut, 2, fault{status: 429}) }, kindBlobPut, 2, ""},
		{"503 with Retry-After as HTTP date on manifest HEAD", func(fp *faultProxy) {
			fp.fail(kindManifestHead, 1, fault{status: 503, retryAfter: httpDate()})
		}, kindManifestHead, 1, "auto buildkit"},
		// The action's writer puts a manifest without a HEAD first (a put
		// is idempotent): its manifest request is the PUT.
		{"503 with Retry-After as HTTP date on manifest PUT", func(fp *faultProxy) {
			fp.fail(kindManifestPut, 1, fault{status: 503, retryAfter: httpDate()})
		}, kindManifestPut, 1, "action"},
		{"503 on blob upload PATCH (chunked upload)", func(fp *faultProxy) {
			// A refused monolithic PUT makes regclient fall back to a
			// chunked upload (PATCH) in the same session.
			fp.fail(kindBlobPut, 1, fault{status: 400, body: `{"errors":[{"code":"BLOB_UPLOAD_INVALID"}]}`, contentType: "application/json"})
			fp.fail(kindBlobPatch, 2, fault{status: 503})
		}, kindBlobPatch, 2, "action"},
		{"connection reset mid-blob (half the blob reached the registry)", func(fp *faultProxy) { fp.fail(kindBlobPut, 1, fault{reset: true}) }, kindBlobPut, 1, ""},
	}
	for _, tc := range cases {
		for _, via := range pushPaths {
			if tc.only != "" && !slices.Contains(strings.Fields(tc.only), via) {
				continue
			}
			t.Run(via+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				row(t, "transient fault", "push-via: "+via+": "+tc.name, fmt.Sprintf("fault proxy: first %d %s request(s)", tc.times, tc.kind))
				fp, image, res, start := pushThroughFaults(t, r, func(fp *faultProxy) { tc.rules(fp); fp.via = via }, "rel/fault")
				if res.code != 0 {
					t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
				}
				if got := fp.hits(tc.kind); got != tc.times {
					t.Errorf("%d %s requests broken, want %d: the fault did not happen", got, tc.kind, tc.times)
				}
				texts := assertPublished(t, r, image, "v1.0.0", res.outputs["digest"])
				testcheck.NoSecret(t, r.key, append(res.all(), texts...)...)
				if via == "action" && fp.layoutsScanned() == 0 {
					t.Error("no OCI layout was scanned for the key while uploading")
				}
				t.Logf("pushed through the faults in %s", time.Since(start).Round(100*time.Millisecond))
			})
		}
	}
}

// pushPaths are the push-via values: every fault test runs on each.
var pushPaths = []string{"auto", "buildkit", "action"}

// pushThroughFaults pushes a fresh image as v1.0.0 through a fault proxy
// set up by rules, and returns the proxy, the image, the run and its start.
func pushThroughFaults(t *testing.T, r rig, rules func(*faultProxy), prefix string) (*faultProxy, string, result, time.Time) {
	t.Helper()
	fp := newFaultProxy(t, r)
	rules(fp)
	image := randomName(prefix)
	start := time.Now()
	env := fp.inputs(r, image, "v1.0.0", uniqueContext(t, 64<<10))
	if fp.via != "" {
		env["INPUT_PUSH-VIA"] = fp.via
	}
	return fp, image, runAction(t, env, nil), start
}

// TestStalledResponseRetried: the registry holds a tag HEAD longer than
// the stall timeout (30 s): the request is abandoned and retried, and the
// push completes.
func TestStalledResponseRetried(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	row(t, "transient fault", "tag HEAD answer held for 45 s (stall timeout 30 s)", "fault proxy holds the first tag HEAD")
	fp := newFaultProxy(t, r)
	fp.fail(kindTagHead, 1, fault{stall: 45 * time.Second})
	image := randomName("rel/stall")
	start := time.Now()
	res := runAction(t, fp.inputs(r, image, "v1.0.0", uniqueContext(t, 1024)), nil)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if took := time.Since(start); took > 44*time.Second {
		t.Errorf("took %s: the stalled request was not abandoned before the registry answered", took)
	}
	assertPublished(t, r, image, "v1.0.0", res.outputs["digest"])
}

// TestFaultsPermanent: a registry that keeps failing fails the job with one
// clear line, and leaves no tag, or only tags that name complete images.
func TestFaultsPermanent(t *testing.T) {
	r := requireRig(t)
	cases := []struct {
		name  string
		rules func(fp *faultProxy)
		want  string
	}{
		{"503 on every blob upload PUT", func(fp *faultProxy) { fp.fail(kindBlobPut, -1, fault{status: 503}) },
			"the registry kept failing: PUT /v2/"},
		{"500 on every tag PUT", func(fp *faultProxy) { fp.fail(kindTagPut, -1, fault{status: 500}) },
			"the registry kept failing: PUT /v2/"},
		{"503 on every tag HEAD (guard)", func(fp *faultProxy) { fp.fail(kindTagHead, -1, fault{status: 503}) },
			"the registry kept failing: HEAD /v2/"},
		{"429 with Retry-After: 3600", func(fp *faultProxy) { fp.fail(kindBlobPost, -1, fault{status: 429, retryAfter: "3600"}) },
			"asked to wait 3600 s before retrying"},
		{"connection reset on every blob upload PUT", func(fp *faultProxy) { fp.fail(kindBlobPut, -1, fault{reset: true}) },
			"the connection to the registry broke: Put /v2/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			row(t, "permanent fault", tc.name, "fault proxy; exit 1, one ::error:: line, no tag (or a complete image)")
			_, image, res, start := pushThroughFaults(t, r, tc.rules, "rel/down")
			if res.code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", res.code, res.stdout, res.stderr)
			}
			testcheck.OneErrorLine(t, res.stdout, tc.want)
			if line := errorLine(res.stdout); len(line) > 600 || strings.Contains(line, "<html") {
				t.Errorf("error line is not short and clear: %q", line)
			}
			assertNoTagOrComplete(t, r, image, "v1.0.0")
			testcheck.NoSecret(t, r.key, res.all()...)
			t.Logf("failed in %s: %s", time.Since(start).Round(100*time.Millisecond), errorLine(res.stdout))
		})
	}
}

// jobResult is one of several concurrent runs.
type jobResult struct {
	result
	digest string
}

// runJobs runs n copies of the program at once, job i with env(i).
func runJobs(t *testing.T, n int, env func(i int) map[string]string) []jobResult {
	t.Helper()
	out := make([]jobResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res := runAction(t, env(i), nil)
			out[i] = jobResult{result: res, digest: res.outputs["digest"]}
		})
	}
	wg.Wait()
	return out
}

// raceContexts are n build contexts that differ in one file.
func raceContexts(t *testing.T, n int) []string {
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = uniqueContext(t, 1024)
	}
	return dirs
}

// TestRaceSameVersionPlainRegistry: 8 jobs push different images to the
// same new version tag of a registry that lets tags be overwritten. At
// least one succeeds, the tag names the image of a job that succeeded,
// the image is complete, and the others fail with "lost a race" or
// "already exists".
//
// Not asserted here: that EVERY job reporting success still has its digest
// at the tag at the end. Job A can write and verify the tag inside the
// window between job B's last check and B's write; then both report
// success and B's image stays. Reusing the pushed manifest for the tag
// write and run.go's settle-and-reverify narrow that window (1 round in 6
// had a stale success before both, 1 in 36 with the first alone, 0 in 36
// with both), but no client can close it on such a registry.
func TestRaceSameVersionPlainRegistry(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	row(t, "race", "8 jobs, same new version, different content, plain registry (tags overwritable)", "8 concurrent runs against the rig's registry; tag checked directly; >=1 success, tag names a winner")
	won, stale := plainRace(t, r)
	if won == 0 {
		t.Error("no job succeeded")
	}
	if stale > 0 {
		// run.go re-reads the tag after a settle pause, which narrows this
		// window to a job stalled longer than the pause between its own
		// check and write; only registry-side immutability closes it.
		t.Logf("%d job(s) reported success but lost the tag afterwards: the known, narrowed window", stale)
	}
}

// plainRace runs 8 jobs for one new version tag on the rig's registry and
// returns how many succeeded, and how many of those lost the tag later.
func plainRace(t *testing.T, r rig) (won, stale int) {
	t.Helper()
	image := randomName("rel/race")
	dirs := raceContexts(t, 8)
	jobs := runJobs(t, 8, func(i int) map[string]string { return r.inputs(image, "v1.0.0", dirs[i]) })
	final, status := r.headDigest(t, image, "v1.0.0")
	if status != http.StatusOK {
		t.Fatalf("version tag: HEAD %d", status)
	}
	finalWon := false
	for i, j := range jobs {
		switch {
		case j.code == 0:
			won++
			if j.digest == final {
				finalWon = true
			} else {
				stale++
			}
		case strings.Contains(errorLine(j.stdout), "lost a race"), strings.Contains(errorLine(j.stdout), "already exists"):
			testcheck.OneErrorLine(t, j.stdout, "v1.0.0")
		default:
			t.Errorf("job %d: exit %d: %s", i, j.code, errorLine(j.stdout))
		}
		testcheck.NoSecret(t, r.key, j.all()...)
	}
	if !finalWon {
		t.Errorf("the tag names %s, which no successful job pushed", final)
	}
	r.verifyImage(t, image, final)
	return won, stale
}

// TestRaceSameVersionZot: the same race against a registry that refuses
// to overwrite tags (zot with a user that may create but not update: a
// real zot when $ZOT_BINARY is set, else the proxy's emulation, 403 with
// zot's DENIED body): exactly one job succeeds, 7 fail with the
// immutability message. The guard HEADs tags and never lists them. The
// SHA tag, shared by all 8 jobs, names one complete image; a create-only
// user cannot move it, which a later release warns of and survives.
func TestRaceSameVersionZot(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	row(t, "race", "8 jobs, same new version, different content, zot-like registry (403 DENIED on existing tag)", "8 concurrent runs through the fault proxy in zot mode")
	zr, fp := zotTarget(t, r)
	image := randomName("rel/zotrace")
	dirs := raceContexts(t, 8)
	jobs := runJobs(t, 8, func(i int) map[string]string { return fp.inputs(zr, image, "v1.0.0", dirs[i]) })
	final, status := zr.headDigest(t, image, "v1.0.0")
	if status != http.StatusOK {
		t.Fatalf("version tag: HEAD %d", status)
	}
	sha, status := zr.headDigest(t, image, testcheck.SHA)
	if status != http.StatusOK {
		t.Fatalf("SHA tag: HEAD %d", status)
	}
	won := 0
	for i, j := range jobs {
		testcheck.NoSecret(t, zr.key, j.all()...)
		if j.code != 0 {
			testcheck.OneErrorLine(t, j.stdout, "version tags are immutable: bump the version")
			// A job that finds the tag taken before it writes fails
			// without asking; one that writes is refused in zot's words.
			if line := errorLine(j.stdout); strings.Contains(line, "refused to overwrite") && !strings.Contains(line, "HTTP 403 DENIED") {
				t.Errorf("job %d: refusal without zot's answer (HTTP 403 DENIED): %s", i, line)
			}
			t.Logf("job %d: %s", i, errorLine(j.stdout))
			continue
		}
		won++
		if j.digest != final {
			t.Errorf("job %d reported success with %s, but the tag names %s", i, j.digest, final)
		}
		if j.digest != sha && !wroteTag(j.stdout, image, testcheck.SHA) {
			wantTakenWarning(t, j.stdout, testcheck.SHA)
		} else if j.digest != sha {
			// zot checks create against update before it writes, not
			// atomically: two jobs creating the SHA tag at the same
			// instant both pass, and the later write stands. This job
			// created it when no one held it; it names another job's
			// complete image now (verified below).
			t.Logf("job %d created the SHA tag, and a job creating it at the same instant wrote last (zot's check is not atomic)", i)
		}
	}
	if won != 1 {
		t.Errorf("%d jobs succeeded, want exactly 1", won)
	}
	if n := fp.count(kindTagsList); n != 0 {
		t.Errorf("%d tag list requests: the guard must HEAD the tag, never list tags", n)
	}
	if fp.count(kindTagHead) == 0 {
		t.Error("no tag HEAD request: how did the guard look?")
	}
	zr.verifyImage(t, image, final)
	zr.verifyImage(t, image, sha)
	zotRefusals(t, zr, fp, image, sha)
}

// zotRefusals runs two more releases of image, whose SHA tag names sha:
// v1.0.1 succeeds and warns that the SHA tag was left as it was; v1.0.2
// is taken by another client between the action's last look and its
// write, and fails with the registry's refusal (zot's 403 DENIED).
func zotRefusals(t *testing.T, zr rig, fp *faultProxy, image, sha string) {
	t.Helper()
	next := runAction(t, fp.inputs(zr, image, "v1.0.1", uniqueContext(t, 10)), nil)
	if next.code != 0 {
		t.Fatalf("v1.0.1 with the same commit SHA: exit %d: %s", next.code, errorLine(next.stdout))
	}
	wantTakenWarning(t, next.stdout, testcheck.SHA)
	zr.wantTag(t, image, "v1.0.1", next.outputs["digest"])
	zr.wantTag(t, image, testcheck.SHA, sha)
	zr.verifyImage(t, image, next.outputs["digest"])

	fp.fail(kindTagPut, 1, fault{tag: "v1.0.2", inspect: func() { zr.copyTag(t, image, "v1.0.1", "v1.0.2") }})
	taken := runAction(t, fp.inputs(zr, image, "v1.0.2", uniqueContext(t, 10)), nil)
	testcheck.OneErrorLine(t, taken.stdout, "the registry refused to overwrite it (HTTP 403 DENIED")
	t.Logf("v1.0.2: %s", errorLine(taken.stdout))
	zr.wantTag(t, image, "v1.0.2", next.outputs["digest"])
	testcheck.NoSecret(t, zr.key, append(next.all(), taken.all()...)...)
}

// wroteTag says whether out says the action wrote image's tag.
func wroteTag(out, image, tag string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "Tagged ") && strings.HasSuffix(l, "/"+image+":"+tag) {
			return true
		}
	}
	return false
}

// wantTakenWarning asserts that out warns that tag could not be moved,
// with zot's own words (403 DENIED).
func wantTakenWarning(t *testing.T, out, tag string) {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "::warning") && strings.Contains(l, "refused to move tag") && strings.Contains(l, ":"+tag+" ") {
			if !strings.Contains(l, "HTTP 403 DENIED") {
				t.Errorf("warning does not carry zot's answer (HTTP 403 DENIED): %s", l)
			}
			t.Logf("%s", l)
			return
		}
	}
	t.Errorf("no warning that tag %s was left as it was:\n%s", tag, out)
}

// TestConcurrentSharedBase: 8 jobs push different images built on the
// same base image at once; all succeed and every image is complete.
func TestConcurrentSharedBase(t *testing.T) {
	r := requireRig(t)
	base := baseImage(t, r)
	t.Parallel()
	row(t, "race", "8 different images sharing base layers, pushed at once", "8 concurrent runs FROM the busybox base; every blob verified")
	images := make([]string, 8)
	jobs := runJobs(t, 8, func(i int) map[string]string {
		images[i] = randomName("rel/shared")
		dir := contextDir(t, map[string]string{
			"Dockerfile": "FROM " + base + "\nCOPY leg /leg\n",
			"leg":        randomName("leg"),
		})
		return r.inputs(images[i], "v1.0.0", dir)
	})
	for i, j := range jobs {
		if j.code != 0 {
			t.Errorf("job %d: exit %d: %s", i, j.code, errorLine(j.stdout))
			continue
		}
		assertPublished(t, r, images[i], "v1.0.0", j.digest)
	}
}

// TestGuardNeverListsTags: a push HEADs the version and SHA tags and never
// asks for the repository's tag list.
func TestGuardNeverListsTags(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	row(t, "race", "guard looks up tags with HEAD, never lists tags", "fault proxy counts /tags/list requests and manifest GETs: 0")
	fp := newFaultProxy(t, r)
	image := randomName("rel/nolist")
	for _, v := range []string{"v1.0.0", "v1.0.0", "v1.0.1"} { // the second is refused
		runAction(t, fp.inputs(r, image, v, uniqueContext(t, 10)), nil)
	}
	if n := fp.count(kindTagsList); n != 0 {
		t.Errorf("%d tag list requests, want 0", n)
	}
	if n := fp.count(kindTagHead); n < 3 {
		t.Errorf("%d tag HEADs, want at least 3", n)
	}
	// BuildKit pushed the manifest, so a run that tags reads it once, by
	// digest, for its first tag write (the SHA tag, before the version
	// tag's last check); the version tag write reuses it.
	if n := fp.count(kindManifestGet); n > 2 {
		t.Errorf("%d manifest GETs, want at most one for each of the 2 runs that tag", n)
	}
}

// TestCancellation: SIGINT or SIGTERM while a RUN step blocks, or while the
// registry holds a blob upload: the program exits within 5 s, removes its
// temporary layout from RUNNER_TEMP, and writes no tag.
func TestCancellation(t *testing.T) {
	r := requireRig(t)
	base := baseImage(t, r)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run("during build/"+sig.String(), func(t *testing.T) {
			t.Parallel()
			row(t, "cancellation", sig.String()+" while a RUN step blocks", "RUN wget of a test server that never answers; signal when it is reached")
			reached := make(chan struct{}, 1)
			release := make(chan struct{})
			gate := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				select {
				case reached <- struct{}{}:
				default:
				}
				select {
				case <-release:
				case <-req.Context().Done():
				}
			})}
			url := serve(t, gate)
			t.Cleanup(func() { close(release) })
			dir := contextDir(t, map[string]string{
				"Dockerfile": "FROM " + base + "\nARG GATE\nRUN wget -q -O /gate \"$GATE\"\n",
			})
			image := randomName("rel/cancelbuild")
			env := r.inputs(image, "v1.0.0", dir)
			env["INPUT_BUILD-ARGS"] = "GATE=" + url + randomName("x")
			interrupt(t, r, image, env, sig, func() {
				select {
				case <-reached:
				case <-time.After(2 * time.Minute):
					t.Fatal("the RUN step never reached the gate")
				}
			})
		})
		t.Run("during push/"+sig.String(), func(t *testing.T) {
			t.Parallel()
			row(t, "cancellation", sig.String()+" while a blob upload is held by the registry", "fault proxy holds every blob upload PUT; signal when one arrives")
			fp := newFaultProxy(t, r)
			fp.fail(kindBlobPut, -1, fault{stall: 10 * time.Minute})
			image := randomName("rel/cancelpush")
			interrupt(t, r, image, fp.inputs(r, image, "v1.0.0", uniqueContext(t, 256<<10)), sig, func() {
				deadline := time.Now().Add(2 * time.Minute)
				for fp.hits(kindBlobPut) == 0 {
					if time.Now().After(deadline) {
						t.Fatal("no blob upload reached the proxy")
					}
					time.Sleep(20 * time.Millisecond)
				}
			})
		})
	}
}

// interrupt starts the program, waits for ready, sends sig, and checks
// that it exits within 5 s, non-zero, with its temp dir gone and no tag.
func interrupt(t *testing.T, r rig, image string, env map[string]string, sig syscall.Signal, ready func()) {
	t.Helper()
	cmd := actionCommand(t, context.Background(), env)
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ready()
	sent := time.Now()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("still running 5 s after %s\n%s", sig, stdout.String())
	}
	took := time.Since(sent)
	if code := exitCode(t, err); code == 0 {
		t.Errorf("exit 0 after %s", sig)
	}
	tmp := envValue(cmd.Env, "RUNNER_TEMP")
	entries, rerr := os.ReadDir(tmp)
	if rerr != nil {
		t.Fatal(rerr)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "build-push-image-") {
			t.Errorf("temp dir %s left in RUNNER_TEMP after %s", e.Name(), sig)
		}
	}
	for _, tag := range []string{"v1.0.0", testcheck.SHA} {
		if _, status := r.headDigest(t, image, tag); status != http.StatusNotFound {
			t.Errorf("tag %s: HEAD %d after %s, want 404", tag, status, sig)
		}
	}
	testcheck.OneErrorLine(t, stdout.String(), "cancelled (SIGINT or SIGTERM): stopped before any tag was written; temporary files removed")
	testcheck.NoSecret(t, r.key, stdout.String(), stderr.String())
	t.Logf("exited %s after %s: %s", took.Round(10*time.Millisecond), sig, errorLine(stdout.String()))
}

// lockedBuffer is a bytes.Buffer the test may read while the program
// writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestBadRegistryAnswers: a host that is not a registry, TLS against a
// plain-HTTP registry, a username the key does not belong to: one clear
// line each, exit 1, and the key nowhere.
func TestBadRegistryAnswers(t *testing.T) {
	r := requireRig(t)
	const page = "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>Sign in to continue</form></body></html>"
	cases := []struct {
		name, how string
		env       func(t *testing.T) map[string]string
		want      string
	}{
		{"the image's host answers HTML (a login page)", "fault proxy answers every request 200 text/html",
			func(t *testing.T) map[string]string {
				fp := newFaultProxy(t, r)
				for _, k := range []string{kindPing, kindTagHead, kindOther} {
					fp.fail(k, -1, fault{status: 200, contentType: "text/html; charset=utf-8", body: page})
				}
				return fp.inputs(r, randomName("rel/html"), "v1.0.0", uniqueContext(t, 10))
			}, "with an HTML page (HTTP 200, text/html; charset=utf-8), not the OCI registry API"},
		{"registry-tls: enabled against a plain-HTTP registry", "registry-tls: enabled against the rig's registry",
			func(t *testing.T) map[string]string {
				env := r.inputs(randomName("rel/tls"), "v1.0.0", uniqueContext(t, 10))
				env["INPUT_REGISTRY-TLS"] = "enabled"
				return env
			}, "registry-tls: the registry speaks plain HTTP, not HTTPS"},
		{"a username the key does not belong to", "username someone-else with the rig's key",
			func(t *testing.T) map[string]string {
				env := r.inputs(randomName("rel/user"), "v1.0.0", uniqueContext(t, 10))
				env["INPUT_USERNAME"] = "someone-else"
				return env
			}, `api-key: credentials rejected by`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			row(t, "bad input", tc.name, tc.how)
			env := tc.env(t)
			env["RUNNER_DEBUG"] = "1"
			start := time.Now()
			res := runAction(t, env, nil)
			if res.code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", res.code, res.stdout, res.stderr)
			}
			testcheck.OneErrorLine(t, res.stdout, tc.want)
			if strings.Contains(res.stdout, "#1 ") {
				t.Error("the build ran although the registry cannot be used")
			}
			testcheck.NoSecret(t, r.key, res.all()...)
			t.Logf("%s: %s", time.Since(start).Round(100*time.Millisecond), errorLine(res.stdout))
		})
	}
}

// TestSecretsDebug: a successful push that pulls a private base image with
// the key (RUN step, history, labels, build args) with RUNNER_DEBUG=1: the
// key and its base64 forms are in none of stdout, stderr, $GITHUB_OUTPUT,
// $GITHUB_STEP_SUMMARY, nor in the pushed image's manifests, config
// (history) and layers.
func TestSecretsDebug(t *testing.T) {
	r := requireRig(t)
	base := baseImage(t, r)
	t.Parallel()
	row(t, "secrets", "successful push with RUNNER_DEBUG=1, private base pulled with the key", "scan stdout, stderr, GITHUB_OUTPUT, step summary, RUNNER_TEMP after the run, the rig buildkitd's log, manifests, config, layers for the key and base64 forms")
	dir := contextDir(t, map[string]string{
		"Dockerfile": "FROM " + base + "\nARG NOTE\nRUN echo \"$NOTE\" > /note && env > /env.txt\nCOPY Dockerfile /\n",
	})
	image := randomName("rel/secret")
	env := r.inputs(image, "v1.0.0", dir)
	env["RUNNER_DEBUG"] = "1"
	env["INPUT_BUILD-ARGS"] = "NOTE=not a secret"
	env["INPUT_LABELS"] = "org.example.note=not a secret"
	res := runAction(t, env, nil)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stderr, "level=DEBUG") || !strings.Contains(res.stderr, "Auth request parsed") {
		t.Errorf("RUNNER_DEBUG=1 did not turn on the registry client's debug log (login included):\n%s", res.stderr)
	}
	texts := assertPublished(t, r, image, "v1.0.0", res.outputs["digest"])
	if len(texts) < 3 {
		t.Fatalf("only %d texts from the image", len(texts))
	}
	testcheck.NoSecret(t, r.key, append(res.all(), texts...)...)
}
