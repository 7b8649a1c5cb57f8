package buildkitd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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
	config   []byte   // buildkitd.toml copied in before it starts, nil for none
}

// configLabel records the image, flags and buildkitd.toml the container
// was started with, so a job asking for others can say that it reuses it
// anyway.
const configLabel = "build-push-image.config"

// readyTimeout bounds how long the container may take to answer once it
// exists: buildkitd normally answers within a second or two. Pulling the
// image (docker create) is not counted: that takes what the network takes.
const readyTimeout = 60 * time.Second

// createdGrace is how long a container may stay created but not started
// before it counts as left behind by a job that died between docker create
// and docker start: the job that created it normally starts it within a
// second.
const createdGrace = 15 * time.Second

// pollInterval is how often a waiting job looks at the container again.
const pollInterval = 250 * time.Millisecond

// ContainerStep is where bringing the BuildKit container up failed; it
// decides which inputs are to blame.
type ContainerStep int

const (
	// StepStart is docker create or docker start refusing: the image or
	// the run flags.
	StepStart ContainerStep = iota
	// StepConfig is the buildkitd config failing to copy in.
	StepConfig
	// StepReady is buildkitd never answering in the started container.
	StepReady
)

// ContainerError is the BuildKit container failing at Step. Its message
// names no input: main says which inputs to fix and how, as it does for
// ErrNoDaemon.
type ContainerError struct {
	Step  ContainerStep
	Image string // the container's image
	// State, Logs and Why are StepReady's facts: the container's state,
	// buildkitd's last log lines and "; last error: ..." (or "").
	State, Logs, Why string
	// Err is docker's refusal (StepStart, StepConfig).
	Err error
}

func (e *ContainerError) Error() string {
	switch e.Step {
	case StepConfig:
		return fmt.Sprintf("could not copy the buildkitd config into the BuildKit container: %v", e.Err)
	case StepReady:
		return fmt.Sprintf("buildkitd in the BuildKit container %s (%s) did not come up (%s); its last log lines: %s%s", ContainerName, e.Image, e.State, e.Logs, e.Why)
	}
	return fmt.Sprintf("could not start the BuildKit container: %v", e.Err)
}

func (e *ContainerError) Unwrap() error { return e.Err }

// startContainer connects to the BuildKit container on the Docker daemon,
// starting it first when it is not running. It is left running.
func startContainer(ctx context.Context, cfg Config, log Logger) (*build.Builder, func(), error) {
	c := cfg.Container.withDefaults()
	docker, err := findDocker(ctx, cfg.Env)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: nothing answers at %s, there is no buildkitd on PATH to start, and no Docker daemon to run a BuildKit container in (%w)", ErrNoDaemon, cfg.Address, err)
	}
	c.config = containerConfig(ctx, cfg, docker, log)
	up := &bringUp{d: docker, c: c, log: log, verb: "using the running"}
	b, err := up.run(ctx)
	if err != nil {
		return nil, nil, err
	}
	log.Infof("No buildkitd at %s and none on PATH: %s BuildKit container %s (%s) on the Docker daemon; it stays running for later jobs (stop it with: docker rm -f %s)",
		cfg.Address, up.verb, ContainerName, c.Image, ContainerName)
	return b, closer(b), nil
}

// containerConfig is the buildkitd.toml of the container: the one given,
// else the Docker daemon's registry-mirrors carried over (said in the log).
func containerConfig(ctx context.Context, cfg Config, d dockerCLI, log Logger) []byte {
	if cfg.DaemonConfig != nil {
		return cfg.DaemonConfig
	}
	config, mirrors := d.daemonMirrors(ctx)
	if config != nil {
		log.Infof("The Docker daemon has registry-mirrors (%s): carried over to the BuildKit container as its docker.io mirrors (%s); give buildkitd-config or buildkitd-config-inline to configure it otherwise",
			strings.Join(mirrors, ", "), containerConfigPath)
	}
	return config
}

// bringUp gets the one BuildKit container of a Docker daemon running and
// answering, whatever state it is found in and however many jobs try at
// once. The container's name is the lock: docker create succeeds for one
// job only; the others wait for that job's container. Every other step
// acts on the container's ID, so that no job undoes another's work.
type bringUp struct {
	d    dockerCLI
	c    Container
	log  Logger
	verb string // what this job did, for the log

	deadline     time.Time
	createdID    string    // the container seen created, not started
	createdSince time.Time // since when
	creates      int       // docker create calls made
	// begun: the container was started since this job first looked (by
	// this job or another). When it stops after that, buildkitd is
	// failing: that is reported, not retried.
	begun   bool
	warned  bool
	lastErr error // why buildkitd did not answer, last time asked
}

// run returns a connection to buildkitd in the container, or one error
// saying why it never answered.
func (u *bringUp) run(ctx context.Context) (*build.Builder, error) {
	u.deadline = time.Now().Add(readyTimeout)
	for {
		st, err := u.d.inspect(ctx)
		if err != nil {
			return nil, err
		}
		u.warnOther(st)
		if st.Status == "running" {
			u.begun = true
			b, err := build.Connect(ctx, "docker-container://"+ContainerName)
			if err == nil {
				return b, nil
			}
			u.lastErr = err
		} else if err := u.step(ctx, st); err != nil {
			return nil, err
		}
		if time.Now().After(u.deadline) {
			return nil, u.notReady(ctx, st)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// step moves a container that is not running one step towards running.
func (u *bringUp) step(ctx context.Context, st containerState) error {
	switch st.Status {
	case "":
		won, err := u.d.create(ctx, u.c)
		if err != nil {
			return err
		}
		u.begun, u.verb = true, "waited for the" // another job's docker create came first
		if won {
			u.verb = "started"
		}
		if u.creates++; u.creates == 1 {
			u.deadline = time.Now().Add(readyTimeout) // the image pull is not counted
		}
	case "created":
		// Another job is between docker create and docker start, or died
		// there: then its container is removed (by ID) and made afresh.
		if u.createdID != st.ID {
			u.createdID, u.createdSince, u.begun = st.ID, time.Now(), true
		} else if time.Since(u.createdSince) > createdGrace {
			u.d.remove(ctx, st.ID)
		}
	case "exited":
		// Stopped (docker stop, a daemon or VM restart): started again once.
		// Several jobs may do this at once; the daemon starts it once and
		// tells the others it is running.
		if u.begun {
			return u.notReady(ctx, st)
		}
		u.begun, u.verb = true, "restarted the"
		if _, err := u.d.run(ctx, nil, "start", st.ID); err != nil {
			u.lastErr = err
		}
	case "dead":
		u.d.remove(ctx, st.ID) // a dead container cannot be started
	case "paused":
		if _, err := u.d.run(ctx, nil, "unpause", st.ID); err != nil {
			u.lastErr = err
		}
	case "restarting":
		// Its restart policy at work: after it ran, buildkitd is crashing.
		if u.begun {
			return u.notReady(ctx, st)
		}
	}
	// removing: wait.
	return nil
}

// warnOther says once that the container found was started with another
// image or flags than this job's.
func (u *bringUp) warnOther(st containerState) {
	if u.warned || st.Label == "" || st.Label == u.c.hash() {
		return
	}
	u.warned = true
	u.log.Warningf("BuildKit container %s was started with another buildkit-image, buildkit-container-flags or buildkitd config; using it as it is (docker rm -f %s to start it afresh with the current ones)", ContainerName, ContainerName)
}

// notReady is the one line for a container that never answered: its
// state, buildkitd's last words and the last connection error.
func (u *bringUp) notReady(ctx context.Context, st containerState) error {
	state := st.Detail // Exited (1) 2 seconds ago, Up 1 minute, ...
	why := ""
	switch {
	case st.Status == "":
		state = "gone"
	case st.Status == "running":
		state += fmt.Sprintf(", no answer within %s", readyTimeout)
		if u.lastErr != nil {
			why = "; last error: " + oneLine(u.lastErr.Error())
		}
	}
	return &ContainerError{Step: StepReady, Image: u.c.Image, State: state, Logs: u.d.lastLogs(ctx), Why: why}
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
	id := c.Image + "\x00" + strings.Join(c.RunFlags, "\x00")
	if c.config != nil { // else as before configs: a running container keeps its label's meaning
		id += "\x00\x00" + string(c.config)
	}
	h := sha256.Sum256([]byte(id))
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
	if _, err := d.run(vctx, nil, "version", "--format", "{{.Server.Version}}"); err != nil {
		return dockerCLI{}, err
	}
	return d, nil
}

// run runs docker with args and stdin (nil for none) and returns its
// output; an error holds docker's own words, on one line.
func (d dockerCLI) run(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, d.bin, args...)
	cmd.Env = d.env
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", args[0], err, oneLine(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// containerState is what docker ps says of the BuildKit container.
type containerState struct {
	ID     string
	Status string // created, running, restarting, exited, dead, paused, removing; "" for none
	Label  string // configLabel
	Detail string // e.g. "Exited (1) 2 seconds ago"
}

// inspect looks the container up. A container docker create is still
// making is not listed yet: that job holds the name all the same.
func (d dockerCLI) inspect(ctx context.Context) (containerState, error) {
	out, err := d.run(ctx, nil, "ps", "--all", "--no-trunc", "--filter", "name=^"+ContainerName+"$",
		"--format", `{{.ID}}	{{.State}}	{{.Label "`+configLabel+`"}}	{{.Status}}`)
	if err != nil || out == "" {
		return containerState{}, err
	}
	f := strings.SplitN(out, "\t", 4)
	for len(f) < 4 {
		f = append(f, "")
	}
	return containerState{ID: f[0], Status: f[1], Label: f[2], Detail: f[3]}, nil
}

// create makes and starts the container, and reports whether this job's
// docker create won the name: false when another job's did (that one is
// then waited for).
func (d dockerCLI) create(ctx context.Context, c Container) (won bool, err error) {
	args := append([]string{"create", "--name", ContainerName,
		"--label", configLabel + "=" + c.hash(), "--restart", "unless-stopped"}, c.RunFlags...)
	args = append(args, c.Image)
	if c.config != nil {
		args = append(args, "--config", containerConfigPath)
	}
	id, err := d.run(ctx, nil, args...)
	if err != nil {
		if nameTaken(err) {
			return false, nil
		}
		return false, &ContainerError{Step: StepStart, Image: c.Image, Err: err}
	}
	if c.config != nil {
		// Copied, not mounted: the daemon may be remote (TCP, a VM) and not
		// see this machine's files.
		if _, err := d.run(ctx, configTar(c.config), "cp", "-", id+":/"); err != nil {
			return false, d.failed(ctx, id, &ContainerError{Step: StepConfig, Image: c.Image, Err: err})
		}
	}
	if _, err := d.run(ctx, nil, "start", id); err != nil {
		return false, d.failed(ctx, id, &ContainerError{Step: StepStart, Image: c.Image, Err: err})
	}
	return true, nil
}

// failed is what a step after docker create failing means: when the
// container is gone, another job removed it (it took it for left behind)
// and this job waits like the others (nil); else err, and the container is
// removed, as no later job could use it either.
func (d dockerCLI) failed(ctx context.Context, id string, err error) error {
	if st, ierr := d.inspect(ctx); ierr == nil && st.ID != id {
		return nil
	}
	d.remove(ctx, id)
	return err
}

// nameTaken tells docker create's refusal because the name is in use (an
// HTTP 409 from the daemon, which the CLI prints as text) from others.
func nameTaken(err error) bool {
	return strings.Contains(err.Error(), "is already in use")
}

// remove removes the container with this ID, if it is still there: by ID,
// so that a container another job made meanwhile under the same name
// stays.
func (d dockerCLI) remove(ctx context.Context, id string) {
	_, _ = d.run(ctx, nil, "rm", "--force", id)
}

// lastLogs is buildkitd's last log lines, on one line; buildkitd logs no
// credentials (they reach it through the session, per request).
func (d dockerCLI) lastLogs(ctx context.Context) string {
	cmd := exec.CommandContext(ctx, d.bin, "logs", "--tail", "50", ContainerName)
	cmd.Env = d.env
	out, _ := cmd.CombinedOutput() // buildkitd logs to stderr
	return lastWords(string(out))
}

// oneLine keeps a multi-line message on one line of the job log.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
