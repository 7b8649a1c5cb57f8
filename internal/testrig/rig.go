// Package testrig starts the real services the integration tests, the demo
// and the benchmarks run against: a registry with htpasswd auth and a
// buildkitd, on 127.0.0.1 and in a private temporary directory. It is test
// support, not part of the action.
package testrig

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Environment variables the rig sets for the command it runs.
const (
	EnvRegistry = "BPI_TEST_REGISTRY" // host:port of the registry (plain HTTP)
	EnvUser     = "BPI_TEST_USER"
	EnvKey      = "BPI_TEST_KEY"     // the user's generated API key
	EnvBuildkit = "BUILDKIT_HOST"    // unix:// address of buildkitd
	EnvTools    = "BPI_TEST_TOOLS"   // directory with buildkitd, registry, ...
	EnvRigDir   = "BPI_TEST_RIG_DIR" // the rig's temporary directory
)

// Rig is a running registry and buildkitd.
type Rig struct {
	Dir      string
	Registry string
	User     string
	Key      string
	Buildkit string
	Tools    string
	procs    []*exec.Cmd
}

// Start starts a registry and a buildkitd from the binaries in tools.
func Start(ctx context.Context, tools string) (*Rig, error) {
	dir, err := os.MkdirTemp("", "bpi-rig-")
	if err != nil {
		return nil, err
	}
	r := &Rig{Dir: dir, User: "ci", Tools: tools}
	if err := r.startRegistry(ctx); err != nil {
		r.Stop()
		return nil, fmt.Errorf("registry: %w", err)
	}
	if err := r.startBuildkitd(ctx); err != nil {
		r.Stop()
		return nil, fmt.Errorf("buildkitd: %w", err)
	}
	return r, nil
}

// Env is the environment the rig hands to the command it runs.
func (r *Rig) Env() []string {
	return []string{
		EnvRegistry + "=" + r.Registry,
		EnvUser + "=" + r.User,
		EnvKey + "=" + r.Key,
		EnvBuildkit + "=" + r.Buildkit,
		EnvTools + "=" + r.Tools,
		EnvRigDir + "=" + r.Dir,
	}
}

// Stop stops what Start started, by PID, and removes the directory.
func (r *Rig) Stop() {
	for i := len(r.procs) - 1; i >= 0; i-- {
		StopProcess(r.procs[i])
	}
	_ = os.RemoveAll(r.Dir)
}

// StopProcess sends SIGTERM, waits up to 10 s, then kills.
func StopProcess(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (r *Rig) startRegistry(ctx context.Context) error {
	reg, err := StartRegistry(ctx, r.Tools, r.Dir, r.User)
	if err != nil {
		return err
	}
	r.procs = append(r.procs, reg.cmd)
	r.Registry, r.Key = reg.Addr, reg.Key
	return nil
}

// Registry is a registry on 127.0.0.1 (plain HTTP) that only lets its one
// user in, with a generated key.
type Registry struct {
	Addr, User, Key string
	cmd             *exec.Cmd
}

// StartRegistry starts a registry from the binary in tools, with its
// storage, htpasswd and log in dir; a test may start several. With user ""
// it lets anyone in, as a pull-through mirror does.
func StartRegistry(ctx context.Context, tools, dir, user string) (*Registry, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	reg := &Registry{Addr: fmt.Sprintf("127.0.0.1:%d", port), User: user}
	auth, ready := "", answers(reg.Addr, http.StatusOK)
	if user != "" {
		reg.Key = "zak_" + randomHex(16)
		htpasswd, err := writeHtpasswd(dir, user, reg.Key)
		if err != nil {
			return nil, err
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: test\n    path: %s\n", htpasswd)
		ready = answers(reg.Addr, http.StatusUnauthorized)
	}
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
%s`, filepath.Join(dir, "registry"), reg.Addr, auth)
	cfgPath := filepath.Join(dir, "registry.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	if reg.cmd, err = spawn(dir, "registry", filepath.Join(tools, "registry"), "serve", cfgPath); err != nil {
		return nil, err
	}
	if err := waitFor(ctx, ready); err != nil {
		reg.Stop()
		return nil, err
	}
	return reg, nil
}

// writeHtpasswd writes the htpasswd file of the registry's one user.
func writeHtpasswd(dir, user, key string) (string, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(key), bcrypt.MinCost)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "htpasswd")
	return path, os.WriteFile(path, []byte(user+":"+string(hash)+"\n"), 0o600)
}

// Stop stops the registry, by PID.
func (reg *Registry) Stop() { StopProcess(reg.cmd) }

func (r *Rig) startBuildkitd(ctx context.Context) error {
	sock := filepath.Join(r.Dir, "buildkitd.sock")
	r.Buildkit = "unix://" + sock
	// buildkitd pulls base images from the test registry, which speaks
	// plain HTTP.
	cfg := fmt.Sprintf("[registry.%q]\n  http = true\n", r.Registry)
	cfgPath := filepath.Join(r.Dir, "buildkitd.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	cmd, err := spawn(r.Dir, "buildkitd", filepath.Join(r.Tools, "buildkitd"),
		"--addr", r.Buildkit, "--root", filepath.Join(r.Dir, "buildkit"), "--config", cfgPath,
		"--oci-worker-net", "host")
	if err != nil {
		return err
	}
	r.procs = append(r.procs, cmd)
	return waitFor(ctx, func() error {
		c, err := net.Dial("unix", sock)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// spawn starts a service with its output in dir, so a failing start can
// be diagnosed from the log.
func spawn(dir, name, bin string, args ...string) (*exec.Cmd, error) {
	log, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("start %s: %w (run make tools)", bin, err)
	}
	return cmd, nil
}

func waitFor(ctx context.Context, ready func() error) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// answers is ready once the registry at addr serves its API: an anonymous
// GET /v2/ gets status (401 where it wants a login).
func answers(addr string, status int) func() error {
	return func() error {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != status {
			return fmt.Errorf("GET /v2/: %s, want %d", resp.Status, status)
		}
		return nil
	}
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
