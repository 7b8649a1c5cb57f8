package testrig

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Issuer is an OIDC issuer on 127.0.0.1 that serves what Forgejo (v15
// and later) serves its Actions jobs: the discovery document and the JWKS
// under <instance>/api/actions, and the token request endpoint a job with
// enable-openid-connect asks with its request token
// (ACTIONS_ID_TOKEN_REQUEST_URL + &audience=…, "Authorization: bearer
// $ACTIONS_ID_TOKEN_REQUEST_TOKEN"), answering {"value": "<JWT>"} signed
// RS256 with a key made for this run, with Forgejo's claims.
type Issuer struct {
	// URL is the issuer, the iss of its tokens: http://127.0.0.1:<port>/api/actions.
	URL string
	key *rsa.PrivateKey
	kid string
	srv *http.Server

	mu     sync.Mutex
	jobs   map[string]Job // by request token
	issued []string
}

// Job is one job the issuer hands ID tokens to: what its claims say.
// EventName pull_request makes the sub Forgejo gives pull requests.
type Job struct {
	Repository, Ref, SHA, EventName, RunID, Workflow string
	// TTL is how long each token lives; zero: an hour.
	TTL time.Duration
}

// Subject is the sub Forgejo gives the job's tokens:
// repo:<owner>/<repo>:ref:<ref>, or repo:<owner>/<repo>:pull_request.
func (j Job) Subject() string {
	if j.EventName == "pull_request" {
		return "repo:" + j.Repository + ":pull_request"
	}
	return "repo:" + j.Repository + ":ref:" + j.Ref
}

// StartIssuer starts an issuer with a fresh RSA key.
func StartIssuer() (*Issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	i := &Issuer{URL: "http://" + ln.Addr().String() + "/api/actions", key: key, kid: randomHex(8), jobs: map[string]Job{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/actions/.well-known/openid-configuration", i.discovery)
	mux.HandleFunc("GET /api/actions/.well-known/keys", i.keys)
	mux.HandleFunc("GET /api/actions/_apis/pipelines/workflows/{run}/idtoken", i.token)
	i.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = i.srv.Serve(ln) }()
	return i, nil
}

// Close stops the issuer.
func (i *Issuer) Close() { _ = i.srv.Close() }

// Offer registers job and returns what its runner would put in its
// environment: ACTIONS_ID_TOKEN_REQUEST_URL and
// ACTIONS_ID_TOKEN_REQUEST_TOKEN.
func (i *Issuer) Offer(job Job) (requestURL, requestToken string) {
	if job.RunID == "" {
		job.RunID = "1"
	}
	token := randomHex(20)
	i.mu.Lock()
	i.jobs[token] = job
	i.mu.Unlock()
	return i.URL + "/_apis/pipelines/workflows/" + job.RunID + "/idtoken?api-version=2.0", token
}

// Issued are the ID tokens the issuer handed out, in order: a test looks
// for them where they must not be.
func (i *Issuer) Issued() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]string(nil), i.issued...)
}

func (i *Issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                i.URL,
		"jwks_uri":                              i.URL + "/.well-known/keys",
		"subject_types_supported":               []string{"public"},
		"response_types_supported":              []string{"id_token"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid"},
		"claims_supported":                      []string{"sub", "aud", "exp", "iat", "iss", "nbf", "repository", "repository_owner", "ref", "sha", "event_name", "run_id", "workflow", "actor"},
	})
}

func (i *Issuer) keys(w http.ResponseWriter, _ *http.Request) {
	pub := i.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []any{map[string]any{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": i.kid,
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// token answers a job's token request: its request token, from the
// Authorization header only, must be one the issuer offered.
func (i *Issuer) token(w http.ResponseWriter, req *http.Request) {
	scheme, token, _ := strings.Cut(req.Header.Get("Authorization"), " ")
	i.mu.Lock()
	job, ok := i.jobs[token]
	i.mu.Unlock()
	if !strings.EqualFold(scheme, "bearer") || !ok || job.RunID != req.PathValue("run") {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "bad request token"})
		return
	}
	audience := req.URL.Query().Get("audience")
	if audience == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "no audience"})
		return
	}
	jwt, err := i.sign(job, audience)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": err.Error()})
		return
	}
	i.mu.Lock()
	i.issued = append(i.issued, jwt)
	i.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"value": jwt})
}

// sign makes job's JWT for audience, with Forgejo's claims.
func (i *Issuer) sign(job Job, audience string) (string, error) {
	ttl := job.TTL
	if ttl == 0 {
		ttl = time.Hour
	}
	now := time.Now()
	owner, _, _ := strings.Cut(job.Repository, "/")
	claims := map[string]any{
		"iss": i.URL, "sub": job.Subject(), "aud": audience, "jti": randomHex(8),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(),
		"repository": job.Repository, "repository_owner": owner, "ref": job.Ref, "sha": job.SHA,
		"event_name": job.EventName, "run_id": job.RunID, "workflow": job.Workflow, "actor": "ci",
		"ref_type": "branch",
	}
	header, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": i.kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signed := b64(header) + "." + b64(payload)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, i.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return signed + "." + b64(sig), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
