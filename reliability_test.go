package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Reliability tests: registry faults through faultProxy, races between
// jobs, cancellation, and secrets. Each records a row for
// docs/reliability.md when BPI_RELIABILITY_REPORT names a file (see
// TestReliabilityDoc).

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
	resp := r.request(t, http.MethodGet, "/v2/"+image+"/"+kind+"/"+digest, nil, "")
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s %s: %s %v", kind, digest, resp.Status, err)
	}
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
	for _, tag := range []string{version, testSHA} {
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
	for _, tag := range []string{version, testSHA} {
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
	}{
		{"503 on blob upload POST", func(fp *faultProxy) { fp.fail(kindBlobPost, 2, fault{status: 503}) }, kindBlobPost, 2},
		{"503 with Retry-After on blob upload PUT", func(fp *faultProxy) { fp.fail(kindBlobPut, 2, fault{status: 503, retryAfter: "1"}) }, kindBlobPut, 2},
		{"500 on blob HEAD", func(fp *faultProxy) { fp.fail(kindBlobHead, 2, fault{status: 500}) }, kindBlobHead, 2},
		{"502 (nginx HTML page) on manifest PUT", func(fp *faultProxy) {
			fp.fail(kindManifestPut, 2, fault{status: 502, contentType: "text/html", body: nginx502})
		}, kindManifestPut, 2},
		{"504 on tag HEAD", func(fp *faultProxy) { fp.fail(kindTagHead, 2, fault{status: 504}) }, kindTagHead, 2},
		{"429 with Retry-After on tag PUT", func(fp *faultProxy) { fp.fail(kindTagPut, 2, fault{status: 429, retryAfter: "1"}) }, kindTagPut, 2},
		{"429 without Retry-After on blob upload PUT", func(fp *faultProxy) { fp.fail(kindBlobPut, 2, fault{status: 429}) }, kindBlobPut, 2},
		{"503 with Retry-After as HTTP date on manifest HEAD", func(fp *faultProxy) {
			fp.fail(kindManifestHead, 1, fault{status: 503, retryAfter: httpDate()})
		}, kindManifestHead, 1},
		{"503 on blob upload PATCH (chunked upload)", func(fp *faultProxy) {
			// A refused monolithic PUT makes regclient fall back to a
			// chunked upload (PATCH) in the same session.
			fp.fail(kindBlobPut, 1, fault{status: 400, body: `{"errors":[{"code":"BLOB_UPLOAD_INVALID"}]}`, contentType: "application/json"})
			fp.fail(kindBlobPatch, 2, fault{status: 503})
		}, kindBlobPatch, 2},
		{"connection reset mid-blob (half the blob reached the registry)", func(fp *faultProxy) { fp.fail(kindBlobPut, 1, fault{reset: true}) }, kindBlobPut, 1},
		{"truncated manifest GET response", func(fp *faultProxy) { fp.fail(kindManifestGet, 1, fault{truncate: true}) }, kindManifestGet, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			row(t, "transient fault", tc.name, fmt.Sprintf("fault proxy: first %d %s request(s)", tc.times, tc.kind))
			fp := newFaultProxy(t, r)
			tc.rules(fp)
			image := randomName("rel/fault")
			start := time.Now()
			res := runAction(t, fp.inputs(r, image, "v1.0.0", uniqueContext(t, 64<<10)), nil)
			if res.code != 0 {
				t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
			}
			if got := fp.hits(tc.kind); got != tc.times {
				t.Errorf("%d %s requests broken, want %d: the fault did not happen", got, tc.kind, tc.times)
			}
			texts := assertPublished(t, r, image, "v1.0.0", res.outputs["digest"])
			assertNoSecret(t, r.key, append(res.all(), texts...)...)
			t.Logf("pushed through the faults in %s", time.Since(start).Round(100*time.Millisecond))
		})
	}
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
			fp := newFaultProxy(t, r)
			tc.rules(fp)
			image := randomName("rel/down")
			start := time.Now()
			res := runAction(t, fp.inputs(r, image, "v1.0.0", uniqueContext(t, 64<<10)), nil)
			if res.code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", res.code, res.stdout, res.stderr)
			}
			assertOneErrorLine(t, res.stdout, tc.want)
			if line := errorLine(res.stdout); len(line) > 600 || strings.Contains(line, "<html") {
				t.Errorf("error line is not short and clear: %q", line)
			}
			assertNoTagOrComplete(t, r, image, "v1.0.0")
			assertNoSecret(t, r.key, res.all()...)
			t.Logf("failed in %s: %s", time.Since(start).Round(100*time.Millisecond), errorLine(res.stdout))
		})
	}
}

// TestReliabilityDoc writes docs/reliability.md's table from the rows the
// other tests recorded: run them with BPI_RELIABILITY_REPORT=rows.jsonl,
// then this with BPI_RELIABILITY_DOC=docs/reliability.md.
func TestReliabilityDoc(t *testing.T) {
	doc, rows := os.Getenv("BPI_RELIABILITY_DOC"), os.Getenv(envReport)
	if doc == "" || rows == "" {
		t.Skip("set BPI_RELIABILITY_DOC and " + envReport + " to regenerate docs/reliability.md")
	}
	raw, err := os.ReadFile(rows)
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var rec map[string]string
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%s: %v", rows, err)
		}
		recs = append(recs, rec)
	}
	order := map[string]int{"transient fault": 0, "permanent fault": 1, "race": 2, "cancellation": 3, "bad input": 4, "secrets": 5}
	sort.SliceStable(recs, func(i, j int) bool { return order[recs[i]["area"]] < order[recs[j]["area"]] })
	old, _ := os.ReadFile(doc)
	head, _, _ := strings.Cut(string(old), tableStart)
	var b strings.Builder
	b.WriteString(head + tableStart + "\n\n")
	b.WriteString("| area | scenario | how it is tested | result | test | s |\n|---|---|---|---|---|---|\n")
	for _, rec := range recs {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | `%s` | %s |\n", rec["area"], rec["scenario"], rec["how"], rec["result"], rec["test"], rec["seconds"])
	}
	b.WriteString("\n" + tableEnd + "\n")
	if _, tail, ok := strings.Cut(string(old), tableEnd); ok {
		b.WriteString(strings.TrimPrefix(tail, "\n"))
	}
	if err := os.WriteFile(doc, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

const (
	tableStart = "<!-- table: generated by TestReliabilityDoc -->"
	tableEnd   = "<!-- end of table -->"
)
