package testrig

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// EnvZotBinary names a zot binary (not built here: the module proxy does
// not serve zot); when set, the zot race tests push to a real zot started
// with StartZot instead of the fault proxy's emulation of one.
const EnvZotBinary = "ZOT_BINARY"

// Zot is a zot registry on 127.0.0.1 (plain HTTP) whose one user may read
// and create but not update or delete: zot's registry-enforced tag
// immutability. Key is an API key (zak_…) the user made for itself; its
// htpasswd password is never kept.
type Zot struct {
	Addr, User, Key string
	cmd             *exec.Cmd
}

// StartZot starts the zot binary bin with its storage, config and log in
// dir, and creates an API key for user through zot's own API.
func StartZot(ctx context.Context, bin, dir, user string) (*Zot, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	z := &Zot{Addr: fmt.Sprintf("127.0.0.1:%d", port), User: user}
	password := randomHex(16)
	cfgPath, err := writeZotConfig(dir, port, user, password)
	if err != nil {
		return nil, err
	}
	if z.cmd, err = spawn(dir, "zot", bin, "serve", cfgPath); err != nil {
		return nil, err
	}
	if err = waitFor(ctx, answers(z.Addr, http.StatusUnauthorized)); err == nil {
		z.Key, err = z.createAPIKey(ctx, password)
	}
	if err != nil {
		z.Stop()
		return nil, fmt.Errorf("zot (log: %s): %w", filepath.Join(dir, "zot.log"), err)
	}
	return z, nil
}

// Stop stops zot, by PID.
func (z *Zot) Stop() { StopProcess(z.cmd) }

// writeZotConfig writes the htpasswd file and zot's config to dir: the
// user gets read and create on every repository, no update, no delete.
func writeZotConfig(dir string, port int, user, password string) (string, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		return "", err
	}
	htpasswd := filepath.Join(dir, "zot-htpasswd")
	if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		return "", err
	}
	cfg := map[string]any{
		"distSpecVersion": "1.1.1",
		"storage":         map[string]any{"rootDirectory": filepath.Join(dir, "zot")},
		"log":             map[string]any{"level": "warn"},
		"http": map[string]any{
			"address": "127.0.0.1",
			"port":    fmt.Sprint(port),
			"auth":    map[string]any{"htpasswd": map[string]any{"path": htpasswd}, "apikey": true},
			"accessControl": map[string]any{"repositories": map[string]any{"**": map[string]any{
				"policies":      []any{map[string]any{"users": []string{user}, "actions": []string{"read", "create"}}},
				"defaultPolicy": []string{},
			}}},
		},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "zot.json")
	return path, os.WriteFile(path, b, 0o600)
}

// createAPIKey asks zot for an API key for the user, as a user would.
func (z *Zot) createAPIKey(ctx context.Context, password string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+z.Addr+"/zot/auth/apikey",
		strings.NewReader(`{"label":"build-push-image tests"}`))
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(z.User, password)
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
