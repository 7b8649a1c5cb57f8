// Package zotkey says when the zot API key a run logs in with expires,
// before it does: zot lists a user's own API keys (GET /zot/auth/apikey,
// with the same Basic credentials) with each one's label, expirationDate
// and lastUsed. A key that lapses fails every push with a 401, and the
// chain that mints keys must then be re-seeded by hand.
package zotkey

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Key is one of the user's API keys as zot lists it: never the key
// itself, which zot shows only once, when it is made.
type Key struct {
	Label    string    `json:"label"`
	Expires  time.Time `json:"expirationDate"` // zero: never
	LastUsed time.Time `json:"lastUsed"`       // zero: never used
}

// Lister lists the keys of the user the credentials belong to.
type Lister interface {
	Keys(ctx context.Context) ([]Key, error)
}

// Expiry is a key that expires soon: what the warning says.
type Expiry struct {
	Label    string
	Date     time.Time
	DaysLeft int
}

// Timeout bounds the look-up: a slow registry costs a job at most this,
// and then no warning.
const Timeout = 5 * time.Second

// IsAPIKey: zot's API keys start with zak_; only with one is zot asked.
func IsAPIKey(password string) bool { return strings.HasPrefix(password, "zak_") }

// Wrapped is the bearer token a zot with combined authentication (zot
// pull request 4243) hands back for a login with user's API key at its
// token endpoint: zot_cred_v1. and the base64url of a JSON object that
// holds the user and the key itself, not encrypted. It is one more form
// of the key to mask.
func Wrapped(user, key string) string {
	b, _ := json.Marshal(struct {
		Version  int    `json:"v"`
		Type     string `json:"typ"`
		Username string `json:"username"`
		Secret   string `json:"secret"`
	}{1, "api-key", strings.TrimSpace(user), strings.TrimSpace(key)})
	return "zot_cred_v1." + base64.RawURLEncoding.EncodeToString(b)
}

// Check asks l for the keys, picks the one this run used (see Used), and
// returns it when it expires within days. Any failure of the look-up is
// no warning: it never fails a job, whose own requests say soon enough
// when the key is refused.
func Check(ctx context.Context, l Lister, ran time.Duration, days int) (Expiry, bool) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	keys, err := l.Keys(ctx)
	if err != nil {
		return Expiry{}, false
	}
	k, now, ok := Used(keys, ran)
	if !ok {
		return Expiry{}, false
	}
	left := k.Expires.Sub(now)
	if left > time.Duration(days)*24*time.Hour {
		return Expiry{}, false
	}
	return Expiry{Label: k.Label, Date: k.Expires, DaysLeft: int(math.Ceil(left.Hours() / 24))}, true
}

// Used is the key a run that began ran ago logged in with, among keys,
// and the registry's time of the look-up. zot marks a key used at every
// request it authenticates, the look-up too: the key used last is the
// run's, and its lastUsed is the registry's now (by its own clock, so a
// runner's clock that is off does not matter). When other jobs of the
// same user used other keys during the run, they cannot be told apart:
// the one of them that expires first. false when none was used, or the
// run's never expires.
func Used(keys []Key, ran time.Duration) (Key, time.Time, bool) {
	if len(keys) == 0 {
		return Key{}, time.Time{}, false
	}
	now := slices.MaxFunc(keys, func(a, b Key) int { return a.LastUsed.Compare(b.LastUsed) }).LastUsed
	var used []Key
	for _, k := range keys {
		if !k.LastUsed.IsZero() && !k.LastUsed.Before(now.Add(-ran)) {
			used = append(used, k)
		}
	}
	if len(used) == 0 {
		return Key{}, time.Time{}, false
	}
	k := slices.MinFunc(used, func(a, b Key) int { return expiry(a).Compare(expiry(b)) })
	return k, now, !k.Expires.IsZero()
}

// expiry orders keys that never expire last.
func expiry(k Key) time.Time {
	if k.Expires.IsZero() {
		return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return k.Expires
}

// Client is the Lister of one zot: its host, how it is reached, and the
// credentials the run logs in with.
type Client struct {
	URL       string // scheme://host of the registry
	User, Key string
	// HTTP sends the request: the registry client's (push.Registry.API),
	// so that the look-up goes through the run's transport and TLS choice.
	// It should follow no redirect.
	HTTP *http.Client
}

// maxAnswer bounds what is read of the answer: a user has a few keys.
const maxAnswer = 1 << 20

// ErrNoList means the registry did not list the keys (not zot, keys
// not enabled, or the request refused).
var ErrNoList = errors.New("no list of API keys")

// Keys lists the user's keys. Its request carries the credentials only in
// the Authorization header; nothing of the answer but labels and dates is
// kept.
func (c Client) Keys(ctx context.Context) ([]Key, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/zot/auth/apikey", nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(c.User, c.Key)
	req.Header.Set("User-Agent", "build-push-image")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: GET /zot/auth/apikey: %s", ErrNoList, resp.Status)
	}
	var body struct {
		APIKeys []Key `json:"apiKeys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(&body); err != nil {
		return nil, fmt.Errorf("%w: GET /zot/auth/apikey: %w", ErrNoList, err)
	}
	return body.APIKeys, nil
}
