package build

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/credentials"
)

// hostPattern is a registry host with an optional port, as docker login
// takes it (no scheme, no path).
var hostPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]+)?$`)

// ParseCredentials reads logins, one host=username:secret per line (the
// secret may hold ':' and '='). Blank lines are skipped; a host given twice
// is an error, since only one login can be used for it. Errors name the
// line, never any part of it: a malformed line may be a secret pasted whole.
func ParseCredentials(text string) ([]Credential, error) {
	var creds []Credential
	seen := map[string]int{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		c, err := parseCredential(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if first, dup := seen[registryHost(c.Host)]; dup {
			return nil, fmt.Errorf("line %d: its host already has a login on line %d; keep one per registry", i+1, first)
		}
		seen[registryHost(c.Host)] = i + 1
		creds = append(creds, c)
	}
	return creds, nil
}

func parseCredential(line string) (Credential, error) {
	host, login, ok := strings.Cut(line, "=")
	if !ok {
		return Credential{}, errors.New("no '='; write host=username:secret")
	}
	user, secret, ok := strings.Cut(login, ":")
	switch {
	case !hostPattern.MatchString(host):
		return Credential{}, errors.New("the part before '=' is not a registry host; write host[:port]=username:secret, without https:// or a path")
	case !ok || user == "":
		return Credential{}, errors.New("no username before ':'; write host=username:secret")
	case secret == "":
		return Credential{}, errors.New("empty secret after ':'; write host=username:secret")
	}
	return Credential{Host: strings.ToLower(host), Username: user, Password: secret}, nil
}

// DockerConfig is what the runner's Docker config offers: the logins stored
// in its auths, and the credential helpers it names, which are not run (a
// helper would inherit this process's environment, secrets included).
type DockerConfig struct {
	Credentials []Credential
	Helpers     []string
}

// ReadDockerConfig reads dir/config.json the way docker and buildx do
// ($DOCKER_CONFIG, else ~/.docker). No file is no logins, not an error.
func ReadDockerConfig(dir string) (DockerConfig, error) {
	path := filepath.Join(dir, "config.json")
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return DockerConfig{}, nil
	}
	if err != nil {
		return DockerConfig{}, fmt.Errorf("docker config %s: %w", path, err)
	}
	defer f.Close()
	cf := configfile.New(path)
	if err := cf.LoadFromReader(f); err != nil {
		// Not wrapped: a decoding error could quote part of a login.
		return DockerConfig{}, fmt.Errorf("docker config %s is not valid JSON with base64 auths", path)
	}
	var dc DockerConfig
	for addr, ac := range cf.AuthConfigs {
		if ac.Username == "" || (ac.Password == "" && ac.IdentityToken == "") {
			continue // an entry kept by a credential helper holds nothing
		}
		dc.Credentials = append(dc.Credentials, Credential{
			Host: strings.ToLower(credentials.ConvertToHostname(addr)), Username: ac.Username,
			Password: ac.Password, IdentityToken: ac.IdentityToken,
		})
	}
	slices.SortFunc(dc.Credentials, func(a, b Credential) int { return strings.Compare(a.Host, b.Host) })
	if cf.CredentialsStore != "" {
		dc.Helpers = append(dc.Helpers, cf.CredentialsStore)
	}
	for _, h := range cf.CredentialHelpers {
		if !slices.Contains(dc.Helpers, h) {
			dc.Helpers = append(dc.Helpers, h)
		}
	}
	slices.Sort(dc.Helpers)
	return dc, nil
}

// Secrets are the values to mask in logs: passwords and identity tokens.
func Secrets(creds []Credential) []string {
	var out []string
	for _, c := range creds {
		for _, s := range []string{c.Password, c.IdentityToken} {
			if s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// MergeCredentials keeps the first login for each registry (Docker Hub's
// aliases are one): the caller lists the more explicit sources first.
func MergeCredentials(sources ...[]Credential) []Credential {
	var out []Credential
	seen := map[string]bool{}
	for _, src := range sources {
		for _, c := range src {
			if !seen[registryHost(c.Host)] {
				seen[registryHost(c.Host)] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// LoginFor is the login for host among creds; Docker Hub's aliases are one
// host.
func LoginFor(creds []Credential, host string) (Credential, bool) {
	for _, c := range creds {
		if registryHost(c.Host) == registryHost(host) {
			return c, true
		}
	}
	return Credential{}, false
}
