package buildkitd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/blumeops/build-push-image/internal/build"
)

// ErrRootless is returned by Connect when the buildkitd on PATH would have
// to run as a user that is not root and rootlesskit is not there to give it
// the namespaces it needs.
var ErrRootless = errors.New("no rootlesskit")

// startLocal starts cfg.Binary for this job, in a temporary directory
// removed by the returned stop function. Run by a user that is not root,
// it starts it rootless, as BuildKit documents: under rootlesskit, with
// the host's network and the native snapshotter (no overlayfs for an
// unprivileged user everywhere), its socket and state under
// $XDG_RUNTIME_DIR.
func startLocal(ctx context.Context, cfg Config, log Logger) (*build.Builder, func(), error) {
	l, err := newLaunch(cfg)
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp(l.parent, "buildkitd-")
	if err != nil {
		return nil, nil, fmt.Errorf("temp dir for buildkitd: %w", err)
	}
	d, err := startDaemon(ctx, l, dir)
	if err != nil {
		l.remove(dir)
		return nil, nil, err
	}
	stop := func() { d.Stop(); l.remove(dir) }
	log.Infof("No buildkitd at %s: started %s for this job%s (%s)", cfg.Address, cfg.Binary, l.how(), d.Addr)
	b, err := build.Connect(ctx, d.Addr)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return b, func() { _ = b.Close(); stop() }, nil
}

// launch is how a buildkitd is started for the job: as it is, or rootless.
type launch struct {
	bin         string   // buildkitd
	rootlesskit string   // "" when run as root
	parent      string   // where its directory goes
	env         []string // its whole environment
	config      []byte   // its buildkitd.toml, nil for none
	configInput string   // the input config came from
}

// newLaunch decides how cfg.Binary is started by this user.
func newLaunch(cfg Config) (launch, error) {
	l := launch{bin: cfg.Binary, parent: cfg.TempDir, env: append([]string{}, cfg.Env...), // never nil: nil inherits everything
		config: cfg.DaemonConfig, configInput: cfg.DaemonConfigInput}
	uid := os.Geteuid()
	if uid == 0 {
		return l, nil
	}
	kit, err := exec.LookPath("rootlesskit")
	if err != nil {
		return launch{}, fmt.Errorf("%w: the buildkitd on PATH (%s) cannot run as this user (uid %d, not root) without rootlesskit", ErrRootless, cfg.Binary, uid)
	}
	l.rootlesskit = kit
	// buildkitd takes itself for rootless (paths under XDG_RUNTIME_DIR) only
	// when $USER names someone else than root; a runner service may set
	// neither.
	if u, err := user.Current(); err == nil && u.Username != "root" {
		l.env = setEnv(l.env, "USER", u.Username)
	} else {
		l.env = setEnv(l.env, "USER", "uid"+strconv.Itoa(uid))
	}
	if xdg := envValue(l.env, "XDG_RUNTIME_DIR"); xdg != "" {
		l.parent = xdg
	}
	return l, nil
}

// how is the log's word for a rootless start, and for a config.
func (l launch) how() string {
	how := ""
	if l.rootlesskit != "" {
		how += ", rootless (rootlesskit)"
	}
	if l.config != nil {
		how += ", configured by " + l.configInput
	}
	return how
}

// command is buildkitd's command line, with its socket and state in dir.
func (l launch) command(dir string) *exec.Cmd {
	// The daemon is this job's alone, so the job's network: host input may
	// use the host network (a build asks for it explicitly, per solve).
	args := []string{"--addr", "unix://" + filepath.Join(dir, "buildkitd.sock"), "--root", filepath.Join(dir, "state"),
		"--allow-insecure-entitlement", "network.host"}
	if l.config != nil {
		args = append(args, "--config", filepath.Join(dir, "buildkitd.toml"))
	}
	if l.rootlesskit == "" {
		cmd := exec.Command(l.bin, args...)
		cmd.Env = l.env
		return cmd
	}
	cmd := exec.Command(l.rootlesskit, append([]string{"--net=host", "--copy-up=/etc", "--disable-host-loopback",
		l.bin, "--oci-worker-snapshotter=native"}, args...)...)
	// Its runtime directory is dir: what rootless buildkitd and runc keep
	// under $XDG_RUNTIME_DIR (sockets, runc's state) is then this job's
	// alone, and goes with it; concurrent jobs would share it otherwise.
	cmd.Env = setEnv(l.env, "XDG_RUNTIME_DIR", dir)
	return cmd
}

// remove removes dir. Files that builds made rootless belong to the
// user's subordinate IDs, which only the user namespace may remove.
func (l launch) remove(dir string) {
	if l.rootlesskit != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, l.rootlesskit, "rm", "-rf", filepath.Join(dir, "state"))
		cmd.Env = l.env
		_ = cmd.Run()
	}
	_ = os.RemoveAll(dir)
}

// daemon is a buildkitd this program started for one job.
type daemon struct {
	Addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// startTimeout bounds how long a fresh buildkitd may take to listen; it
// normally takes a fraction of a second.
const startTimeout = 20 * time.Second

// startDaemon starts buildkitd with its socket and state in dir, and waits
// until it listens. Its log goes to dir/buildkitd.log. l.env is its whole
// environment (see internal/procenv): nothing else is inherited.
func startDaemon(ctx context.Context, l launch, dir string) (*daemon, error) {
	sock := filepath.Join(dir, "buildkitd.sock")
	logPath := filepath.Join(dir, "buildkitd.log")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start buildkitd: %w", err)
	}
	defer log.Close()
	if l.config != nil {
		if err := os.WriteFile(filepath.Join(dir, "buildkitd.toml"), l.config, 0o600); err != nil {
			return nil, fmt.Errorf("start buildkitd: %w", err)
		}
	}
	cmd := l.command(dir)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: a Ctrl-C meant for us must not kill it before
	// we have cancelled the build and stopped it ourselves.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start buildkitd: %w", err)
	}
	d := &daemon{Addr: "unix://" + sock, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(d.done) }()
	if err := d.waitListening(ctx, sock); err != nil {
		d.Stop()
		return nil, fmt.Errorf("start buildkitd%s: %w; its last log lines: %s", l.how(), err, lastLines(logPath))
	}
	return d, nil
}

func (d *daemon) waitListening(ctx context.Context, sock string) error {
	deadline := time.After(startTimeout)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			return c.Close()
		}
		select {
		case <-d.done:
			return errors.New("buildkitd exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return errors.New("buildkitd did not listen in time")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop terminates the daemon and waits for it (killing it after 10 s).
func (d *daemon) Stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// lastLines is the last words of a log file (buildkitd's, rootlesskit's),
// on one line.
func lastLines(path string) string {
	b, _ := os.ReadFile(path)
	return lastWords(string(b))
}

// envValue is name's value in env ("" when unset).
func envValue(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// setEnv sets name in env, replacing what it held.
func setEnv(env []string, name, value string) []string {
	out := []string{name + "=" + value}
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
