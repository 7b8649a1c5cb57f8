package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
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

// TestActPlanPush runs docs/plan.md's default-branch workflow (changed
// only where a test must: the registry, the user, plain HTTP) under act
// for a push whose event names before, against a real zot with anonymous
// read and a create-only CI user: old has only an old-scheme tag of its
// version and is adopted (its v1.0.0-nix names that image, nothing built),
// two has two, of two images, and the newer commit's is adopted;
// app changed since before with its version published and is the one
// warning; dex names no version in default.nix, gets v2.39.1 from the
// version command and is the one leg, published.
func TestActPlanPush(t *testing.T) {
	r := newActRig(t)
	rr, _ := realZot(t, requireRig(t), testrig.WithAnonymousRead())
	prefix, _ := unique(t)
	wf := editReadme(t, docBlock(t, "docs/plan.md", "yaml", "nix-images.yml"), readmeCredentials(rr, prefix, 2)...)
	old := seedImage(t, rr, prefix+"/old", "old-1.0.0", "v1.0.0-abc1234-nix")
	app := seedImage(t, rr, prefix+"/app", "app-1.2.0", "v1.2.0-nix")
	repo := actRepo(t, r, map[string]string{
		".forgejo/workflows/nix-images.yml": wf,
		"flake.lock":                        "{\"nixpkgs\": \"1\"}\n",
		"containers/old/default.nix":        nixFile("1.0.0"),
		"containers/app/default.nix":        nixFile("1.2.0"),
		"containers/dex/default.nix":        "pkgs.dockerTools.buildLayeredImage {\n  name = \"dex\";\n  tag = \"latest\";\n}\n",
		"containers/two/default.nix":        nixFile("3.0.0"),
	})
	writeBytes(t, filepath.Join(repo, ".secrets"), []byte("REGISTRY_API_KEY="+rr.key+"\n"))
	before := forgeGit(t, repo, nil, "rev-parse", "HEAD")
	forgeCommit(t, repo, "containers/app/packages.nix", "{ pkgs }: [ pkgs.curl ]\n") // app's version is kept
	// two's v3.0.0 was built at both commits, two images: the newer is adopted.
	head := forgeGit(t, repo, nil, "rev-parse", "HEAD")
	seedImage(t, rr, prefix+"/two", "two-before", "v3.0.0-"+before[:7]+"-nix")
	two := seedImage(t, rr, prefix+"/two", "two-head", "v3.0.0-"+head[:7]+"-nix")
	event := filepath.Join(t.TempDir(), "push.json")
	writeBytes(t, event, []byte(`{"ref": "refs/heads/main", "before": "`+before+`"}`))
	path := fakeNix(t, map[string]string{"dex": "2.39.1"}) + ":" + fakeNixBuild(t, []string{"dex"}) + ":" + filepath.Dir(r.act) + ":" + os.Getenv("PATH")
	out := runActJobs(t, r, repo, 2, `act push -e "$1" -W .forgejo/workflows/nix-images.yml -P nix=-self-hosted --secret-file .secrets \
		--local-repository "blumeops/build-push-image@v2=$PWD/../build-push-image" \
		--action-offline-mode --env BUILD_PUSH_IMAGE_DOWNLOAD=false --env BUILDKIT_HOST=unix:///nonexistent/buildkitd.sock`,
		[]string{event}, "PATH="+path)
	testcheck.NoSecret(t, rr.key, out)
	image := rr.registry + "/" + prefix
	for _, want := range []string{
		"version v2.39.1 read from the output of `nix eval --raw .#dex.version` in containers/dex",
		"plan: adopted  " + image + "/old:v1.0.0-nix from v1.0.0-abc1234-nix (" + old.String() + "): tag written, nothing built",
		"plan: changed since " + before[:12] + " but their version is published, so nothing publishes them (1): containers/app (" + image + "/app:v1.2.0-nix)",
		"plan: adopted  " + image + "/two:v3.0.0-nix from v3.0.0-" + head[:7] + "-nix (" + two.String() + ", the newest commit's of the 2 images its old tags name): tag written, nothing built",
		"plan: 1 of 4 images to publish",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in act's output:\n%s", want, out)
		}
	}
	if d, _ := rr.headDigest(t, prefix+"/old", "v1.0.0-nix"); d != old.String() {
		t.Errorf("old:v1.0.0-nix names %q, want %s, the image its old tag names", d, old)
	}
	if d, _ := rr.headDigest(t, prefix+"/two", "v3.0.0-nix"); d != two.String() {
		t.Errorf("two:v3.0.0-nix names %q, want %s, the newer commit's image", d, two)
	}
	if d, _ := rr.headDigest(t, prefix+"/app", "v1.2.0-nix"); d != app.String() {
		t.Errorf("app:v1.2.0-nix names %q, want %s still", d, app)
	}
	if _, code := rr.headDigest(t, prefix+"/dex", "v2.39.1-nix"); code != http.StatusOK {
		t.Errorf("dex:v2.39.1-nix: HEAD %d, want it published by the leg", code)
	}
}
