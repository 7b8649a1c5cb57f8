package redact

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// TestRedact: every way the program or a registry could print the key is
// cut from a line: quoted and escaped, '+' turned into '_', URL-encoded,
// and inside a Basic-auth header, for the run's user and for any other.
func TestRedact(t *testing.T) {
	const key = `zak_k+"ey\with/forms&<0123456789>`
	var s Set
	s.Add(key, "ci")
	s.Add("  ") // nothing to hide
	js, _ := json.Marshal(map[string]string{"k": key})
	for name, line := range map[string]string{
		"as is":           "key " + key + " end",
		"%q":              fmt.Sprintf("tag %q is not valid", key),
		"JSON":            string(js),
		"+ as _":          "use '_' instead (e.g. " + strings.ReplaceAll(key, "+", "_") + ")",
		"URL":             "GET /v2/x?key=" + url.QueryEscape(key),
		"path":            "GET /v2/" + url.PathEscape(key),
		"Basic, the user": "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("ci:"+key)),
		"Basic, another":  "Basic " + base64.StdEncoding.EncodeToString([]byte("someone:"+key)),
		"Basic, 1 byte":   "Basic " + base64.StdEncoding.EncodeToString([]byte("a:"+key)),
		"Basic, 2 bytes":  "Basic " + base64.StdEncoding.EncodeToString([]byte("ab:"+key)),
	} {
		got := s.Redact(line)
		if !strings.Contains(got, Hidden) {
			t.Errorf("%s: nothing hidden in %q", name, got)
		}
		for _, part := range []string{"0123456789", "with", "MDEyMzQ1Njc4OT"} {
			if strings.Contains(got, part) {
				t.Errorf("%s: %q still holds %q", name, got, part)
			}
		}
	}
	if got := s.Redact("nothing secret here: ci, zak_"); got != "nothing secret here: ci, zak_" {
		t.Errorf("a line without the key changed: %q", got)
	}
}

// TestBasic: the header a request sent gives back its user and secret.
func TestBasic(t *testing.T) {
	h := "Basic " + base64.StdEncoding.EncodeToString([]byte("ci:zak_a:b"))
	if user, secret, ok := Basic(h); !ok || user != "ci" || secret != "zak_a:b" {
		t.Errorf("Basic(%q) = %q, %q, %v", h, user, secret, ok)
	}
	for _, bad := range []string{"Bearer x", "Basic !!", ""} {
		if _, _, ok := Basic(bad); ok {
			t.Errorf("Basic(%q) ok", bad)
		}
	}
}
