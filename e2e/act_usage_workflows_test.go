package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestActUsageWorkflows runs the Dockerfile workflows of docs/usage.md and
// docs/migrating.md under act on a host runner (changed only where a test
// must: the registry, the user, plain HTTP; a step list gets a job around
// it, an event to a jobs: list): a tag push publishes v1.0.0 of each image; a pull request builds
// and publishes nothing.
func TestActUsageWorkflows(t *testing.T) {
	for _, tc := range []struct {
		name, doc, marker, label string
		head                     string // what the block lacks of a workflow
		event                    string
		jobs                     int
		files                    map[string]string
		images                   []string // published as v1.0.0
	}{
		{name: "forgejo", doc: "docs/usage.md", marker: "# .forgejo/workflows/image.yml\nname: image\non:\n  push:\n    tags: [\"v*\"]\njobs:\n  image:\n    runs-on: docker\n",
			label: "docker", event: "push", jobs: 1, images: []string{"app"},
			files: map[string]string{"Dockerfile": "FROM scratch\nCOPY hello.txt /hello.txt\n"}},
		{name: "matrix", doc: "docs/usage.md", marker: "context: services/worker", label: "docker", head: "on: push\n", event: "push", jobs: 3, images: []string{"api", "worker", "web"},
			files: map[string]string{
				"services/api/Dockerfile":    "FROM scratch\nCOPY . /api\n",
				"services/worker/Dockerfile": "FROM scratch\nCOPY . /worker\n",
				"web/Containerfile":          "FROM scratch\nCOPY . /web\n",
			}},
		{name: "pull request", doc: "docs/usage.md", marker: "push: ${{ github.event_name == 'push' }}", label: "docker", event: "pull_request", jobs: 1,
			files: map[string]string{"Dockerfile": "FROM scratch\nCOPY hello.txt /hello.txt\n"}},
		{name: "migrating", doc: "docs/migrating.md", marker: "image: zot.example/team/app          # no tag", label: "linux", head: "on: push\njobs:\n  image:\n    runs-on: linux\n    steps:\n", event: "push", jobs: 1, images: []string{"app"},
			files: map[string]string{"docker/Dockerfile": "FROM scratch AS build\nARG GO_VERSION\nCOPY hello.txt /build.txt\nFROM scratch AS runtime\nCOPY hello.txt /hello.txt\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newActRig(t)
			rr := requireRig(t)
			prefix, _ := unique(t)
			wf := tc.head + docBlock(t, tc.doc, "yaml", tc.marker)
			for _, host := range []string{"registry.example.org/team/", "zot.example/team/"} {
				wf = strings.ReplaceAll(wf, host, rr.registry+"/"+prefix+"/")
			}
			wf = strings.ReplaceAll(wf, "username: ci-bot\n", "username: ${{ vars.REGISTRY_USER }}\n")
			if !strings.Contains(wf, rr.registry+"/"+prefix+"/") {
				t.Fatalf("%s: the block names no image of registry.example.org or zot.example:\n%s", tc.doc, wf)
			}
			wf = editReadme(t, wf, readmeEdit{"username: ${{ vars.REGISTRY_USER }}\n", "username: ${{ vars.REGISTRY_USER }}\n          registry-tls: disabled\n", 1})
			tc.files[".forgejo/workflows/image.yml"] = wf
			tc.files["hello.txt"] = "hello from " + tc.doc + "\n"
			app := actRepo(t, r, tc.files)
			event := filepath.Join(t.TempDir(), "event.json")
			writeBytes(t, event, []byte(`{"ref": "refs/tags/v1.0.0", "pull_request": {"number": 1}}`))
			out := runActJobs(t, r, app, tc.jobs, `act "$1" -e "$2" -W .forgejo/workflows/image.yml -P "$3"=-self-hosted --secret-file .secrets \
				--var REGISTRY_USER="$4" --local-repository "blumeops/build-push-image@v2=$PWD/../build-push-image" \
				--action-offline-mode --env BUILD_PUSH_IMAGE_DOWNLOAD=false --env BUILDKIT_HOST="$5"`,
				[]string{tc.event, event, tc.label, rr.user, r.buildkit})
			for _, image := range tc.images {
				if d, code := rr.headDigest(t, prefix+"/"+image, "v1.0.0"); code != http.StatusOK {
					t.Errorf("%s/%s:v1.0.0: HEAD %d %s, want it published", prefix, image, code, d)
				}
			}
			if tc.images == nil && strings.Contains(out, "Published") {
				t.Errorf("a pull request's build says Published:\n%s", out)
			}
		})
	}
}
