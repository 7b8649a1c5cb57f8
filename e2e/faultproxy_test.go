package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// faultProxy is a reverse proxy in front of the rig's registry that breaks
// chosen requests: it answers an error status, resets the connection part
// way through a request body, holds a request, or
// emulates zot's registry-side tag immutability. The program under test
// is pointed at the proxy's address as the image's host; the tests check
// the outcome against the real registry directly.
type faultProxy struct {
	t     *testing.T
	addr  string // host:port of the proxy
	up    *url.URL
	proxy *httputil.ReverseProxy

	mu     sync.Mutex
	rules  []*faultRule
	counts map[string]int // requests seen, by kind
	// zot makes a manifest PUT to a tag that already exists answer 403
	// DENIED, as zot does for a user without the update permission, and
	// a manifest of a Docker media type answer 415 MANIFEST_INVALID, as
	// zot does without its docker2s2 compatibility setting.
	zot    bool
	tagMu  sync.Mutex
	tagLks map[string]*sync.Mutex
	// via is the push-via of the run pushThroughFaults starts ("": default).
	via string

	// key and temps: at every manifest upload, the RUNNER_TEMP of each run
	// sent through the proxy (its OCI layout, while it exists) is scanned
	// for the key; layouts counts the layouts seen.
	key     string
	temps   []string
	layouts int
}

// faultRule breaks the first times requests of one kind (-1: all of them).
type faultRule struct {
	kind  string
	times int
	fault fault
	hits  int
}

// fault is what happens to a broken request.
type fault struct {
	status      int    // answer this status (with an OCI error body)
	retryAfter  string // Retry-After header on that answer
	challenge   string // WWW-Authenticate header on that answer, as a registry's 401 has
	contentType string // instead of application/json
	body        string // instead of the OCI error body
	reset       bool   // forward half the request body upstream, then reset the client's connection
	stall       time.Duration
	inspect     func() // called while the request is held, before it goes on
	forward     bool   // let the request reach the registry, then answer status instead of its answer
	tag         string // only requests for this tag (HEAD, GET, PUT of /manifests/<tag>)
	after       string // only once the proxy saw a request of this kind
	// notAction: only requests that do not come from the action itself
	// (buildkitd's pusher), as when buildkitd cannot reach the registry.
	notAction bool
	// authorized: only requests that carry an Authorization header.
	authorized bool
	redirect   string // answer 307 to this host:port, same path and query
	echoAuth   bool   // the status's OCI error quotes the request's Authorization
	trickle    bool   // forward, then send the registry's answer a byte a second
}

// applies says whether f breaks req, of kind, given the counts so far.
func (f *fault) applies(req *http.Request, counts map[string]int) bool {
	if f.tag != "" && !strings.HasSuffix(req.URL.Path, "/manifests/"+f.tag) {
		return false
	}
	if f.notAction && strings.HasPrefix(req.UserAgent(), "build-push-image") {
		return false
	}
	if f.authorized && req.Header.Get("Authorization") == "" {
		return false
	}
	return f.after == "" || counts[f.after] > 0
}

// Request kinds, by the distribution API's routes.
const (
	kindPing         = "ping"          // GET /v2/
	kindBlobPost     = "blob-post"     // POST /v2/<name>/blobs/uploads/
	kindBlobMount    = "blob-mount"    // POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<other name> (a POST with mount= alone is an upload that offers the digest)
	kindPushCheck    = "push-check"    // POST /v2/<name>/blobs/uploads/?mount=<random digest>&from=<name>: the push check, an upload started and cancelled
	kindBlobPatch    = "blob-patch"    // PATCH /v2/<name>/blobs/uploads/<id>
	kindBlobPut      = "blob-put"      // PUT /v2/<name>/blobs/uploads/<id>?digest=
	kindBlobHead     = "blob-head"     // HEAD /v2/<name>/blobs/<digest>
	kindBlobGet      = "blob-get"      // GET /v2/<name>/blobs/<digest>
	kindManifestPut  = "manifest-put"  // PUT /v2/<name>/manifests/<digest>
	kindTagPut       = "tag-put"       // PUT /v2/<name>/manifests/<tag>
	kindManifestHead = "manifest-head" // HEAD /v2/<name>/manifests/<digest>
	kindTagHead      = "tag-head"      // HEAD /v2/<name>/manifests/<tag>
	kindManifestGet  = "manifest-get"  // GET /v2/<name>/manifests/<digest or tag>
	kindTagsList     = "tags-list"     // GET /v2/<name>/tags/list
	kindZotAPI       = "zot-api"       // /zot/... (zot's own API: its API keys)
	kindOther        = "other"
)

func requestKind(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/v2/" || p == "/v2":
		return kindPing
	case strings.HasPrefix(p, "/zot/"):
		return kindZotAPI
	case strings.HasSuffix(p, "/tags/list"):
		return kindTagsList
	case strings.HasSuffix(p, "/blobs/uploads/") && r.Method == http.MethodPost && r.URL.Query().Get("from") == strings.TrimSuffix(strings.TrimPrefix(p, "/v2/"), "/blobs/uploads/"):
		return kindPushCheck
	case strings.HasSuffix(p, "/blobs/uploads/") && r.Method == http.MethodPost && r.URL.Query().Has("mount") && r.URL.Query().Has("from"):
		return kindBlobMount
	case strings.HasSuffix(p, "/blobs/uploads/") && r.Method == http.MethodPost:
		return kindBlobPost
	case strings.Contains(p, "/blobs/uploads/") && r.Method == http.MethodPatch:
		return kindBlobPatch
	case strings.Contains(p, "/blobs/uploads/") && r.Method == http.MethodPut:
		return kindBlobPut
	case strings.Contains(p, "/blobs/") && r.Method == http.MethodHead:
		return kindBlobHead
	case strings.Contains(p, "/blobs/") && r.Method == http.MethodGet:
		return kindBlobGet
	case strings.Contains(p, "/manifests/"):
		byDigest := strings.Contains(p[strings.LastIndex(p, "/"):], ":")
		switch r.Method {
		case http.MethodPut:
			if byDigest {
				return kindManifestPut
			}
			return kindTagPut
		case http.MethodHead:
			if byDigest {
				return kindManifestHead
			}
			return kindTagHead
		case http.MethodGet:
			return kindManifestGet
		}
	}
	return kindOther
}

// newFaultProxy starts a proxy to the rig's registry until the test ends.
func newFaultProxy(t *testing.T, r rig) *faultProxy {
	t.Helper()
	up := &url.URL{Scheme: "http", Host: r.registry}
	fp := &faultProxy{t: t, up: up, counts: map[string]int{}, tagLks: map[string]*sync.Mutex{}, key: r.key}
	fp.proxy = &httputil.ReverseProxy{
		// The Host header stays the proxy's, so the registry's upload
		// Locations point back through the proxy.
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			pr.Out.Host = pr.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			if err == context.Canceled {
				return
			}
			http.Error(w, err.Error(), http.StatusBadGateway)
		},
	}
	fp.addr = strings.TrimPrefix(strings.TrimSuffix(serve(t, &http.Server{Handler: fp}), "/"), "http://")
	return fp
}

// fail adds a rule: the first times requests of kind get f.
func (fp *faultProxy) fail(kind string, times int, f fault) *faultProxy {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.rules = append(fp.rules, &faultRule{kind: kind, times: times, fault: f})
	return fp
}

// count is how many requests of kind the proxy saw.
func (fp *faultProxy) count(kind string) int {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return fp.counts[kind]
}

// hits is how many requests of kind a rule broke.
func (fp *faultProxy) hits(kind string) int {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	n := 0
	for _, rl := range fp.rules {
		if rl.kind == kind {
			n += rl.hits
		}
	}
	return n
}

// inputs are the rig's inputs with the proxy as the image's host.
// Each run gets a RUNNER_TEMP of its own, scanned while it tags.
func (fp *faultProxy) inputs(r rig, image, version, dir string) map[string]string {
	env := r.inputs(image, version, dir)
	env["INPUT_IMAGE"] = fp.addr + "/" + image
	env["RUNNER_TEMP"] = fp.t.TempDir()
	fp.mu.Lock()
	fp.temps = append(fp.temps, env["RUNNER_TEMP"])
	fp.mu.Unlock()
	return env
}

// scanTemps checks every run's RUNNER_TEMP for the key, while a manifest PUT
// holds: the OCI layout the action pushes from exists while it uploads.
func (fp *faultProxy) scanTemps() {
	fp.mu.Lock()
	temps := slices.Clone(fp.temps)
	fp.mu.Unlock()
	for _, dir := range temps {
		testcheck.NoSecret(fp.t, fp.key, fileTexts(fp.t, dir)...)
		if hasFile(fp.t, dir, "index.json") {
			fp.mu.Lock()
			fp.layouts++
			fp.mu.Unlock()
		}
	}
}

// layoutsScanned is how many OCI layouts scanTemps has seen.
func (fp *faultProxy) layoutsScanned() int {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return fp.layouts
}

func (fp *faultProxy) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	kind := requestKind(req)
	fp.mu.Lock()
	var f *fault
	for _, rl := range fp.rules {
		if rl.kind == kind && (rl.times < 0 || rl.hits < rl.times) && rl.fault.applies(req, fp.counts) {
			rl.hits++
			f = &rl.fault
			break
		}
	}
	fp.counts[kind]++
	fp.mu.Unlock()
	if kind == kindManifestPut {
		fp.scanTemps()
	}
	if f != nil && f.inspect != nil {
		f.inspect()
	}
	if f != nil && f.stall > 0 {
		select {
		case <-req.Context().Done():
			return
		case <-time.After(f.stall):
		}
	}
	switch {
	case f != nil && f.forward:
		fp.proxy.ServeHTTP(discardAnswer{}, req)
		fp.answer(w, req, f)
	case f != nil && f.redirect != "":
		w.Header().Set("Location", "http://"+f.redirect+req.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
	case f != nil && f.trickle:
		fp.trickle(w, req)
	case f != nil && f.status != 0:
		fp.answer(w, req, f)
	case f != nil && f.reset:
		fp.reset(w, req)
	case kind == kindTagPut && fp.zot:
		fp.zotTagPut(w, req)
	case kind == kindManifestPut && fp.zot && !zotMediaType(req):
		zotUnsupported(w, req)
	default:
		fp.proxy.ServeHTTP(w, req)
	}
}

// discardAnswer swallows the registry's answer to a forwarded request.
type discardAnswer struct{}

func (discardAnswer) Header() http.Header         { return http.Header{} }
func (discardAnswer) Write(b []byte) (int, error) { return len(b), nil }
func (discardAnswer) WriteHeader(int)             {}

func (fp *faultProxy) answer(w http.ResponseWriter, req *http.Request, f *fault) {
	_, _ = io.Copy(io.Discard, req.Body)
	ct, body := "application/json", fmt.Sprintf(`{"errors":[{"code":"UNAVAILABLE","message":"injected %d"}]}`, f.status)
	if f.echoAuth {
		msg, _ := json.Marshal("you sent Authorization: " + req.Header.Get("Authorization"))
		body = `{"errors":[{"code":"DENIED","message":` + string(msg) + `}]}`
	}
	if f.contentType != "" {
		ct, body = f.contentType, f.body
	}
	w.Header().Set("Content-Type", ct)
	if f.retryAfter != "" {
		w.Header().Set("Retry-After", f.retryAfter)
	}
	if f.challenge != "" {
		w.Header().Set("WWW-Authenticate", f.challenge)
	}
	w.WriteHeader(f.status)
	if req.Method != http.MethodHead {
		_, _ = io.WriteString(w, body)
	}
}

// trickle forwards req to the registry and sends its answer back a byte
// a second, headers first, until the client gives up.
func (fp *faultProxy) trickle(w http.ResponseWriter, req *http.Request) {
	rec := httptest.NewRecorder()
	fp.proxy.ServeHTTP(rec, req)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(rec.Body.Len()))
	w.WriteHeader(rec.Code)
	for _, b := range rec.Body.Bytes() {
		select {
		case <-req.Context().Done():
			return
		case <-time.After(time.Second):
		}
		_, _ = w.Write([]byte{b})
		http.NewResponseController(w).Flush()
	}
}

// reset sends the first half of the request body to the registry (so an
// upload session may hold part of a blob, as after a real network break),
// then drops the client's connection with a TCP reset.
func (fp *faultProxy) reset(w http.ResponseWriter, req *http.Request) {
	if req.ContentLength > 1 {
		out := req.Clone(context.Background())
		out.URL.Scheme, out.URL.Host, out.RequestURI = fp.up.Scheme, fp.up.Host, ""
		out.Body = io.NopCloser(io.LimitReader(req.Body, req.ContentLength/2))
		if resp, err := http.DefaultTransport.RoundTrip(out); err == nil {
			_ = resp.Body.Close()
		}
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

const zotDenied = `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied","detail":{"action":"update"}}]}`

// zotTagPut refuses a manifest PUT to a tag that already exists, with
// zot's answer, as zot does for a create-only user. The check and the PUT
// hold a per-tag lock, like zot's repository lock, so that of concurrent
// PUTs to a new tag exactly one creates it.
func (fp *faultProxy) zotTagPut(w http.ResponseWriter, req *http.Request) {
	fp.tagMu.Lock()
	lk := fp.tagLks[req.URL.Path]
	if lk == nil {
		lk = &sync.Mutex{}
		fp.tagLks[req.URL.Path] = lk
	}
	fp.tagMu.Unlock()
	lk.Lock()
	defer lk.Unlock()
	head, err := http.NewRequest(http.MethodHead, fp.up.String()+req.URL.Path, nil)
	if err != nil {
		panic(err)
	}
	head.Header.Set("Authorization", req.Header.Get("Authorization"))
	head.Header.Set("Accept", manifestTypes)
	resp, err := http.DefaultClient.Do(head)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		_, _ = io.Copy(io.Discard, req.Body)
		w.Header().Set("WWW-Authenticate", `Basic realm="zot"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, zotDenied)
	case !zotMediaType(req):
		zotUnsupported(w, req)
	default:
		fp.proxy.ServeHTTP(w, req)
	}
}

// zotMediaType: the manifest PUT is of a media type zot takes without
// docker2s2, an OCI manifest or index (zot's IsSupportedMediaType).
func zotMediaType(req *http.Request) bool {
	ct := req.Header.Get("Content-Type")
	return ct == "application/vnd.oci.image.manifest.v1+json" || ct == "application/vnd.oci.image.index.v1+json"
}

// zotUnsupported is zot's answer to a manifest of another media type:
// checked after the permission, before the body is read.
func zotUnsupported(w http.ResponseWriter, req *http.Request) {
	_, _ = io.Copy(io.Discard, req.Body)
	body, _ := json.Marshal(map[string]any{"errors": []any{map[string]any{
		"code": "MANIFEST_INVALID", "message": "manifest invalid",
		"detail": map[string]string{"mediaType": req.Header.Get("Content-Type")},
	}}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnsupportedMediaType)
	_, _ = w.Write(body)
}
