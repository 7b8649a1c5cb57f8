package push

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// trickle answers 200 with a body of n bytes, one every 20 ms: alive by
// the byte, dead by the rate.
func trickle(n int) (*httptest.Server, *atomic.Int32) {
	var count atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		w.Header().Set("Content-Length", "2000")
		w.WriteHeader(http.StatusOK)
		for range n {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
			_, _ = w.Write([]byte("x"))
			w.(http.Flusher).Flush()
		}
	}))
	return srv, &count
}

// TestTrickleStalls: an answer that moves a byte at a time, far below
// minProgress per stall timeout, is abandoned like a silent one and
// retried; with Optional it is given up at once, and every later optional
// request gives up without asking.
func TestTrickleStalls(t *testing.T) {
	srv, count := trickle(2000)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/a/manifests/v1", nil)
	if _, err := fastTransport().RoundTrip(req); err == nil || count.Load() != 4 {
		t.Errorf("err %v after %d requests, want a stall after 1 try and 3 retries", err, count.Load())
	}
	count.Store(0)
	ctx := Optional(context.Background())
	tr := fastTransport()
	for range 2 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v2/a/manifests/v1", nil)
		if _, err := tr.RoundTrip(req); !isStall(err) {
			t.Errorf("optional: %v, want a stall", err)
		}
	}
	if count.Load() != 1 {
		t.Errorf("optional: %d requests, want 1 (no retry, nothing after a stall)", count.Load())
	}
}

// TestRedirectKeepsAuthInOrigin: a redirect to another port of the same
// host, or to another scheme, gets no Authorization; one to the same
// origin keeps it.
func TestRedirectKeepsAuthInOrigin(t *testing.T) {
	var other, same atomic.Value
	otherSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		other.Store(r.Header.Get("Authorization"))
	}))
	defer otherSrv.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			w.Header().Set("Location", otherSrv.URL+"/v2/a/blobs/sha256:x")
			w.WriteHeader(http.StatusTemporaryRedirect)
		case "/here":
			w.Header().Set("Location", "/there")
			w.WriteHeader(http.StatusTemporaryRedirect)
		default:
			same.Store(r.Header.Get("Authorization"))
		}
	}))
	defer srv.Close()
	client := &http.Client{Transport: fastTransport(), CheckRedirect: keepAuthInOrigin}
	for _, path := range []string{"/away", "/here"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.SetBasicAuth("ci", "zak_redirect")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	if got, _ := other.Load().(string); got != "" {
		t.Errorf("another port got Authorization %q", got)
	}
	if got, _ := same.Load().(string); !strings.HasPrefix(got, "Basic ") {
		t.Errorf("the same origin got Authorization %q, want it kept", got)
	}
	if origin(mustURL(t, "HTTPS://Reg.example/v2/")) != origin(mustURL(t, "https://reg.example:443/x")) {
		t.Error("the default port is not the same origin")
	}
}

// TestRefusalUnechoed: a refusal whose body quotes the request's
// Authorization header (a proxy's debug page, a hostile registry) is
// recorded and handed on with the credentials cut out in every form.
func TestRefusalUnechoed(t *testing.T) {
	const key = `zak_echo+"key\0123456789`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		msg, _ := json.Marshal(map[string]any{"errors": []map[string]string{{
			"code": "DENIED", "message": "you sent " + r.Header.Get("Authorization") + " for " + user + ":" + pass,
		}}})
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write(msg)
	}))
	defer srv.Close()
	ctx, rec := withRecorder(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v2/a/manifests/v1", nil)
	req.SetBasicAuth("ci", key)
	resp, err := fastTransport().RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	re := rec.refusal()
	if re == nil || re.Code != "DENIED" || !strings.Contains(re.Message, "you sent ***") {
		t.Fatalf("recorded %+v", re)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte("ci:" + key))
	for _, text := range []string{string(body), re.Error()} {
		for _, form := range []string{b64, "0123456789", `\"key`} {
			if strings.Contains(text, form) {
				t.Errorf("%q still holds %q", text, form)
			}
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestVerdict: the retry decision alone, from a try's outcome.
func TestVerdict(t *testing.T) {
	tr := fastTransport()
	status := func(code int, retryAfter string) *http.Response {
		return &http.Response{StatusCode: code, Header: http.Header{"Retry-After": {retryAfter}}}
	}
	dial := &net.OpError{Op: "dial", Err: errors.New("refused")}
	stall := &StallError{after: time.Second}
	for _, tc := range []struct {
		name              string
		resp              *http.Response
		err               error
		session, optional bool
		retry             bool
		wait              time.Duration
	}{
		{"503", status(503, ""), nil, false, false, true, 0},
		{"429 Retry-After 2", status(429, "2"), nil, false, false, true, 2 * time.Second},
		{"503 Retry-After too long", status(503, "3600"), nil, false, false, false, time.Hour},
		{"dial failure in a session", nil, dial, true, false, true, 0},
		{"stall", nil, stall, false, false, true, 0},
		{"stall in a session", nil, stall, true, false, false, 0},
		{"stall, optional", nil, stall, false, true, false, 0},
		{"cut short", nil, io.ErrUnexpectedEOF, false, false, true, 0},
		{"cut short, optional", nil, io.ErrUnexpectedEOF, false, true, true, 0},
		{"not a network failure", nil, errors.New("bad digest"), false, false, false, 0},
	} {
		if retry, wait := tr.verdict(tc.resp, tc.err, tc.session, tc.optional); retry != tc.retry || wait != tc.wait {
			t.Errorf("%s: retry %v after %s, want %v after %s", tc.name, retry, wait, tc.retry, tc.wait)
		}
	}
}
