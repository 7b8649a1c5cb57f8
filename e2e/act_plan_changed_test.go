package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testrig"
)

// TestActPlanChangedPullRequest runs docs/plan.md's pull-request workflow
// (changed only where a test must: the registry, plain HTTP in both steps)
// under act for a pull_request whose event names its base commit, against
// a real zot with anonymous read where app's v1.2.0-nix is published from
// the base's image: the pull request changes app's files but not its
// version, the plan puts app in the matrix all the same, and its leg
// checks the new stream with no key and fails with "bump the version";
// nothing is written.
func TestActPlanChangedPullRequest(t *testing.T) {
	r := newActRig(t)
	rr, _ := realZot(t, requireRig(t), testrig.WithAnonymousRead())
	prefix, _ := unique(t)
	check := "push: false                              # no api-key: never a write\n"
	wf := editReadme(t, docBlock(t, "docs/plan.md", "yaml", "nix-pr-changed.yml"),
		readmeEdit{"registry.example/team/", rr.registry + "/" + prefix + "/", 1},
		readmeEdit{check, check + "          registry-tls: disabled\n", 1},
		readmeEdit{"shared-paths: flake.lock\n", "shared-paths: flake.lock\n          registry-tls: disabled\n", 1})

	s := newStore(t)
	hello := s.package_("hello", "hello", 64<<10)
	before := s.result(s.stream(nixImage{packages: []string{hello}}))
	after := s.stream(nixImage{packages: []string{hello, s.package_("curl", "curl", 64<<10)}})
	seed := archiveInputs(t, rr, prefix+"/app", "v1.2.0", before)
	seed["INPUT_TAG-SUFFIX"] = "-nix"
	published := runArchive(t, seed).outputs["digest"]

	app := actRepo(t, r, map[string]string{
		".forgejo/workflows/pr.yml":   wf,
		"flake.lock":                  "{\"nixpkgs\": \"1\"}\n",
		"containers/app/default.nix":  "{ pkgs ? import <nixpkgs> { } }:\nlet\n  version = \"1.2.0\";\nin\npkgs.dockerTools.streamLayeredImage { name = \"app\"; contents = import ./packages.nix { inherit pkgs; }; }\n",
		"containers/app/packages.nix": "{ pkgs }: [ pkgs.hello ]\n",
	})
	base := forgeGit(t, app, nil, "rev-parse", "HEAD")
	forgeCommit(t, app, "containers/app/packages.nix", "{ pkgs }: [ pkgs.hello pkgs.curl ]\n") // the version is kept
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "nix-build"), []byte("#!/bin/sh\nln -sfn "+after+" result\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	event := filepath.Join(t.TempDir(), "pr.json")
	writeBytes(t, event, []byte(`{"pull_request": {"number": 1, "base": {"sha": "`+base+`"}}}`))
	out, err := runActOutcome(t, r, app, 1, 1, `act pull_request -e "$1" -W .forgejo/workflows/pr.yml -P nix=-self-hosted \
		--local-repository "blumeops/build-push-image@v2=$PWD/../build-push-image" \
		--action-offline-mode --env BUILD_PUSH_IMAGE_DOWNLOAD=false --env BUILDKIT_HOST=unix:///nonexistent/buildkitd.sock`,
		[]string{event}, "PATH="+bin+":"+filepath.Dir(r.act)+":"+os.Getenv("PATH"))
	if err == nil {
		t.Errorf("act exited 0 with a failed job")
	}
	for _, want := range []string{
		"plan: to check   " + rr.registry + "/" + prefix + "/app:v1.2.0-nix containers/app",
		"version tag v1.2.0-nix already exists in " + rr.registry + "/" + prefix + "/app (" + published + ") and names another image than this one",
		"bump the version",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in act's output:\n%s", want, out)
		}
	}
	if d, _ := rr.headDigest(t, prefix+"/app", "v1.2.0-nix"); d != published {
		t.Errorf("%s/app:v1.2.0-nix names %s, want %s still: the check wrote", prefix, d, published)
	}
}
