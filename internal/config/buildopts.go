package config

import (
	"fmt"
	"path/filepath"
	"strings"

	units "github.com/docker/go-units"

	"github.com/blumeops/build-push-image/internal/build"
)

// BuildOptions are the inputs a buildx user has beyond the Dockerfile
// (named contexts, no-cache, pull, ssh, network, hosts, shm, ulimits), the
// extra OCI archive, and the logins for registries other than the image's.
type BuildOptions struct {
	Contexts      []build.NamedContext
	NoCache, Pull bool
	SSH           []build.SSH
	Network       string
	AddHosts      []string
	ShmSize       int64
	Ulimits       []*units.Ulimit
	// Output is where the image is also written as an OCI archive.
	Output                  string
	AttestationsAsReferrers bool
	// Logins are registry-credentials, then the runner's Docker config:
	// the first login for a host wins.
	Logins []build.Credential
	// Helpers are credential helpers the Docker config names; they are not
	// run (they would inherit this process's environment).
	Helpers []string
}

// parse reads the build option inputs into o; every bad one goes to errs,
// named. getenv gives SSH_AUTH_SOCK, DOCKER_CONFIG and HOME.
func (o *BuildOptions) parse(errs *inputErrs, raw map[string]string, getenv func(string) string) {
	read(errs, raw, "build-contexts", &o.Contexts, lines(parseNamedContext))
	read(errs, raw, "no-cache", &o.NoCache, parseBool)
	read(errs, raw, "pull", &o.Pull, parseBool)
	agent := getenv("SSH_AUTH_SOCK")
	read(errs, raw, "ssh", &o.SSH, lines(func(l string) (build.SSH, error) { return build.ParseSSH(l, agent) }))
	read(errs, raw, "network", &o.Network, build.ParseNetwork)
	read(errs, raw, "add-hosts", &o.AddHosts, lines(build.ParseHost))
	read(errs, raw, "shm-size", &o.ShmSize, build.ParseShmSize)
	read(errs, raw, "ulimit", &o.Ulimits, lines(build.ParseUlimit))
	read(errs, raw, "output", &o.Output, parseOutput)
	read(errs, raw, "attestations-as-referrers", &o.AttestationsAsReferrers, parseBool)
	logins, helpers, err := parseLogins(raw["registry-credentials"], getenv)
	o.Logins, o.Helpers = logins, helpers
	errs.add("registry-credentials", err)
}

// parseNamedContext is build.ParseNamedContext, refusing a directory that
// climbs out of the workspace like the context input.
func parseNamedContext(line string) (build.NamedContext, error) {
	nc, err := build.ParseNamedContext(line)
	if err != nil || nc.Dir == "" {
		return nc, err
	}
	if nc.Dir, err = cleanPath(nc.Dir); err != nil {
		return build.NamedContext{}, fmt.Errorf("%s: %w", nc.Name, err)
	}
	return nc, nil
}

func parseOutput(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	p, err := cleanPath(v)
	if err != nil {
		return "", err
	}
	if strings.HasSuffix(v, "/") || filepath.Base(p) == "." {
		return "", fmt.Errorf("%q is a directory; give the path of the archive file, e.g. image.tar", v)
	}
	return p, nil
}

// parseLogins reads registry-credentials and the runner's Docker config
// ($DOCKER_CONFIG, else ~/.docker), the way buildx finds it.
func parseLogins(lines string, getenv func(string) string) ([]build.Credential, []string, error) {
	fromInput, err := build.ParseCredentials(lines)
	if err != nil {
		return nil, nil, err
	}
	dir := getenv("DOCKER_CONFIG")
	if dir == "" && getenv("HOME") != "" {
		dir = filepath.Join(getenv("HOME"), ".docker")
	}
	if dir == "" {
		return fromInput, nil, nil
	}
	dc, err := build.ReadDockerConfig(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("the runner's %w; fix it or point DOCKER_CONFIG elsewhere", err)
	}
	return build.MergeCredentials(fromInput, dc.Credentials), dc.Helpers, nil
}

// Apply sets the build options on req.
func (o BuildOptions) Apply(req build.Request) build.Request {
	req.Contexts, req.NoCache, req.Pull, req.SSH = o.Contexts, o.NoCache, o.Pull, o.SSH
	req.Network, req.AddHosts, req.ShmSize, req.Ulimits = o.Network, o.AddHosts, o.ShmSize, o.Ulimits
	req.OCIArchive, req.AttestationsAsReferrers = o.Output, o.AttestationsAsReferrers
	return req
}
