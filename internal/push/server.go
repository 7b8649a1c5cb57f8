package push

import (
	"net/http"
	"sync/atomic"

	"github.com/regclient/regclient/types/ref"
)

// distAPIVersion is the header the CNCF distribution registry (and those
// built on it) sends with every answer; zot sends it only at GET /v2/.
const distAPIVersion = "Docker-Distribution-Api-Version"

// spotter notes, from the answers that pass, whether the registry is a
// distribution registry, so that a zak_ password there is not taken for a
// zot API key and zot's own API is not asked for.
type spotter struct {
	next         http.RoundTripper
	distribution atomic.Bool
}

func (s *spotter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if err == nil && resp.Header.Get(distAPIVersion) != "" && req.URL.Path != "/v2/" && req.URL.Path != "/v2" {
		s.distribution.Store(true)
	}
	return resp, err
}

// Distribution says the registry answered as the distribution registry
// does (its API version header on answers beyond GET /v2/, which zot
// never sends there). Known only after a request beyond the ping.
func (r *Registry) Distribution() bool { return r.spot.distribution.Load() }

// Ref is the repository, as regclient reads it: its Registry is the
// host (Docker Hub's aliases made one).
func (r *Registry) Ref() ref.Ref { return r.repo }

// api is how the registry's own API is reached.
type api struct {
	root   string
	client *http.Client
}

func newAPI(tls TLS, host string, transport http.RoundTripper) api {
	scheme := "https://"
	if tls == TLSDisabled {
		scheme = "http://"
	}
	return api{root: scheme + host, client: &http.Client{Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// API is how a look-up reaches the registry's own API beside the OCI one
// (zot's /zot/auth/apikey): its root URL (scheme by registry-tls, and
// host) and a client sending through the same transport as every
// request of this client (its TLS choice, retries and stall watchdog),
// following no redirect. It carries no credentials: the look-up sets its
// own.
func (r *Registry) API() (root string, client *http.Client) { return r.api.root, r.api.client }
