package push

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fastTransport is the retry transport with short waits, for tests.
func fastTransport() *retryTransport {
	t := newTransport(options{retries: 3, delayInit: 5 * time.Millisecond, delayMax: 20 * time.Millisecond,
		maxRetryAfter: 3 * time.Second, stall: 300 * time.Millisecond})
	return t
}

// flaky answers status to the first n requests, then 201, and records
// every body it received.
func flaky(n int, status int, header map[string]string) (*httptest.Server, *atomic.Int32, *[]string) {
	var count atomic.Int32
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		if int(count.Add(1)) <= n {
			for k, v := range header {
				w.Header().Set(k, v)
			}
			w.WriteHeader(status)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	return srv, &count, &bodies
}

func TestRetry503ReplaysBody(t *testing.T) {
	srv, count, bodies := flaky(2, http.StatusServiceUnavailable, nil)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v2/a/manifests/v1", strings.NewReader(`{"manifest":1}`))
	resp, err := fastTransport().RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || count.Load() != 3 {
		t.Fatalf("status %d after %d requests, want 201 after 3", resp.StatusCode, count.Load())
	}
	for i, b := range *bodies {
		if b != `{"manifest":1}` {
			t.Errorf("try %d sent body %q", i+1, b)
		}
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	for _, ra := range []string{"1", "date"} {
		if ra == "date" { // whole seconds: at least 1.5 s from now
			ra = time.Now().Add(2500 * time.Millisecond).UTC().Format(http.TimeFormat)
		}
		srv, _, _ := flaky(1, http.StatusTooManyRequests, map[string]string{"Retry-After": ra})
		req, _ := http.NewRequest(http.MethodHead, srv.URL+"/v2/a/manifests/v1", nil)
		start := time.Now()
		resp, err := fastTransport().RoundTrip(req)
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if took := time.Since(start); took < 500*time.Millisecond {
			t.Errorf("Retry-After %q: retried after %s", ra, took)
		}
	}
}

func TestRetryAfterTooLongFails(t *testing.T) {
	srv, count, _ := flaky(100, http.StatusServiceUnavailable, map[string]string{"Retry-After": "600"})
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/", nil)
	_, err := fastTransport().RoundTrip(req)
	var ae *AttemptsError
	if !errors.As(err, &ae) || ae.retryAfter != "600" || count.Load() != 1 {
		t.Fatalf("err %v after %d requests, want an AttemptsError after 1", err, count.Load())
	}
	if c := classify(err, &recorder{}); !errors.Is(c, ErrRegistryFailing) || !strings.Contains(c.Error(), "asked to wait 600 s") {
		t.Errorf("classified as %v", c)
	}
}

func TestPermanent503Classified(t *testing.T) {
	srv, count, _ := flaky(100, http.StatusServiceUnavailable, nil)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v2/a/blobs/uploads/?_state=secret-ish", nil)
	_, err := fastTransport().RoundTrip(req)
	if count.Load() != 4 {
		t.Errorf("%d requests, want 1 + 3 retries", count.Load())
	}
	c := classify(err, &recorder{})
	if !errors.Is(c, ErrRegistryFailing) || strings.Contains(c.Error(), "_state") {
		t.Errorf("classified as %v", c)
	}
}

func TestStallAbandonedAndRetried(t *testing.T) {
	var count atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if count.Add(1) == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodHead, srv.URL+"/v2/a/manifests/v1", nil)
	start := time.Now()
	resp, err := fastTransport().RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if took := time.Since(start); took > 3*time.Second || count.Load() != 2 {
		t.Errorf("took %s and %d requests, want the stall abandoned after 300ms and one retry", took, count.Load())
	}
}

func TestStallInUploadSessionNotRetried(t *testing.T) {
	var count atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		_, _ = io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v2/a/blobs/uploads/123?digest=sha256:x", strings.NewReader("blob"))
	_, err := fastTransport().RoundTrip(req)
	if !isStall(err) || count.Load() != 1 {
		t.Fatalf("err %v after %d requests, want a stall after 1", err, count.Load())
	}
	if c := classify(err, &recorder{}); !errors.Is(c, ErrStalled) {
		t.Errorf("classified as %v", c)
	}
}

func TestHTMLIsNotARegistry(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>login</html>")
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/", nil)
	_, err := fastTransport().RoundTrip(req)
	c := classify(err, &recorder{})
	if !errors.Is(c, ErrNotRegistry) || strings.Contains(c.Error(), "<html>") {
		t.Fatalf("classified as %v", c)
	}
}

func TestTruncatedManifestRetried(t *testing.T) {
	var count atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "20")
		if count.Add(1) == 1 {
			_, _ = io.WriteString(w, "0123456789")
			panic(http.ErrAbortHandler)
		}
		_, _ = io.WriteString(w, "01234567890123456789")
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/a/manifests/sha256:x", nil)
	resp, err := fastTransport().RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(b) != "01234567890123456789" || count.Load() != 2 {
		t.Errorf("body %q after %d requests", b, count.Load())
	}
}

func TestCancelStopsRetries(t *testing.T) {
	srv, _, _ := flaky(100, http.StatusServiceUnavailable, map[string]string{"Retry-After": "2"})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v2/", nil)
	start := time.Now()
	_, err := fastTransport().RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("err %v after %s, want the deadline promptly", err, time.Since(start))
	}
}

func TestRefusalRecordedWithOCIError(t *testing.T) {
	for _, tc := range []struct {
		status                 int
		body                   string
		code, message, reason  string
		denied, unauth, refuse bool
	}{
		{403, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied","detail":{"reason":"release tags are immutable"}}]}`,
			"DENIED", "requested access to the resource is denied", "release tags are immutable", true, false, true},
		{412, `{"errors":[{"code":"PRECONDITION","message":"configured as immutable, cannot be updated"}]}`,
			"PRECONDITION", "configured as immutable, cannot be updated", "", false, false, true},
		{400, `{"errors":[{"code":"TAG_INVALID","message":"The image tag 'v1' already exists"}]}`,
			"TAG_INVALID", "The image tag 'v1' already exists", "", false, false, true},
		{401, `{"code":"UNAUTHORIZED","message":"bad credentials"}`, "UNAUTHORIZED", "bad credentials", "", false, true, true},
		{409, `not json`, "", "", "", false, false, true},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(tc.status)
			_, _ = io.WriteString(w, tc.body)
		}))
		ctx, rec := withRecorder(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, srv.URL+"/v2/a/manifests/v1", strings.NewReader("{}"))
		resp, err := fastTransport().RoundTrip(req)
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if string(body) != tc.body {
			t.Errorf("%d: body handed on as %q", tc.status, body)
		}
		re := rec.refusal()
		if re == nil || re.Status != tc.status || re.Code != tc.code || re.Message != tc.message || re.Reason != tc.reason {
			t.Fatalf("%d: recorded %+v", tc.status, re)
		}
		if errors.Is(re, ErrDenied) != tc.denied || errors.Is(re, ErrUnauthorized) != tc.unauth || errors.Is(re, ErrRefused) != tc.refuse {
			t.Errorf("%d: sentinels wrong for %v", tc.status, re)
		}
	}
}

func TestPlainHTTPToHTTPSServerIsTLSError(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, strings.Replace(srv.URL, "https://", "http://", 1)+"/v2/", nil)
	_, err := fastTransport().RoundTrip(req)
	var te *TLSError
	if !errors.As(err, &te) || !te.HTTPS || !errors.Is(err, ErrTLS) {
		t.Fatalf("err %v, want a TLSError saying the registry speaks HTTPS", err)
	}
}
