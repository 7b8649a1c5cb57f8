package buildkitd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/blumeops/build-push-image/internal/build"
)

// startLocal starts cfg.Binary for this job, in a temporary directory
// removed by the returned stop function.
func startLocal(ctx context.Context, cfg Config, log Logger) (*build.Builder, func(), error) {
	dir, err := os.MkdirTemp(cfg.TempDir, "buildkitd-")
	if err != nil {
		return nil, nil, fmt.Errorf("temp dir for buildkitd: %w", err)
	}
	d, err := startDaemon(ctx, cfg.Binary, dir, cfg.Env)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	stop := func() { d.Stop(); _ = os.RemoveAll(dir) }
	log.Infof("No buildkitd at %s: started %s for this job (%s)", cfg.Address, cfg.Binary, d.Addr)
	b, err := build.Connect(ctx, d.Addr)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return b, func() { _ = b.Close(); stop() }, nil
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

// startDaemon starts the buildkitd binary with its socket and state in dir,
// and waits until it listens. Its log goes to dir/buildkitd.log. env is its
// whole environment (see internal/procenv): nothing else is inherited.
func startDaemon(ctx context.Context, bin, dir string, env []string) (*daemon, error) {
	sock := filepath.Join(dir, "buildkitd.sock")
	log, err := os.Create(filepath.Join(dir, "buildkitd.log"))
	if err != nil {
		return nil, fmt.Errorf("start buildkitd: %w", err)
	}
	defer log.Close()
	// The daemon is this job's alone, so the job's network: host input may
	// use the host network (a build asks for it explicitly, per solve).
	cmd := exec.Command(bin, "--addr", "unix://"+sock, "--root", filepath.Join(dir, "state"),
		"--allow-insecure-entitlement", "network.host")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append([]string{}, env...) // never nil: nil inherits everything
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
		return nil, fmt.Errorf("start buildkitd (log: %s): %w", log.Name(), err)
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
