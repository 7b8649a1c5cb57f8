package push

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/regclient/regclient/types/ref"
)

// TestAPIGoesThroughTheClient: a look-up of the registry's own API
// (zotkey's) goes to the client's host, by the client's registry-tls
// choice and through its transport: a self-signed registry answers under
// insecure and not under enabled; disabled speaks plain HTTP; a redirect
// is not followed.
func TestAPIGoesThroughTheClient(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/away" {
			w.Header().Set("Location", "https://elsewhere.invalid/")
			w.WriteHeader(http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")
	get := func(tls TLS, path string) (string, *http.Response, error) {
		r, err := ref.New(host + "/team/app")
		if err != nil {
			t.Fatal(err)
		}
		reg := New(r, WithTLS(tls), WithRetry(0, 0, 0))
		root, client := reg.API()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, root+path, nil)
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		return root, resp, err
	}
	if root, resp, err := get(TLSInsecure, "/zot/auth/apikey"); err != nil || resp.StatusCode != http.StatusOK || root != srv.URL {
		t.Errorf("insecure: %s %v %v, want 200 from %s", root, resp, err, srv.URL)
	}
	if _, _, err := get(TLSEnabled, "/zot/auth/apikey"); err == nil {
		t.Error("enabled: a self-signed certificate was taken")
	}
	if root, _, _ := get(TLSDisabled, "/"); root != "http://"+host {
		t.Errorf("disabled: root %s, want http://%s", root, host)
	}
	if _, resp, err := get(TLSInsecure, "/away"); err != nil || resp.StatusCode != http.StatusFound {
		t.Errorf("redirect: %v %v, want the 302 itself", resp, err)
	}
}
