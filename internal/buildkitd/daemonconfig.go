package buildkitd

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// A buildkitd.toml (buildkitd-config, buildkitd-config-inline) applies to
// the buildkitd the action starts: from PATH (--config) and in the
// BuildKit container (copied in before it starts). A buildkitd found
// running is used as it is.

// containerConfigPath is where the BuildKit container's config is copied:
// buildkitd's own default, which buildx's docker-container driver uses too.
const containerConfigPath = "/etc/buildkit/buildkitd.toml"

// ParseDaemonConfig checks that a buildkitd.toml is TOML, so that a typo
// is one line before anything starts rather than a buildkitd that does
// not come up. What the keys mean is buildkitd's business.
func ParseDaemonConfig(text []byte) ([]byte, error) {
	var v map[string]any
	if err := toml.Unmarshal(text, &v); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, fmt.Errorf("not a buildkitd.toml: line %d, column %d: %s", row, col, de.Error())
		}
		return nil, fmt.Errorf("not a buildkitd.toml: %w", err)
	}
	return text, nil
}

// warnNotApplied says that a config given is not applied because the
// action started no buildkitd.
func warnNotApplied(cfg Config, log Logger) {
	if cfg.DaemonConfig == nil {
		return
	}
	log.Warningf("%s: not applied: the job builds with the buildkitd at %s, which the action did not start; configure that buildkitd itself, or leave buildkit-address unset (and nothing at the default socket) to let the action start one with it",
		cfg.DaemonConfigInput, cfg.Address)
}

// configTar is a tar holding the config at containerConfigPath, with its
// directories, for docker cp - (the image may have no /etc/buildkit).
func configTar(config []byte) *bytes.Buffer {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, dir := range []string{"etc/", "etc/buildkit/"} {
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755})
	}
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(containerConfigPath, "/"), Mode: 0o644, Size: int64(len(config))})
	_, _ = tw.Write(config)
	_ = tw.Close()
	return &b
}

// daemonMirrors is the Docker daemon's registry-mirrors (docker info),
// which a BuildKit container does not inherit, as a buildkitd.toml; nil
// when the daemon has none.
func (d dockerCLI) daemonMirrors(ctx context.Context) (config []byte, mirrors []string) {
	out, err := d.run(ctx, nil, "info", "--format", "{{json .RegistryConfig.Mirrors}}")
	var urls []string
	if err != nil || json.Unmarshal([]byte(out), &urls) != nil {
		return nil, nil
	}
	return mirrorsConfig(urls)
}

// mirrorsConfig is the buildkitd.toml of Docker's registry-mirrors (URLs):
// the docker.io mirrors (host[:port][/path], as buildkitd names them), and
// plain HTTP for those given as http://.
func mirrorsConfig(urls []string) (config []byte, mirrors []string) {
	type registry struct {
		Mirrors []string `toml:"mirrors,omitempty"`
		HTTP    bool     `toml:"http,omitempty"`
	}
	regs := map[string]registry{}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			continue
		}
		mirrors = append(mirrors, u.Host+strings.TrimSuffix(u.Path, "/"))
		if u.Scheme == "http" {
			regs[u.Host] = registry{HTTP: true}
		}
	}
	if len(mirrors) == 0 {
		return nil, nil
	}
	regs["docker.io"] = registry{Mirrors: mirrors}
	config, err := toml.Marshal(map[string]map[string]registry{"registry": regs})
	if err != nil {
		return nil, nil
	}
	return config, mirrors
}
