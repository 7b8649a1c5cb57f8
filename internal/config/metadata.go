package config

import (
	"fmt"
	"maps"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"time"
)

// This file holds what the image says about its source: the
// org.opencontainers.image.* metadata and the SOURCE_DATE_EPOCH that makes
// a commit build the same digest.

// parseEpoch reads source-date-epoch; empty is the zero time (then
// commitTime decides).
func parseEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("%q is not a number of seconds since 1970; use e.g. $(git log -1 --format=%%ct)", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

// commitTime asks git (run with env as its whole environment) for the
// commit time of sha in the checkout holding dir. Outside a checkout it
// is zero.
func commitTime(dir, sha string, env []string) time.Time {
	git := exec.Command("git", "-C", dir, "show", "-s", "--format=%ct", sha+"^{commit}")
	git.Env = append([]string{}, env...) // never nil: nil inherits everything
	out, err := git.Output()
	if err != nil {
		return time.Time{}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// gitVars are git's own variables, which its children may need besides
// procenv's allow list.
var gitVars = []string{"GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM", "GIT_CEILING_DIRECTORIES"}

// headCommit is the commit checked out in dir (git rev-parse HEAD), the
// SHA of a run by hand where $GITHUB_SHA is not set; "" when dir is no
// git checkout. The inputs, secrets among them, are not all parsed yet,
// so git gets less than the allow list: PATH, HOME (its config, where
// safe.directory is) and git's own variables, none holding the key. It
// reads the local repository only: no proxy, no CA bundle.
func headCommit(dir string, getenv func(string) string, key string) string {
	git := exec.Command("git", "-C", dir, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
	git.Env = []string{} // never nil: nil inherits everything
	for _, name := range append([]string{"PATH", "HOME"}, gitVars...) {
		if v := getenv(name); v != "" && (key == "" || !strings.Contains(v, key)) {
			git.Env = append(git.Env, name+"="+v)
		}
	}
	out, err := git.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// ociMetadata is the org.opencontainers.image.* set, from the CI context
// alone: no forge API is called, so it works under act and Forgejo alike.
func ociMetadata(c Config, getenv func(string) string) map[string]string {
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
