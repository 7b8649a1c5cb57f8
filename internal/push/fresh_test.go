package push

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// seenAuth records the Basic login of each request it is handed.
type seenAuth struct{ pass []string }

func (s *seenAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	_, pass, _ := req.BasicAuth()
	s.pass = append(s.pass, pass)
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
}

type password struct {
	secret string
	err    error
}

func (p password) Password(context.Context) (string, error) { return p.secret, p.err }

// TestFreshAuth: the fetched password replaces the placeholder in a
// login to the registry's host only; a request to another host, or with
// no login, goes as it is; a password that cannot be got fails the
// request with ErrCredential and sends nothing.
func TestFreshAuth(t *testing.T) {
	next := &seenAuth{}
	f := &freshAuth{next: next, host: "registry.example:5000", user: "oidc", cred: password{secret: "id-token"}}
	send := func(url string, login bool) error {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if login {
			req.SetBasicAuth("oidc", freshPlaceholder)
		}
		_, err := f.RoundTrip(req)
		return err
	}
	for _, tc := range []struct {
		url   string
		login bool
		want  string
	}{
		{"http://registry.example:5000/zot/auth/token?scope=x", true, "id-token"},
		{"http://other.example:5000/zot/auth/token", true, freshPlaceholder},
		{"http://registry.example:5000/v2/", false, ""},
	} {
		if err := send(tc.url, tc.login); err != nil {
			t.Fatal(err)
		}
		if got := next.pass[len(next.pass)-1]; got != tc.want {
			t.Errorf("%s (login %v): sent password %q, want %q", tc.url, tc.login, got, tc.want)
		}
	}
	f.cred = password{err: errors.New("the forge said no")}
	before := len(next.pass)
	if err := send("http://registry.example:5000/zot/auth/token", true); !errors.Is(err, ErrCredential) || len(next.pass) != before {
		t.Errorf("no password: %v (%d sent), want ErrCredential and nothing sent", err, len(next.pass)-before)
	}
}
