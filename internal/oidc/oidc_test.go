package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// jwt is an unsigned token with claims: only its payload is read here.
func jwt(t *testing.T, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc(b) + "." + enc([]byte("signature"))
}

// forge answers the token request as Forgejo does, counting requests and
// refusing any without the request token.
func forge(t *testing.T, token string, hits *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Authorization") != "bearer request-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("api-version") != "2.0" || r.URL.Query().Get("audience") != "zot.example" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"value": token})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestForgeFetch(t *testing.T) {
	token := jwt(t, map[string]any{"sub": "repo:team/app:ref:refs/heads/main", "exp": time.Now().Add(time.Hour).Unix(), "aud": "zot.example"})
	var hits atomic.Int32
	srv := forge(t, token, &hits)
	f := Forge{URL: srv.URL + "/idtoken?api-version=2.0", RequestToken: "request-token", Audience: "zot.example"}
	got, err := f.Fetch(context.Background())
	if err != nil || got != token {
		t.Fatalf("Fetch = %q, %v; want the forge's token", got, err)
	}
	f.RequestToken = "wrong"
	if _, err := f.Fetch(context.Background()); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "401") {
		t.Errorf("a refused request: %v, want ErrRefused naming 401", err)
	}
}

// TestForgeNoRedirect: the request token goes to the request URL only; a
// redirect elsewhere is not followed.
func TestForgeNoRedirect(t *testing.T) {
	var elsewhere atomic.Int32
	other := forge(t, "x", &elsewhere)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	_, err := Forge{URL: srv.URL + "/idtoken?api-version=2.0", RequestToken: "request-token", Audience: "zot.example"}.Fetch(context.Background())
	if !errors.Is(err, ErrRefused) || elsewhere.Load() != 0 {
		t.Errorf("Fetch through a redirect: %v, %d requests elsewhere; want ErrRefused and none", err, elsewhere.Load())
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{EnvRequestURL: "https://forge.example/api/actions/_apis/pipelines/workflows/1/idtoken?api-version=2.0", EnvRequestToken: "t"}
	if f, err := FromEnv(func(k string) string { return env[k] }, "aud"); err != nil || f.Audience != "aud" || f.RequestToken != "t" {
		t.Errorf("FromEnv = %+v, %v", f, err)
	}
	for _, missing := range []string{EnvRequestURL, EnvRequestToken} {
		_, err := FromEnv(func(k string) string {
			if k == missing {
				return ""
			}
			return env[k]
		}, "aud")
		if !errors.Is(err, ErrNotOffered) {
			t.Errorf("without %s: %v, want ErrNotOffered", missing, err)
		}
	}
	env[EnvRequestURL] = "file:///etc/passwd"
	if _, err := FromEnv(func(k string) string { return env[k] }, "aud"); !errors.Is(err, ErrNotOffered) {
		t.Errorf("a file: URL: %v, want ErrNotOffered", err)
	}
}

func TestParse(t *testing.T) {
	c, err := Parse(jwt(t, map[string]any{"sub": "repo:a/b:pull_request", "exp": 2000000000, "aud": []string{"x", "y"}, "ref": "refs/pull/1/merge", "iss": "https://forge/api/actions"}))
	if err != nil || c.Subject != "repo:a/b:pull_request" || c.Ref != "refs/pull/1/merge" || len(c.Audience) != 2 || c.Expires().Unix() != 2000000000 {
		t.Errorf("Parse = %+v, %v", c, err)
	}
	for _, bad := range []string{"", "a.b", "a.!!!.c", "a." + base64.RawURLEncoding.EncodeToString([]byte("[]")) + ".c", jwt(t, map[string]any{"sub": "x"})} {
		if _, err := Parse(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q): %v, want ErrMalformed", bad, err)
		}
	}
}

// fetcher hands out tokens that live ttl from the forge's now, which is
// skew ahead of the clock's.
type fetcher struct {
	t     *testing.T
	now   *time.Time
	ttl   time.Duration
	skew  time.Duration
	count int
}

func (f *fetcher) Fetch(context.Context) (string, error) {
	f.count++
	forge := f.now.Add(f.skew)
	return jwt(f.t, map[string]any{"sub": "repo:a/b:ref:refs/heads/main", "iat": forge.Unix(), "exp": forge.Add(f.ttl).Unix(), "n": f.count}), nil
}

// TestSourceRenews: a token is reused while enough of its life is left,
// and replaced RefreshBefore its expiry (half-way for a short one), by
// its life counted from its fetch, whatever the forge's clock says; each
// new one is seen by WithOnToken before it is handed out.
func TestSourceRenews(t *testing.T) {
	for _, tc := range []struct {
		ttl, skew, reusedAt, renewedAt time.Duration
	}{
		{ttl: time.Hour, reusedAt: 58 * time.Minute, renewedAt: 59*time.Minute + time.Second},
		{ttl: 10 * time.Second, reusedAt: 4 * time.Second, renewedAt: 5 * time.Second},
		{ttl: 10 * time.Minute, skew: -5 * time.Minute, reusedAt: 8 * time.Minute, renewedAt: 9*time.Minute + time.Second},
		{ttl: 10 * time.Minute, skew: 5 * time.Minute, reusedAt: 8 * time.Minute, renewedAt: 9*time.Minute + time.Second},
	} {
		start := time.Unix(1_800_000_000, 0)
		now := start
		f := &fetcher{t: t, now: &now, ttl: tc.ttl, skew: tc.skew}
		var seen []string
		s := NewSource(f, WithClock(func() time.Time { return now }), WithOnToken(func(tok string) { seen = append(seen, tok) }))
		first, _, err := s.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		now = start.Add(tc.reusedAt)
		if again, _ := s.Password(context.Background()); again != first || f.count != 1 {
			t.Errorf("ttl %s, at %s: a new token (%d fetched), want the first reused", tc.ttl, tc.reusedAt, f.count)
		}
		now = start.Add(tc.renewedAt)
		renewed, _ := s.Password(context.Background())
		if renewed == first || f.count != 2 {
			t.Errorf("ttl %s, at %s: %d fetched, want a second token", tc.ttl, tc.renewedAt, f.count)
		}
		if len(seen) != 2 || seen[1] != renewed {
			t.Errorf("WithOnToken saw %d tokens, want both, before their use", len(seen))
		}
	}
}
