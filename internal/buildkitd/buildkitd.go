// Package buildkitd finds the BuildKit daemon a job builds with: the
// configured address; else the default socket; else a buildkitd on PATH,
// started for the job; else a BuildKit container on a reachable Docker
// daemon, started once and reused by later jobs, like buildx's
// docker-container driver.
package buildkitd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"slices"
	"strings"

	"github.com/moby/buildkit/client/connhelper"
	// Connection helpers: a buildkit-address may name a buildkitd reached
	// through docker exec, podman exec, kubectl exec or ssh (each runs
	// `buildctl dial-stdio` there, so buildctl must be beside buildkitd).
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer"
	_ "github.com/moby/buildkit/client/connhelper/kubepod"
	_ "github.com/moby/buildkit/client/connhelper/podmancontainer"
	_ "github.com/moby/buildkit/client/connhelper/ssh"

	"github.com/blumeops/build-push-image/internal/build"
)

// ErrNoDaemon is returned by Connect when nothing answers and there is
// nothing to start: no buildkitd on PATH and no Docker daemon.
var ErrNoDaemon = errors.New("no buildkitd")

// ErrNoCLI is returned by Connect when the address names a connection
// helper whose command-line tool is not on PATH.
var ErrNoCLI = errors.New("no CLI for the connection helper")

// helperCLIs are the programs BuildKit's connection helpers run, by scheme.
var helperCLIs = map[string]string{"docker-container": "docker", "podman-container": "podman", "kube-pod": "kubectl", "ssh": "ssh"}

// schemes are the address schemes ValidateAddress accepts, in the order
// messages list them.
var schemes = []string{"unix", "tcp", "docker-container", "podman-container", "kube-pod", "ssh"}

// ValidateAddress checks that addr is an address Connect can dial:
// unix://<path>, tcp://<host>:<port> (IPv6 in brackets), or a connection
// helper's with what it needs (a container or pod name, an ssh host
// without password).
func ValidateAddress(addr string) error {
	u, err := url.Parse(addr)
	if err != nil || !slices.Contains(schemes, u.Scheme) {
		return fmt.Errorf("%q must start with %s://", addr, strings.Join(schemes[:len(schemes)-1], "://, ")+":// or "+schemes[len(schemes)-1])
	}
	switch u.Scheme {
	case "unix":
		if u.Path == "" {
			return fmt.Errorf("%q names no socket: unix:///path/to/buildkitd.sock", addr)
		}
	case "tcp":
		if host, _, err := net.SplitHostPort(u.Host); err != nil || host == "" {
			return fmt.Errorf("%q is not tcp://<host>:<port> (IPv6: tcp://[::1]:1234)", addr)
		}
	default:
		if _, err := connhelper.GetConnectionHelper(addr); err != nil {
			return fmt.Errorf("%q: %w", u.Redacted(), err)
		}
	}
	return nil
}

// Config says where buildkitd is expected and what may be started when
// nothing answers there.
type Config struct {
	// Address is where buildkitd listens: the configured address, else
	// the default socket.
	Address string
	// AddressSet is true when the address was configured (input or
	// $BUILDKIT_HOST): then it is used as given, nothing is started
	// in its place.
	AddressSet bool
	// TLS is the mTLS of a tcp:// address (buildkit-tls-*); nil for none.
	TLS *build.TLS
	// Binary is a buildkitd to start for the job, "" for none.
	Binary string
	// TempDir holds a started buildkitd's socket, state and log.
	TempDir string
	// Env is the whole environment of the programs started here
	// (buildkitd, docker): allow-listed, see internal/procenv. The docker
	// client needs DOCKER_HOST and its kin in it.
	Env []string
	// Container is how the BuildKit container is run when only a Docker
	// daemon is there.
	Container Container
	// DaemonConfig is a buildkitd.toml for the buildkitd the action starts
	// (nil for none; see ParseDaemonConfig); DaemonConfigInput names the
	// input it came from, for the log.
	DaemonConfig      []byte
	DaemonConfigInput string
}

// Logger is where Connect says what it started or reused; a
// *githubactions.Action is one.
type Logger interface {
	Infof(format string, args ...any)
	Warningf(format string, args ...any)
}

// Connect returns a builder connected to the buildkitd cfg leads to, and
// a stop function that closes the connection and stops a buildkitd started
// for the job; call it however the job ends. A BuildKit container is left
// running for later jobs.
func Connect(ctx context.Context, cfg Config, log Logger) (*build.Builder, func(), error) {
	if err := helperCLI(cfg.Address); err != nil {
		return nil, nil, err
	}
	var opts []build.Opt
	if cfg.TLS != nil {
		opts = append(opts, build.WithTLS(*cfg.TLS))
	}
	b, err := build.Connect(ctx, cfg.Address, opts...)
	if err == nil {
		warnNotApplied(cfg, log)
		return b, closer(b), nil
	}
	if cfg.AddressSet || !errors.Is(err, build.ErrUnreachable) {
		return nil, nil, err
	}
	if cfg.Binary != "" {
		return startLocal(ctx, cfg, log)
	}
	return startContainer(ctx, cfg, log)
}

// helperCLI checks that the tool a connection helper runs is on PATH:
// without it, the helper fails deep inside a gRPC dial.
func helperCLI(addr string) error {
	scheme, _, _ := strings.Cut(addr, "://")
	cli, ok := helperCLIs[scheme]
	if !ok {
		return nil
	}
	if _, err := exec.LookPath(cli); err != nil {
		return fmt.Errorf("%w: %s:// reaches buildkitd by running %s, and there is no %s on PATH", ErrNoCLI, scheme, cli, cli)
	}
	return nil
}

func closer(b *build.Builder) func() {
	return func() { _ = b.Close() }
}

// logLines is how many of buildkitd's last log lines an error shows.
const logLines = 5

// lastWords is the last logLines lines of a log, on one line, without the
// frames of a Go stack trace (a function's name, then its tab-indented
// file) and repeats (a container crashing in a loop), which would crowd
// out buildkitd's own last message.
func lastWords(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	var kept []string
	for i, line := range lines {
		frame := strings.HasPrefix(line, "\t") || (i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t"))
		line = strings.TrimSpace(line)
		if !frame && line != "" && (len(kept) == 0 || kept[len(kept)-1] != line) {
			kept = append(kept, line)
		}
	}
	if len(kept) == 0 {
		return "(none)"
	}
	return strings.Join(kept[max(0, len(kept)-logLines):], " | ")
}
