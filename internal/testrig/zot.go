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

// zotConfig is what the options set: zot's accessControl.repositories.
type zotConfig struct {
	user  string
	repos map[string]map[string]any
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
// (anonymousPolicy: ["read"]), as the users' zot does.
func WithAnonymousRead() ZotOption {
	return func(c *zotConfig) { c.repos["**"]["anonymousPolicy"] = []string{"read"} }
}

// WithRepoPolicy gives the user only actions on the repositories pattern
// matches (zot applies the longest matching pattern), under conditions:
// e.g. WithRepoPolicy("readonly/**", []string{"read"}) is a repository the
// user may not write.
func WithRepoPolicy(pattern string, actions []string, conditions ...ZotCondition) ZotOption {
	return func(c *zotConfig) {
		policy := map[string]any{"users": []string{c.user}, "actions": actions}
		if len(conditions) > 0 {
			conds := make([]map[string]string, len(conditions))
			for i, cond := range conditions {
				conds[i] = map[string]string{"expression": cond.Expression, "message": cond.Message}
			}
			policy["conditions"] = conds
		}
		c.repos[pattern] = map[string]any{"policies": []any{policy}, "defaultPolicy": []string{}}
	}
}

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
	cfg := map[string]any{
		"distSpecVersion": "1.1.1",
		"storage":         map[string]any{"rootDirectory": filepath.Join(dir, "zot")},
		"log":             map[string]any{"level": "warn"},
		"http": map[string]any{
			"address":       "127.0.0.1",
			"port":          fmt.Sprint(port),
			"auth":          map[string]any{"htpasswd": map[string]any{"path": htpasswd}, "apikey": true},
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
// password of its own, in z.Others) and gives every policy to all of
// them.
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
			p.(map[string]any)["users"] = append([]string{z.User}, c.others...)
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
