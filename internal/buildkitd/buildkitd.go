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
	TLS        *build.TLS
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
	var opts []build.Opt
	if cfg.TLS != nil {
		opts = append(opts, build.WithTLS(*cfg.TLS))
	}
	b, err := build.Connect(ctx, cfg.Address, opts...)
	if err == nil {
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

func closer(b *build.Builder) func() {
	return func() { _ = b.Close() }
}
