package build

import (
	"context"
	"strings"
	"sync"

	"github.com/docker/cli/cli/config/types"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth"
	"github.com/moby/buildkit/session/auth/authprovider"
	"google.golang.org/grpc"
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
// token and buildkitd receives only the short-lived token. A credential
// with Fresh gets its password at each login (the job's ID token, which
// zot's token endpoint hands back as the bearer token itself).
//
// handed, if not nil, is told once per host when buildkitd is handed a
// login (Basic auth), so the user can see when the key left this process.
func authProvider(creds []Credential, handed func(host string)) session.Attachable {
	byHost := make(map[string]Credential, len(creds))
	for _, c := range MergeCredentials(creds) { // the first login wins
		byHost[registryHost(c.Host)] = c
	}
	ap := authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: func(ctx context.Context, host string, _ []string, _ authprovider.ExpireCachedAuthCheck) (types.AuthConfig, error) {
			c, ok := byHost[registryHost(host)]
			if !ok {
				return types.AuthConfig{}, nil
			}
			if c.Fresh != nil {
				pass, err := c.Fresh(ctx)
				if err != nil {
					return types.AuthConfig{}, err
				}
				c.Password = pass
			}
			return types.AuthConfig{ServerAddress: host, Username: c.Username, Password: c.Password, IdentityToken: c.IdentityToken}, nil
		},
	})
	if handed == nil {
		return ap
	}
	return &reportingAuth{AuthServer: ap.(auth.AuthServer), handed: handed}
}

// reportingAuth is BuildKit's auth provider, telling handed when it gives
// buildkitd a login (Credentials; FetchToken hands over only a token).
type reportingAuth struct {
	auth.AuthServer
	handed func(host string)
	told   sync.Map // hosts already reported
}

// Register serves the wrapper, not the provider inside it.
func (r *reportingAuth) Register(s *grpc.Server) { auth.RegisterAuthServer(s, r) }

// Credentials answers as BuildKit's provider does and reports a login given.
func (r *reportingAuth) Credentials(ctx context.Context, req *auth.CredentialsRequest) (*auth.CredentialsResponse, error) {
	resp, err := r.AuthServer.Credentials(ctx, req)
	if err == nil && resp.Secret != "" {
		if _, told := r.told.LoadOrStore(registryHost(req.Host), true); !told {
			r.handed(req.Host)
		}
	}
	return resp, err
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
