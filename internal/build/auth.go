package build

import (
	"context"
	"strings"

	"github.com/docker/cli/cli/config/types"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
)

// authProvider answers buildkitd's credential requests from memory, so a
// key never touches a docker config file.
//
// buildkitd asks only when a registry answers it 401, for that registry's
// host: when it pulls from, pushes to, or imports or exports cache at the
// registry holding the credentials. For any other host it gets nothing
// (anonymous). On a Basic challenge (zot, distribution with htpasswd)
// buildkitd receives the username and the key itself, through the session
// stream of this build; on a Bearer challenge this process fetches the
// token and buildkitd receives only the short-lived token.
func authProvider(creds []Credential) session.Attachable {
	byHost := make(map[string]Credential, len(creds))
	for _, c := range creds {
		if _, ok := byHost[registryHost(c.Host)]; !ok { // the first login wins
			byHost[registryHost(c.Host)] = c
		}
	}
	return authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: func(_ context.Context, host string, _ []string, _ authprovider.ExpireCachedAuthCheck) (types.AuthConfig, error) {
			c, ok := byHost[registryHost(host)]
			if !ok {
				return types.AuthConfig{}, nil
			}
			return types.AuthConfig{ServerAddress: host, Username: c.Username, Password: c.Password, IdentityToken: c.IdentityToken}, nil
		},
	})
}

// dockerHub is the one name for Docker Hub, whose aliases buildkitd and
// docker configs use: an image names docker.io, buildkitd asks for
// registry-1.docker.io, a docker config file keys it
// https://index.docker.io/v1/. regclient folds them the same way.
const dockerHub = "docker.io"

// registryHost is the name credentials are keyed by: host[:port] in lower
// case, without a scheme or path, Docker Hub's aliases folded into one.
func registryHost(h string) string {
	h = strings.ToLower(h)
	if _, rest, ok := strings.Cut(h, "://"); ok {
		h = rest
	}
	h, _, _ = strings.Cut(h, "/")
	switch h {
	case "docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return dockerHub
	}
	return h
}
