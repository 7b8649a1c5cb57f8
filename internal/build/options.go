package build

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	units "github.com/docker/go-units"
)

// The buildx build options beyond the Dockerfile itself. Each parser takes
// one line of an input and says what is wrong with it without echoing it
// back; the caller names the input and the line.

// ErrSSH is a forwarded SSH agent socket or key that cannot be used.
var ErrSSH = errors.New("ssh: an agent socket or key cannot be used")

// NamedContext is one build context beside the main one, for
// `COPY --from=<name>` and `FROM <name>`: a local directory (Dir) or an
// image (Image, e.g. registry.example/base:1).
type NamedContext struct {
	Name  string
	Dir   string
	Image string
}

const dockerImageScheme = "docker-image://"

// ParseNamedContext reads name=path or name=docker-image://ref.
func ParseNamedContext(line string) (NamedContext, error) {
	name, src, ok := strings.Cut(line, "=")
	name, src = strings.TrimSpace(name), strings.TrimSpace(src)
	switch {
	case !ok || name == "" || src == "":
		return NamedContext{}, errors.New("want name=path or name=docker-image://ref")
	case strings.ContainsAny(name, " \t,"):
		return NamedContext{}, fmt.Errorf("the name %q holds a space or comma; use the stage or image name FROM and COPY --from refer to", name)
	case strings.HasPrefix(src, dockerImageScheme):
		ref := strings.TrimPrefix(src, dockerImageScheme)
		if ref == "" || strings.ContainsAny(ref, " \t") {
			return NamedContext{}, fmt.Errorf("%s: give an image reference after docker-image://", name)
		}
		return NamedContext{Name: name, Image: ref}, nil
	case strings.Contains(src, "://"):
		return NamedContext{}, fmt.Errorf("%s: only a directory or docker-image://ref is supported, not %s", name, src[:strings.Index(src, "://")+3])
	}
	st, err := os.Stat(src)
	if err != nil || !st.IsDir() {
		return NamedContext{}, fmt.Errorf("%s: directory %q not found", name, src)
	}
	return NamedContext{Name: name, Dir: src}, nil
}

// SSH forwards an SSH agent socket or private key files to
// RUN --mount=type=ssh[,id=ID]; ID "default" is the mount without id.
type SSH struct {
	ID    string
	Paths []string
}

// ParseSSH reads id=path[,path...] or id alone, which means the agent at
// agentSocket ($SSH_AUTH_SOCK, read by the caller).
func ParseSSH(line, agentSocket string) (SSH, error) {
	id, paths, hasPaths := strings.Cut(strings.TrimSpace(line), "=")
	if id == "" || strings.ContainsAny(id, " \t,") {
		return SSH{}, errors.New("want default, default=path or id=path (an agent socket or a private key file)")
	}
	if !hasPaths {
		if agentSocket == "" {
			return SSH{}, fmt.Errorf("%s without a path needs an SSH agent, and SSH_AUTH_SOCK is not set; start ssh-agent (e.g. webfactory/ssh-agent) or give %s=path-to-key", id, id)
		}
		return SSH{ID: id, Paths: []string{agentSocket}}, nil
	}
	s := SSH{ID: id}
	for p := range strings.SplitSeq(paths, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			return SSH{}, fmt.Errorf("%s: %q not found; give an SSH agent socket or a private key file", id, p)
		}
		s.Paths = append(s.Paths, p)
	}
	if len(s.Paths) == 0 {
		return SSH{}, fmt.Errorf("%s: no path after '='", id)
	}
	return s, nil
}

// Network modes of RUN steps, as buildx names them.
const (
	NetworkDefault = "default"
	NetworkHost    = "host"
	NetworkNone    = "none"
)

// ParseNetwork accepts default (or empty), host or none.
func ParseNetwork(v string) (string, error) {
	switch v {
	case "", NetworkDefault:
		return "", nil
	case NetworkHost, NetworkNone:
		return v, nil
	}
	return "", fmt.Errorf("%q is not one of default, host, none", v)
}

// ParseHost reads an extra /etc/hosts entry for RUN steps, host:ip or
// host=ip (IPv6 in brackets), into BuildKit's host=ip form.
func ParseHost(line string) (string, error) {
	line = strings.TrimSpace(line)
	host, ip, ok := strings.Cut(line, "=")
	if !ok {
		host, ip, ok = strings.Cut(line, ":")
	}
	ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
	if !ok || host == "" || net.ParseIP(ip) == nil {
		return "", errors.New("want host:ip, e.g. db.internal:10.0.0.5")
	}
	return host + "=" + ip, nil
}

// ParseShmSize reads the size of /dev/shm for RUN steps, e.g. 128m or 1g,
// in bytes; empty is 0, buildkitd's default.
func ParseShmSize(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := units.RAMInBytes(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size; use a number with an optional b, k, m or g unit, e.g. 128m", v)
	}
	return n, nil
}

// ParseUlimit reads one resource limit for RUN steps, name=soft[:hard],
// e.g. nofile=1024:2048.
func ParseUlimit(line string) (*units.Ulimit, error) {
	u, err := units.ParseUlimit(strings.TrimSpace(line))
	if err != nil {
		return nil, fmt.Errorf("want name=soft[:hard], e.g. nofile=1024:2048 (%w)", err)
	}
	return u, nil
}
