package push

import (
	"net/http"
	"sync/atomic"
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
