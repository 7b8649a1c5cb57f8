// Package oidc gets the job's own OIDC ID token from the forge, so that a
// run can publish with its identity instead of a registry key. A Forgejo
// (v15 and later) or GitHub job with enable-openid-connect (id-token:
// write) finds ACTIONS_ID_TOKEN_REQUEST_URL and
// ACTIONS_ID_TOKEN_REQUEST_TOKEN in its environment; GET on the URL with
// &audience=<aud> and "Authorization: bearer <request token>" answers
// {"value": "<JWT>"}. The registry (zot's bearer oidc) verifies the JWT;
// this package only reads its claims, unverified, to say who the job is
// and when the token lapses. Source fetches a new token before it does.
package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The variables a job with enable-openid-connect gets from its runner.
const (
	EnvRequestURL   = "ACTIONS_ID_TOKEN_REQUEST_URL"
	EnvRequestToken = "ACTIONS_ID_TOKEN_REQUEST_TOKEN" //nolint:gosec // a name, not a secret
)

var (
	// ErrNotOffered means the job has no way to ask for an ID token: the
	// workflow does not set enable-openid-connect.
	ErrNotOffered = errors.New("the forge offered this job no ID token")
	// ErrRefused means the forge answered the token request with an error.
	ErrRefused = errors.New("the forge refused the ID token request")
	// ErrMalformed means what came back is not a JWT whose claims can be read.
	ErrMalformed = errors.New("not an ID token")
)

// Error is a failure to get an ID token: which kind (one of the
// sentinels above, for errors.Is) and what happened.
type Error struct {
	Kind   error
	Detail string
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Detail }

// Is makes an Error its kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

func fail(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// Fetcher gets a fresh ID token.
type Fetcher interface {
	Fetch(ctx context.Context) (string, error)
}

// Forge is the job's token request: the URL and request token its runner
// gave it, and the audience the registry expects.
type Forge struct {
	URL, RequestToken, Audience string
}

// FromEnv is the token request of a job: ErrNotOffered when the runner
// set neither variable (nor one of them).
func FromEnv(getenv func(string) string, audience string) (Forge, error) {
	f := Forge{URL: getenv(EnvRequestURL), RequestToken: getenv(EnvRequestToken), Audience: audience}
	if f.URL == "" || f.RequestToken == "" {
		return Forge{}, ErrNotOffered
	}
	u, err := url.Parse(f.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return Forge{}, fail(ErrNotOffered, "%s is not an http(s) URL", EnvRequestURL)
	}
	return f, nil
}

// Timeout bounds one token request.
const Timeout = 30 * time.Second

// maxAnswer bounds what is read of the forge's answer: a JWT is a few KiB.
const maxAnswer = 1 << 20

// Fetch asks the forge for an ID token. The request token goes to the
// request URL only: redirects are not followed.
func (f Forge) Fetch(ctx context.Context) (string, error) {
	u, err := url.Parse(f.URL)
	if err != nil {
		return "", fail(ErrNotOffered, "%s: %v", EnvRequestURL, err)
	}
	q := u.Query()
	q.Set("audience", f.Audience)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "bearer "+f.RequestToken)
	req.Header.Set("Accept", "application/json")
	client := &http.Client{Timeout: Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return "", fail(ErrRefused, "%s: %v", u.Host, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fail(ErrRefused, "%s answered %s", u.Host, resp.Status)
	}
	var body struct {
		Value string `json:"value"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(&body); err != nil {
		return "", fail(ErrMalformed, "%s answered no {\"value\": ...}", u.Host)
	}
	if _, err := Parse(body.Value); err != nil {
		return "", err
	}
	return body.Value, nil
}

// Claims are what an ID token says of the job (Forgejo's and GitHub's
// names), read without verifying the signature: the registry verifies.
type Claims struct {
	Issuer     string   `json:"iss"`
	Subject    string   `json:"sub"`
	Audience   audience `json:"aud"`
	Expiry     int64    `json:"exp"`
	IssuedAt   int64    `json:"iat"`
	Repository string   `json:"repository"`
	Ref        string   `json:"ref"`
	EventName  string   `json:"event_name"`
}

// Expires is when the token lapses.
func (c Claims) Expires() time.Time { return time.Unix(c.Expiry, 0) }

// audience is aud: one string or a list of them.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = audience{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

// Parse reads the claims of a JWT (header.payload.signature), unverified.
func Parse(token string) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, fail(ErrMalformed, "not three dot-separated parts")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Claims{}, fail(ErrMalformed, "its payload is not base64url")
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Claims{}, fail(ErrMalformed, "its payload is not JSON claims")
	}
	if c.Subject == "" || c.Expiry == 0 {
		return Claims{}, fail(ErrMalformed, "no sub or no exp claim")
	}
	return c, nil
}

// RefreshBefore is how long before its expiry a token is replaced; a
// short-lived token is replaced once half its life is gone.
const RefreshBefore = time.Minute

// Source is the job's ID token, fetched when first needed and again when
// little of its life is left, so a long job never presents a lapsed one.
// It is safe for concurrent use.
type Source struct {
	fetch   Fetcher
	onToken func(string)
	now     func() time.Time

	mu      sync.Mutex
	token   string
	claims  Claims
	fetched time.Time
}

// Opt configures NewSource.
type Opt func(*Source)

// WithOnToken has f see every token fetched before anyone uses it: the
// program masks it there.
func WithOnToken(f func(token string)) Opt { return func(s *Source) { s.onToken = f } }

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Opt { return func(s *Source) { s.now = now } }

// NewSource is a Source that gets its tokens from f.
func NewSource(f Fetcher, opts ...Opt) *Source {
	s := &Source{fetch: f, onToken: func(string) {}, now: time.Now}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// Token is a token with enough life left, fetched anew when needed.
func (s *Source) Token(ctx context.Context) (string, Claims, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.now().Before(s.renewAt()) {
		return s.token, s.claims, nil
	}
	token, err := s.fetch.Fetch(ctx)
	if err != nil {
		return "", s.claims, err
	}
	c, err := Parse(token)
	if err != nil {
		return "", s.claims, err
	}
	s.onToken(token)
	s.token, s.claims, s.fetched = token, c, s.now()
	return token, c, nil
}

// renewAt is when the token held is replaced: RefreshBefore the end of
// its life, or half-way through it when it lives shorter than twice that.
// Its life (exp - iat) is counted from when it was fetched, by this
// machine's clock, so a runner whose clock is off by minutes still renews
// in time.
func (s *Source) renewAt() time.Time {
	life := time.Duration(s.claims.Expiry-s.claims.IssuedAt) * time.Second
	if s.claims.IssuedAt == 0 || life <= 0 {
		life = s.claims.Expires().Sub(s.fetched)
	}
	return s.fetched.Add(life - min(RefreshBefore, life/2))
}

// Password is a token for a login: the registry's token endpoint takes the
// ID token as the password.
func (s *Source) Password(ctx context.Context) (string, error) {
	token, _, err := s.Token(ctx)
	return token, err
}

// Claims are the claims of the last token fetched (zero before any), to
// name the identity in a message.
func (s *Source) Claims() Claims {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claims
}
