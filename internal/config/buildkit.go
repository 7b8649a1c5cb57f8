package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/buildkitd"
	"github.com/blumeops/build-push-image/internal/input"
)

// The buildkit-* inputs: where buildkitd is, how to reach it, and what may
// cross the wire to it.

// Buildkitd is where to look for buildkitd, and what may be started.
func (c Config) Buildkitd() buildkitd.Config {
	return buildkitd.Config{
		Address: c.BuildkitAddress, AddressSet: c.BuildkitAddressSet, TLS: c.BuildkitTLS,
		Binary: c.BuildkitdBinary, TempDir: c.TempDir, Env: c.ChildEnv,
		Container:    buildkitd.Container{Image: c.BuildkitImage, RunFlags: c.BuildkitContainerFlags},
		DaemonConfig: c.BuildkitdConfig, DaemonConfigInput: c.BuildkitdConfigInput,
	}
}

// parseBuildkitdConfig reads buildkitd-config (a path) or
// buildkitd-config-inline (the TOML itself), as docker/setup-buildx-action
// names them.
func parseBuildkitdConfig(errs *inputErrs, raw map[string]string, c *Config) {
	path, inline := raw["buildkitd-config"], raw["buildkitd-config-inline"]
	switch {
	case path != "" && inline != "":
		errs.add("buildkitd-config", errors.New("give it or buildkitd-config-inline, not both"))
	case path != "":
		c.BuildkitdConfigInput = "buildkitd-config"
		b, err := os.ReadFile(path)
		if err != nil {
			errs.add("buildkitd-config", fmt.Errorf("cannot read %q; give the path of a buildkitd.toml on the runner", path))
			return
		}
		set(errs, "buildkitd-config", &c.BuildkitdConfig)(buildkitd.ParseDaemonConfig(b))
	case inline != "":
		c.BuildkitdConfigInput = "buildkitd-config-inline"
		set(errs, "buildkitd-config-inline", &c.BuildkitdConfig)(buildkitd.ParseDaemonConfig([]byte(inline)))
	}
}

// defaultBuildkitAddress is BuildKit's own default socket, tried when no
// address is configured.
const defaultBuildkitAddress = "unix:///run/buildkit/buildkitd.sock"

// buildkitHost is the host of a tcp://host:port address.
func buildkitHost(addr string) (string, error) {
	hostport, ok := strings.CutPrefix(addr, "tcp://")
	if !ok {
		return "", fmt.Errorf("%q is not a tcp:// address", addr)
	}
	host, _, err := net.SplitHostPort(hostport)
	if err != nil || host == "" {
		return "", fmt.Errorf("%q has no host:port", addr)
	}
	return host, nil
}

// parseBuildkitTLS reads the buildkit-tls-* inputs. Each is a path or the
// PEM contents themselves (what a secret holds).
func parseBuildkitTLS(raw map[string]string, addr string) (*build.TLS, error) {
	var t build.TLS
	var errs []error
	for _, f := range []struct {
		name string
		dst  *[]byte
	}{{"buildkit-tls-ca", &t.CA}, {"buildkit-tls-cert", &t.Cert}, {"buildkit-tls-key", &t.Key}} {
		v := raw[f.name]
		if v == "" {
			continue
		}
		if strings.HasPrefix(v, "-----BEGIN ") {
			*f.dst = []byte(v)
			continue
		}
		b, err := os.ReadFile(v)
		if err != nil {
			errs = append(errs, input.New(f.name, fmt.Errorf("cannot read %q", v), "give a readable file path or the PEM contents"))
		}
		*f.dst = b
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	t.ServerName = raw["buildkit-tls-server-name"]
	if t.CA == nil && t.Cert == nil && t.Key == nil && t.ServerName == "" {
		return nil, nil
	}
	switch {
	case !strings.HasPrefix(addr, "tcp://"):
		return nil, fmt.Errorf("buildkit-tls-*: TLS needs a tcp:// buildkit-address, not %q", addr)
	case (t.Cert == nil) != (t.Key == nil):
		return nil, errors.New("buildkit-tls-cert and buildkit-tls-key: give both or neither")
	}
	if t.ServerName == "" {
		t.ServerName, _ = buildkitHost(addr) // valid: checked before
	}
	return &t, nil
}

// validateBuildkitWire refuses a plaintext tcp:// buildkitd off this
// machine when registry credentials or build secrets would be handed to
// it: they would cross the network in clear (Basic auth hands buildkitd
// the key itself).
func validateBuildkitWire(c Config) error {
	addr, plain := strings.CutPrefix(c.BuildkitAddress, "tcp://")
	if !plain || c.BuildkitTLS != nil || (len(c.RegistryCredentials()) == 0 && len(c.Secrets) == 0 && c.IDToken == nil) || isLoopback(addr) {
		return nil
	}
	return input.New("buildkit-address", fmt.Errorf("%s is plaintext tcp:// to another machine, and the registry credentials or build secrets would cross it in clear", c.BuildkitAddress),
		"set buildkit-tls-ca, buildkit-tls-cert and buildkit-tls-key (buildkit-tls-*) for mTLS, or use a unix:// socket or a loopback address")
}

// isLoopback is true for localhost and loopback IP literals (host[:port]).
// Other names are not resolved: DNS could answer differently at dial time.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = strings.Trim(hostport, "[]")
	}
	ip := net.ParseIP(host)
	return strings.EqualFold(host, "localhost") || (ip != nil && ip.IsLoopback())
}
