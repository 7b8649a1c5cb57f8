package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestActUsageStreamSteps runs the README's streamLayeredImage steps
// (changed only where a test must: the registry, plain HTTP) as the job of
// a workflow under act on a nix host, after a checkout of a repository
// holding the docs' containers/app/default.nix, whose version line they
// read: the runner's nix-build leaves ./result, a
// link to a stream as streamLayeredImage's (e2e/nixstream), and
// v1.2.0-nix is published from its output, checked against platforms.
func TestActUsageStreamSteps(t *testing.T) {
	r := newActRig(t)
	rr := requireRig(t)
	prefix, _ := unique(t)
	app := usageStreamApp(t, r, rr.registry+"/"+prefix)
	s := newStore(t)
	stream := s.stream(nixImage{packages: []string{s.package_("hello", "hello", 64<<10)}})
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "nix-build"), []byte("#!/bin/sh\nln -sfn "+stream+" result\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := runActCommand(t, r, app, `act push -W .forgejo/workflows/image.yml -P nix=-self-hosted --secret-file .secrets \
		--var REGISTRY_USER="$1" --local-repository "blumeops/build-push-image@v2=$PWD/../build-push-image" \
		--action-offline-mode --env BUILD_PUSH_IMAGE_DOWNLOAD=false --env BUILDKIT_HOST=unix:///nonexistent/buildkitd.sock`,
		[]string{rr.user}, "PATH="+bin+":"+filepath.Dir(r.act)+":"+os.Getenv("PATH"))
	if d, code := rr.headDigest(t, prefix+"/app", "v1.2.0-nix"); code != http.StatusOK {
		t.Errorf("%s/app:v1.2.0-nix: HEAD %d %s, want it published\n%s", prefix, code, d, out)
	}
	if !strings.Contains(out, "v1.2.0-nix") {
		t.Errorf("act's output does not name v1.2.0-nix:\n%s", out)
	}
}

// usageStreamApp is a repository whose workflow runs the README's
// streamLayeredImage steps (changed only where a test must: the registry,
// repositories under at, and plain HTTP) after a checkout, on a nix host;
// it holds the docs' containers/app/default.nix, whose version line the
// steps read.
func usageStreamApp(t *testing.T, r actRig, at string) string {
	t.Helper()
	steps := editReadme(t, readmeBlock(t, "yaml", "# ./result -> /nix/store/…-stream-app, a program"),
		readmeEdit{"registry.example/team/", at + "/", 1},
		readmeEdit{"api-key: ${{ secrets.REGISTRY_API_KEY }}\n", "api-key: ${{ secrets.REGISTRY_API_KEY }}\n          registry-tls: disabled\n", 1})
	return actRepo(t, r, map[string]string{
		".forgejo/workflows/image.yml": "on: push\njobs:\n  image:\n    runs-on: nix\n    steps:\n      - uses: actions/checkout@v4\n" + steps,
		"containers/app/default.nix":   docBlock(t, "docs/usage.md", "nix", "pkgs.dockerTools.streamLayeredImage {"),
	})
}
