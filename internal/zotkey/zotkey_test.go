package zotkey

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// lister is a Lister with fixed keys, or a failure.
type lister struct {
	keys []Key
	err  error
}

func (l lister) Keys(context.Context) ([]Key, error) { return l.keys, l.err }

var now = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func days(n float64) time.Duration { return time.Duration(n * float64(24*time.Hour)) }

func TestCheck(t *testing.T) {
	// ours is the key of the run's look-up: used last, at the registry's now.
	ours := Key{Label: "ci", Expires: now.Add(days(4.5)), LastUsed: now}
	for _, tc := range []struct {
		name   string
		l      lister
		within int
		want   Expiry
		warn   bool
	}{
		{"expires soon", lister{keys: []Key{ours}}, 14, Expiry{"ci", ours.Expires, 5}, true},
		{"expires later than the warning", lister{keys: []Key{ours}}, 4, Expiry{}, false},
		{"used before the run: not ours", lister{keys: []Key{ours, {Label: "old", Expires: now.Add(days(1)), LastUsed: now.Add(-time.Hour)}, {Label: "unused", Expires: now.Add(days(1))}}}, 14,
			Expiry{"ci", ours.Expires, 5}, true},
		{"never expires", lister{keys: []Key{{Label: "forever", LastUsed: now}, {Label: "old", Expires: now.Add(days(1)), LastUsed: now.Add(-time.Hour)}}}, 14, Expiry{}, false},
		{"look-up failed", lister{err: errors.New("404")}, 14, Expiry{}, false},
		{"no keys", lister{}, 14, Expiry{}, false},
		{"two used during the run: the nearest expiry", lister{keys: []Key{ours, {Label: "forever", LastUsed: now}, {Label: "other job", Expires: now.Add(days(0.2)), LastUsed: now.Add(-time.Second)}, {Label: "later", Expires: now.Add(days(2)), LastUsed: now}}}, 14,
			Expiry{"other job", now.Add(days(0.2)), 1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, warn := Check(context.Background(), tc.l, time.Minute, tc.within)
			if got != tc.want || warn != tc.warn {
				t.Errorf("Check: %+v %t, want %+v %t", got, warn, tc.want, tc.warn)
			}
		})
	}
}

// TestClientKeys: the request carries the credentials as Basic auth, and
// an answer that is not a list of keys is an error (no warning).
func TestClientKeys(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		switch {
		case r.URL.Path != "/zot/auth/apikey" || user != "ci" || pass != "zak_x":
			http.Error(w, "nope", http.StatusNotFound)
		default:
			_, _ = w.Write([]byte(`{"apiKeys":[{"label":"ci","expirationDate":"2026-12-11T03:38:47Z","lastUsed":"2026-12-06T11:59:59Z","uuid":"u"}]}`))
		}
	}))
	defer srv.Close()
	keys, err := Client{URL: srv.URL, User: "ci", Key: "zak_x", HTTP: srv.Client()}.Keys(context.Background())
	if err != nil || len(keys) != 1 || keys[0].Label != "ci" || keys[0].Expires.Day() != 11 || keys[0].LastUsed.Hour() != 11 {
		t.Errorf("Keys: %+v %v", keys, err)
	}
	if _, err := (Client{URL: srv.URL, User: "ci", Key: "zak_wrong", HTTP: srv.Client()}).Keys(context.Background()); !errors.Is(err, ErrNoList) {
		t.Errorf("refused: %v, want ErrNoList", err)
	}
}

// TestWrapped: the bearer token holds the user and the key, as zot's
// token endpoint writes it (checked against the real one in e2e).
func TestWrapped(t *testing.T) {
	w := Wrapped("ci", " zak_0123 ")
	enc, ok := strings.CutPrefix(w, "zot_cred_v1.")
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if !ok || err != nil || string(b) != `{"v":1,"typ":"api-key","username":"ci","secret":"zak_0123"}` {
		t.Errorf("Wrapped = %q (%s, %v)", w, b, err)
	}
}
