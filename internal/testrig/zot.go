package testrig

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// EnvZotBinary names a zot binary (not built here: the module proxy does
// not serve zot); when set, the zot tests push to a real zot started with
// StartZot instead of the fault proxy's emulation of one. .ci/run sets it
// when ../shared/tools/zot is beside the clone.
const EnvZotBinary = "ZOT_BINARY"

// Zot is a zot registry on 127.0.0.1 (plain HTTP) whose one user may read
// and create but not update or delete: zot's registry-enforced tag
// immutability. Key is an API key (zak_…) the user made for itself, with
// no expiry; MintKey makes more. The htpasswd password is kept only to
// mint keys, as the user's browser session would.
type Zot struct {
	Addr, User, Key string
	password        string
	// Others are the passwords of the other users (WithOtherUser), by
	// name: each has the same rights as User.
	Others map[string]string
	cmd    *exec.Cmd
}

// ZotOption changes the zot StartZot configures, as an operator would.
type ZotOption func(*zotConfig)

// zotConfig is what the options set: zot's accessControl.repositories,
// and the bearer authentication of a zot that combines it with the others
// (nil: htpasswd and API keys alone).
type zotConfig struct {
	user   string
	repos  map[string]map[string]any
	bearer func(addr string) map[string]any
	// others are more users, each with the rights the policies give user.
	others []string
}

// WithOtherUser adds a user with the same rights as the first (read and
// create, no update, unless other options say otherwise), logging in
// with a password (Zot.Others): an attacker who may push to the same
// repositories as CI, as on the users' zot.
func WithOtherUser(name string) ZotOption {
	return func(c *zotConfig) { c.others = append(c.others, name) }
}

// ZotCondition is a CEL expression gating a policy (zot ≥ v2.1.17): when
// it is false the policy does not apply, and zot's 403 carries Message as
// the reason.
type ZotCondition struct {
	Expression, Message string
}

// WithAnonymousRead lets anyone read every repository without logging in
// (anonymousPolicy: ["read"]), as the users' zot does; with patterns, the
// repositories those match (each pattern's policies are its own: zot
// applies the longest matching one).
func WithAnonymousRead(patterns ...string) ZotOption {
	if len(patterns) == 0 {
		patterns = []string{"**"}
	}
	return func(c *zotConfig) {
		for _, p := range patterns {
			c.repos[p]["anonymousPolicy"] = []string{"read"}
		}
	}
}

// WithPolicy gives users (other than the htpasswd user: the names zot's
// claimMapping makes of OIDC identities) actions on the repositories
// pattern matches, under conditions (CEL on req, whose req.claims are an
// ID token's), beside the policies pattern has (set it first with
// WithRepoPolicy, or it is "**").
func WithPolicy(pattern string, users, actions []string, conditions ...ZotCondition) ZotOption {
	return func(c *zotConfig) {
		c.repos[pattern]["policies"] = append(c.repos[pattern]["policies"].([]any), policy(users, actions, conditions))
	}
}

// WithOIDC makes zot take the OIDC ID tokens of issuer for audience,
// exchanged at its bearer realm /zot/auth/token, beside htpasswd, API keys
// and anonymous policies: only a zot with combined authentication (zot
// pull request 4243, $ZOT_COMBINED_BINARY) starts with it. A token's user
// is its repository claim, and each validation (a CEL expression on
// claims) must hold, its message being the refusal's reason.
func WithOIDC(issuer, audience string, validations ...ZotCondition) ZotOption {
	return func(c *zotConfig) {
		c.bearer = func(addr string) map[string]any {
			return map[string]any{
				"realm": "http://" + addr + "/zot/auth/token", "service": addr,
				"oidc": []any{map[string]any{
					"issuer": issuer, "audiences": []string{audience},
					"claimMapping": map[string]any{"username": "claims.repository", "validations": expressions(validations)},
				}},
			}
		}
	}
}

// WithRepoPolicy gives the user only actions on the repositories pattern
// matches (zot applies the longest matching pattern), under conditions:
// e.g. WithRepoPolicy("readonly/**", []string{"read"}) is a repository the
// user may not write.
func WithRepoPolicy(pattern string, actions []string, conditions ...ZotCondition) ZotOption {
	return func(c *zotConfig) {
		c.repos[pattern] = map[string]any{"policies": []any{policy([]string{c.user}, actions, conditions)}, "defaultPolicy": []string{}}
	}
}

// policy is one policy of zot's accessControl.
func policy(users, actions []string, conditions []ZotCondition) map[string]any {
	p := map[string]any{"users": users, "actions": actions}
	if len(conditions) > 0 {
		p["conditions"] = expressions(conditions)
	}
	return p
}

// expressions are conditions (or validations) as zot's config writes them.
func expressions(conditions []ZotCondition) []map[string]string {
	out := make([]map[string]string, len(conditions))
	for i, cond := range conditions {
		out[i] = map[string]string{"expression": cond.Expression, "message": cond.Message}
	}
	return out
}

// EnvZotCombinedBinary names a zot built with combined authentication
// (zot pull request 4243: bearer with OIDC beside htpasswd, API keys and
// anonymous policies), for the tests of publishing with the job's OIDC
// identity. .ci/run sets it when ../shared/tools/zot-combined is beside
// the clone.
const EnvZotCombinedBinary = "ZOT_COMBINED_BINARY"

// StartZot starts the zot binary bin with its storage, config and log in
// dir, and creates an API key for user through zot's own API.
func StartZot(ctx context.Context, bin, dir, user string, opts ...ZotOption) (*Zot, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	z := &Zot{Addr: fmt.Sprintf("127.0.0.1:%d", port), User: user, password: randomHex(16), Others: map[string]string{}}
	cfgPath, err := writeZotConfig(dir, port, z, opts)
	if err != nil {
		return nil, err
	}
	if z.cmd, err = spawn(dir, "zot", bin, "serve", cfgPath); err != nil {
		return nil, err
	}
	if err = waitFor(ctx, zotAnswers(z.Addr)); err == nil {
		z.Key, err = z.MintKey(ctx, "build-push-image tests", time.Time{})
	}
	if err != nil {
		z.Stop()
		return nil, fmt.Errorf("zot (log: %s): %w", filepath.Join(dir, "zot.log"), err)
	}
	return z, nil
}

// Stop stops zot, by PID.
func (z *Zot) Stop() { StopProcess(z.cmd) }

// zotAnswers is ready once zot serves its API: GET /v2/ answers 200
// (anonymous read) or 401.
func zotAnswers(addr string) func() error {
	return func() error {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		return nil
	}
}

// writeZotConfig writes the htpasswd file and zot's config to dir: the
// user gets read and create on every repository, no update, no delete,
// then opts change it.
func writeZotConfig(dir string, port int, z *Zot, opts []ZotOption) (string, error) {
	c := &zotConfig{user: z.User, repos: map[string]map[string]any{}}
	WithRepoPolicy("**", []string{"read", "create"})(c)
	for _, opt := range opts {
		opt(c)
	}
	htpasswd, err := writeZotUsers(dir, z, c)
	if err != nil {
		return "", err
	}
	auth := map[string]any{"htpasswd": map[string]any{"path": htpasswd}, "apikey": true}
	if c.bearer != nil {
		auth["bearer"] = c.bearer(fmt.Sprintf("127.0.0.1:%d", port))
	}
	cfg := map[string]any{
		"distSpecVersion": "1.1.1",
		"storage":         map[string]any{"rootDirectory": filepath.Join(dir, "zot")},
		"log":             map[string]any{"level": "warn"},
		"http": map[string]any{
			"address":       "127.0.0.1",
			"port":          fmt.Sprint(port),
			"auth":          auth,
			"accessControl": map[string]any{"repositories": c.repos},
		},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "zot.json")
	return path, os.WriteFile(path, b, 0o600)
}

// writeZotUsers writes the users' htpasswd file (each other user gets a
// password of its own, in z.Others) and gives every policy of the first
// user to all of them (a policy for other names, such as an OIDC
// identity's, is left as it is).
func writeZotUsers(dir string, z *Zot, c *zotConfig) (string, error) {
	passwords := map[string]string{z.User: z.password}
	for _, name := range c.others {
		z.Others[name] = randomHex(16)
		passwords[name] = z.Others[name]
	}
	var lines strings.Builder
	for name, password := range passwords {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			return "", err
		}
		lines.WriteString(name + ":" + string(hash) + "\n")
	}
	for _, repo := range c.repos {
		policies, _ := repo["policies"].([]any)
		for _, p := range policies {
			pol := p.(map[string]any)
			if users, _ := pol["users"].([]string); slices.Contains(users, z.User) {
				pol["users"] = slices.Concat(users, c.others)
			}
		}
	}
	htpasswd := filepath.Join(dir, "zot-htpasswd")
	return htpasswd, os.WriteFile(htpasswd, []byte(lines.String()), 0o600)
}

// MintKey asks zot for another API key for the user, as a user would in
// zot's UI: label names it, expires is its expirationDate (zero: never).
func (z *Zot) MintKey(ctx context.Context, label string, expires time.Time) (string, error) {
	payload := map[string]any{"label": label}
	if !expires.IsZero() {
		payload["expirationDate"] = expires.UTC().Format(time.RFC3339)
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+z.Addr+"/zot/auth/apikey", bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(z.User, z.password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		APIKey string `json:"apiKey"`
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST /zot/auth/apikey: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("POST /zot/auth/apikey: %w", err)
	}
	if !strings.HasPrefix(body.APIKey, "zak_") {
		return "", fmt.Errorf("POST /zot/auth/apikey: no zak_ key in the answer")
	}
	return body.APIKey, nil
}
