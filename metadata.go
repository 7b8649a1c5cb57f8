package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/guard"
)

// This file parses the inputs that shape what is published: reproducibility,
// OCI metadata, attestations, secrets and cache.

func parsePolicy(v string) (guard.Policy, error) {
	switch v {
	case "fail":
		return guard.Fail, nil
	case "skip-identical":
		return guard.SkipIdentical, nil
	}
	return 0, fmt.Errorf("on-existing-version: %q is not one of fail, skip-identical", v)
}

func parsePushVia(v string) (bool, error) {
	switch v {
	case "action":
		return false, nil
	case "buildkit":
		return true, nil
	}
	return false, fmt.Errorf("push-via: %q is not one of action, buildkit", v)
}

func parseProvenance(v string) (string, error) {
	switch strings.ToLower(v) {
	case "false":
		return "", nil
	case "true", "min":
		return "min", nil
	case "max":
		return "max", nil
	}
	return "", fmt.Errorf("provenance: %q is not one of false, true, min, max", v)
}

// parseEpoch reads source-date-epoch, or else asks git (run with env as its
// whole environment) for the commit time of sha in the checkout holding
// dir. Outside a checkout it is zero.
func parseEpoch(v, dir, sha string, env []string) (time.Time, error) {
	if v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("source-date-epoch: %q is not a number of seconds since 1970; use e.g. $(git log -1 --format=%%ct)", v)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	git := exec.Command("git", "-C", dir, "show", "-s", "--format=%ct", sha+"^{commit}")
	git.Env = append([]string{}, env...) // never nil: nil inherits everything
	out, err := git.Output()
	if err != nil {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return time.Time{}, nil
	}
	return time.Unix(n, 0).UTC(), nil
}

// ociMetadata is the org.opencontainers.image.* set, from the CI context
// alone: no forge API is called, so it works under act and Forgejo alike.
func ociMetadata(c config, getenv func(string) string) map[string]string {
	const p = "org.opencontainers.image."
	m := map[string]string{p + "revision": c.SHA, p + "version": c.Version}
	if server, repo := getenv("GITHUB_SERVER_URL"), getenv("GITHUB_REPOSITORY"); server != "" && repo != "" {
		url := strings.TrimSuffix(server, "/") + "/" + repo
		m[p+"source"], m[p+"url"], m[p+"title"] = url, url, path.Base(repo)
	}
	if !c.Epoch.IsZero() {
		m[p+"created"] = c.Epoch.Format(time.RFC3339)
	}
	return m
}

// withDefaults returns defaults overridden by the user's own values.
func withDefaults(defaults, user map[string]string) map[string]string {
	out := maps.Clone(defaults)
	maps.Copy(out, user)
	return out
}

// parseSecrets reads id=VALUE, id=env:VAR and id=file:PATH lines. Errors
// name the line, never the value.
func parseSecrets(v string, getenv func(string) string) (map[string][]byte, error) {
	kv, err := parseKeyValues("secrets", v)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(kv))
	for id, val := range kv {
		switch {
		case strings.HasPrefix(val, "env:"):
			name := strings.TrimPrefix(val, "env:")
			if getenv(name) == "" {
				return nil, fmt.Errorf("secrets: %s: environment variable %s is empty or unset; pass it to the step's env", id, name)
			}
			out[id] = []byte(getenv(name))
		case strings.HasPrefix(val, "file:"):
			b, err := os.ReadFile(strings.TrimPrefix(val, "file:"))
			if err != nil {
				return nil, fmt.Errorf("secrets: %s: cannot read %s; give a readable file", id, strings.TrimPrefix(val, "file:"))
			}
			out[id] = b
		default:
			out[id] = []byte(val)
		}
	}
	return out, nil
}

// parseCaches reads one cache entry a line: comma-separated key=value with
// a type, as in docker buildx's --cache-from/--cache-to.
func parseCaches(name, v string) ([]build.Cache, error) {
	var out []build.Cache
	for i, line := range strings.Split(v, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		c := build.Cache{Attrs: map[string]string{}}
		for _, field := range strings.Split(line, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(field), "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("%s: line %d: %q is not key=value; write e.g. type=registry,ref=registry.example/team/app:buildcache", name, i+1, field)
			}
			if k == "type" {
				c.Type = val
			} else {
				c.Attrs[k] = val
			}
		}
		if c.Type == "" {
			return nil, errors.New(name + ": line " + strconv.Itoa(i+1) + " has no type=; write e.g. type=registry,ref=...")
		}
		out = append(out, c)
	}
	return out, nil
}
