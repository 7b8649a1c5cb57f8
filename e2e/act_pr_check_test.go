package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testrig"
)

// TestActPullRequestCheck runs the pull-request check workflows of the
// README and of docs/usage.md (changed only where a test must: the
// registry, plain HTTP in both steps) under act for a pull_request, on a
// nix host whose nix-build leaves a stream as streamLayeredImage's, against
// a real zot that answers anonymous reads (as the users'; the plan needs
// them with no key): the plan finds the one image, its leg checks the
// stream with no key, and nothing is written.
func TestActPullRequestCheck(t *testing.T) {
	for _, tc := range []struct{ doc, marker, push string }{
		{"README.md", "on: pull_request", "push: false              # no api-key, never a write\n"},
		{"docs/usage.md", "nix-pr.yml", "push: false                              # no api-key: never a write\n"},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			r := newActRig(t)
			rr, _ := realZot(t, requireRig(t), testrig.WithAnonymousRead())
			prefix, _ := unique(t)
			wf := editReadme(t, docBlock(t, tc.doc, "yaml", tc.marker),
				readmeEdit{"registry.example/team/", rr.registry + "/" + prefix + "/", 1},
				readmeEdit{tc.push, tc.push + "          registry-tls: disabled\n", 1},
				readmeEdit{"tag-suffix: -nix\n  check:", "tag-suffix: -nix\n          registry-tls: disabled\n  check:", 1})
			app := actRepo(t, r, map[string]string{
				".forgejo/workflows/pr.yml":  wf,
				"containers/app/default.nix": "{ pkgs ? import <nixpkgs> { } }:\nlet\n  version = \"1.2.0\";\nin\npkgs.dockerTools.streamLayeredImage { name = \"app\"; }\n",
			})
			s := newStore(t)
			stream := s.stream(nixImage{packages: []string{s.package_("hello", "hello", 64<<10)}})
			bin := t.TempDir()
			if err := os.WriteFile(filepath.Join(bin, "nix-build"), []byte("#!/bin/sh\nln -sfn "+stream+" result\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			event := filepath.Join(t.TempDir(), "pr.json")
			writeBytes(t, event, []byte(`{"pull_request": {"number": 1}}`))
			out := runActJobs(t, r, app, 2, `act pull_request -e "$1" -W .forgejo/workflows/pr.yml -P nix=-self-hosted \
				--local-repository "blumeops/build-push-image@v2=$PWD/../build-push-image" \
				--action-offline-mode --env BUILD_PUSH_IMAGE_DOWNLOAD=false --env BUILDKIT_HOST=unix:///nonexistent/buildkitd.sock`,
				[]string{event}, "PATH="+bin+":"+filepath.Dir(r.act)+":"+os.Getenv("PATH"))
			if !strings.Contains(out, "v1.2.0-nix") {
				t.Errorf("the check does not name v1.2.0-nix:\n%s", out)
			}
			if !strings.Contains(out, "v1.2.0-nix is not published yet: a push would publish sha256:") {
				t.Errorf("the check leg did not check the stream:\n%s", out)
			}
			if _, code := rr.headDigest(t, prefix+"/app", "v1.2.0-nix"); code != 404 {
				t.Errorf("%s/app:v1.2.0-nix: HEAD %d, want 404: the check wrote", prefix, code)
			}
		})
	}
}
