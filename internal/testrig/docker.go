package testrig

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Docker is a Docker daemon of a test's own: its own data and exec roots,
// socket and pid file, no iptables and no bridge (containers use the
// host's network). Nothing of it is shared with a Docker the machine may
// run. It also listens on a loopback TCP port, as a Docker-in-Docker
// sidecar does. Stop stops it by PID.
type Docker struct {
	Host string // DOCKER_HOST of this daemon: unix://<dir>/docker.sock
	TCP  string // the same daemon over plain TCP: tcp://127.0.0.1:<port>
	dir  string
	cmd  *exec.Cmd
}

// StartDocker starts dockerd from PATH (make test installs Debian's
// docker.io) with flags added to its own, and waits until it answers.
func StartDocker(ctx context.Context, flags ...string) (*Docker, error) {
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		return nil, fmt.Errorf("dockerd: %w (make test installs Debian's docker.io)", err)
	}
	// A short path: containerd's sockets live under the exec root.
	dir, err := os.MkdirTemp("", "bpi-docker-")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	d := &Docker{Host: "unix://" + filepath.Join(dir, "docker.sock"), TCP: fmt.Sprintf("tcp://127.0.0.1:%d", port), dir: dir}
	log, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	defer log.Close()
	d.cmd = exec.Command(bin, append([]string{"--host", d.Host, "--host", d.TCP,
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"), "--iptables=false", "--bridge=none"}, flags...)...)
	d.cmd.Stdout, d.cmd.Stderr = log, log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start dockerd: %w", err)
	}
	if err := waitFor(ctx, func() error { _, err := d.Run(ctx, "version"); return err }); err != nil {
		d.Stop()
		return nil, fmt.Errorf("dockerd did not answer (log: %s): %w", log.Name(), err)
	}
	return d, nil
}

// Env is what a docker client needs to reach this daemon.
func (d *Docker) Env() []string { return []string{"DOCKER_HOST=" + d.Host} }

// Run runs the docker client against this daemon and returns its output.
func (d *Docker) Run(ctx context.Context, args ...string) (string, error) {
	return d.run(ctx, nil, args...)
}

func (d *Docker) run(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + d.dir}, d.Env()...)
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// WaitBuildkit waits until buildkitd in the container answers buildctl.
func (d *Docker) WaitBuildkit(ctx context.Context, container string) error {
	return waitFor(ctx, func() error {
		_, err := d.Run(ctx, "exec", container, "buildctl", "debug", "workers")
		return err
	})
}

// Stop removes every container, stops dockerd by PID and removes its
// directories.
func (d *Docker) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if ids, err := d.Run(ctx, "ps", "--all", "--quiet"); err == nil && ids != "" {
		_, _ = d.Run(ctx, append([]string{"rm", "--force"}, strings.Fields(ids)...)...)
	}
	StopProcess(d.cmd)
	unmountUnder(d.dir)
	_ = os.RemoveAll(d.dir)
}

// ImportBuildkitImage makes the image name with docker import: the static
// buildkitd and buildctl in staticDir (make tools builds them), and the
// host's runc with the libraries it loads, which buildkitd's OCI worker
// insists on finding. Its entrypoint is buildkitd on the default socket,
// as in moby/buildkit, so `buildctl dial-stdio` reaches it. No registry
// is involved: this machine has no Docker Hub.
func (d *Docker) ImportBuildkitImage(ctx context.Context, name, staticDir string) error {
	runc, err := exec.LookPath("runc")
	if err != nil {
		return fmt.Errorf("runc: %w (make test installs it)", err)
	}
	files := map[string]string{
		"/usr/bin/buildkitd": filepath.Join(staticDir, "buildkitd"),
		"/usr/bin/buildctl":  filepath.Join(staticDir, "buildctl"),
		"/usr/bin/runc":      runc,
	}
	libs, err := sharedLibraries(ctx, runc)
	if err != nil {
		return err
	}
	for _, lib := range libs {
		files[lib] = lib
	}
	var rootfs bytes.Buffer
	if err := writeRootfs(&rootfs, files); err != nil {
		return err
	}
	_, err = d.run(ctx, &rootfs, "import",
		"--change", `ENTRYPOINT ["buildkitd"]`, "--change", "ENV PATH=/usr/bin", "-", name)
	return err
}

// sharedLibraries lists the libraries (and the loader) bin loads, from
// ldd; none for a static binary.
func sharedLibraries(ctx context.Context, bin string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ldd", bin).Output()
	if err != nil {
		if _, static := err.(*exec.ExitError); static {
			return nil, nil // "not a dynamic executable"
		}
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	var libs []string
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "/") {
			libs = append(libs, f)
		}
	}
	return libs, nil
}

// writeRootfs writes a tar of files (path in the image: path on the
// host, symlinks followed), their directories, and /tmp.
func writeRootfs(w io.Writer, files map[string]string) error {
	tw := tar.NewWriter(w)
	dirs := map[string]bool{"/tmp": true}
	for dst := range files {
		for dir := path.Dir(dst); dir != "/"; dir = path.Dir(dir) {
			dirs[dir] = true
		}
	}
	for _, dir := range slices.Sorted(maps.Keys(dirs)) {
		mode := int64(0o755)
		if dir == "/tmp" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir[1:] + "/", Mode: mode}); err != nil {
			return err
		}
	}
	for _, dst := range slices.Sorted(maps.Keys(files)) {
		data, err := os.ReadFile(files[dst])
		if err != nil {
			return fmt.Errorf("%w (make tools builds the static BuildKit binaries)", err)
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: dst[1:], Mode: 0o755, Size: int64(len(data))}); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	return tw.Close()
}
