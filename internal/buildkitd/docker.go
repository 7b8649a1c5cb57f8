package buildkitd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/blumeops/build-push-image/internal/build"
)

// ContainerName is the fixed name of the BuildKit container: every job on
// the same Docker daemon finds and reuses it.
const ContainerName = "build-push-image-buildkitd"

// DefaultImage is the BuildKit image the container runs unless told
// otherwise: the release this program's BuildKit client is built from.
const DefaultImage = "docker.io/moby/buildkit:v0.34.2"

// DefaultRunFlags are the docker run flags of the container unless told
// otherwise: buildkitd needs to create mounts and namespaces, as with
// buildx's docker-container driver.
const DefaultRunFlags = "--privileged"

// DockerEnv are the variables the docker client reads to find its daemon
// (a remote one over TLS or ssh included); Config.Env should let them in.
var DockerEnv = []string{
	"DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY",
	"DOCKER_API_VERSION", "SSH_AUTH_SOCK",
}

// Container is how the BuildKit container is run on a Docker daemon.
type Container struct {
	Image    string   // DefaultImage when empty
	RunFlags []string // docker run flags; DefaultRunFlags when nil
}

// configLabel records the image and flags the container was started with,
// so a job asking for others can say that it reuses it anyway.
const configLabel = "build-push-image.config"

// readyTimeout bounds how long buildkitd in a started container may take
// to answer; it normally takes a second or two.
const readyTimeout = 60 * time.Second

// startContainer connects to the BuildKit container on the Docker daemon,
// starting it first when it is not running. It is left running.
func startContainer(ctx context.Context, cfg Config, log Logger) (*build.Builder, func(), error) {
	c := cfg.Container.withDefaults()
	docker, err := findDocker(ctx, cfg.Env)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: nothing answers at %s, there is no buildkitd on PATH to start, and no Docker daemon to run a BuildKit container in (%w)", ErrNoDaemon, cfg.Address, err)
	}
	verb, err := docker.ensureRunning(ctx, c, log)
	if err != nil {
		return nil, nil, err
	}
	b, err := docker.waitReady(ctx)
	if err != nil {
		return nil, nil, err
	}
	log.Infof("No buildkitd at %s and none on PATH: %s BuildKit container %s (%s) on the Docker daemon; it stays running for later jobs (stop it with: docker rm -f %s)",
		cfg.Address, verb, ContainerName, c.Image, ContainerName)
	return b, closer(b), nil
}

// ensureRunning starts the container when there is none, restarts it when
// it is stopped, and says which it did for the log.
func (d dockerCLI) ensureRunning(ctx context.Context, c Container, log Logger) (string, error) {
	state, label, err := d.inspect(ctx)
	if err != nil {
		return "", err
	}
	if label != "" && label != c.hash() {
		log.Warningf("BuildKit container %s was started with another buildkit-image or buildkit-container-flags; using it as it is (docker rm -f %s to start it afresh with the current ones)", ContainerName, ContainerName)
	}
	switch state {
	case "":
		return "started", d.create(ctx, c)
	case "running":
		return "using the running", nil
	}
	_, err = d.run(ctx, "start", ContainerName)
	return "restarted the", err
}

func (c Container) withDefaults() Container {
	if c.Image == "" {
		c.Image = DefaultImage
	}
	if c.RunFlags == nil {
		c.RunFlags = strings.Fields(DefaultRunFlags)
	}
	return c
}

func (c Container) hash() string {
	h := sha256.Sum256([]byte(c.Image + "\x00" + strings.Join(c.RunFlags, "\x00")))
	return hex.EncodeToString(h[:8])
}

// dockerCLI runs the docker client with an allow-listed environment.
type dockerCLI struct {
	bin string
	env []string
}

// findDocker returns the docker client when it reaches a daemon, else
// why not.
func findDocker(ctx context.Context, env []string) (dockerCLI, error) {
	bin, err := exec.LookPath("docker")
	if err != nil {
		return dockerCLI{}, errors.New("no docker on PATH")
	}
	d := dockerCLI{bin: bin, env: append([]string{}, env...)} // never nil
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := d.run(vctx, "version", "--format", "{{.Server.Version}}"); err != nil {
		return dockerCLI{}, err
	}
	return d, nil
}

func (d dockerCLI) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, d.bin, args...)
	cmd.Env = d.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", args[0], err, oneLine(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// inspect returns the container's state (running, exited, ...; "" when
// there is none) and its configLabel.
func (d dockerCLI) inspect(ctx context.Context) (state, label string, err error) {
	out, err := d.run(ctx, "ps", "--all", "--filter", "name=^"+ContainerName+"$",
		"--format", `{{.State}} {{.Label "`+configLabel+`"}}`)
	state, label, _ = strings.Cut(out, " ")
	return state, label, err
}

// create runs the container. When another job created it meanwhile, that
// one is used.
func (d dockerCLI) create(ctx context.Context, c Container) error {
	args := append([]string{"run", "--detach", "--name", ContainerName,
		"--label", configLabel + "=" + c.hash(), "--restart", "unless-stopped"}, c.RunFlags...)
	_, err := d.run(ctx, append(args, c.Image)...)
	if err == nil {
		return nil
	}
	if state, _, ierr := d.inspect(ctx); ierr == nil && state != "" {
		return nil
	}
	return fmt.Errorf("buildkit-image, buildkit-container-flags: could not start the BuildKit container: %w", err)
}

// waitReady connects to buildkitd in the container once it answers.
func (d dockerCLI) waitReady(ctx context.Context) (*build.Builder, error) {
	deadline := time.Now().Add(readyTimeout)
	for {
		b, err := build.Connect(ctx, "docker-container://"+ContainerName)
		if err == nil {
			return b, nil
		}
		state, _, _ := d.inspect(ctx)
		if state != "running" || time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("BuildKit container %s (%s) does not answer (see docker logs %s): %w", ContainerName, state, ContainerName, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// oneLine keeps a multi-line message on one line of the job log.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
