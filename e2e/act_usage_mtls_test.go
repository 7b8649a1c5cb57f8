package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testrig"
)

// TestActUsageRemoteBuildkitd runs docs/usage.md's job against a shared
// remote buildkitd over mTLS under act (changed only where a test must:
// the registry, plain HTTP, the buildkitd's address, the action's uses:
// from the forge's URL to the local checkout), with the certificates as
// the job's vars and secret (paths): a tag push publishes v1.0.0.
func TestActUsageRemoteBuildkitd(t *testing.T) {
	r := newActRig(t)
	rr := requireRig(t)
	prefix, _ := unique(t)
	dir := t.TempDir()
	p := newPKI(t, dir)
	port, err := testrig.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	startTLSBuildkitd(t, dir, addr, p)
	wf := "on: push\n" + editReadme(t, docBlock(t, "docs/usage.md", "yaml", "runs-on: linux-build"),
		readmeEdit{"registry.example.org/team/", rr.registry + "/" + prefix + "/", 1},
		readmeEdit{"username: ${{ vars.REGISTRY_USER }}\n", "username: ${{ vars.REGISTRY_USER }}\n          registry-tls: disabled\n", 1},
		readmeEdit{"tcp://buildkitd.internal:1234", addr, 1},
		readmeEdit{"uses: https://forge.example/blumeops/build-push-image@v2", "uses: blumeops/build-push-image@v2", 1})
	app := actRepo(t, r, map[string]string{
		".forgejo/workflows/image.yml": wf,
		"Dockerfile":                   "FROM scratch\nCOPY hello.txt /hello.txt\n",
		"hello.txt":                    "hello over mTLS\n",
	})
	event := t.TempDir() + "/event.json"
	writeBytes(t, event, []byte(`{"ref": "refs/tags/v1.0.0"}`))
	out := runActCommand(t, r, app, `act push -e "$1" -W .forgejo/workflows/image.yml -P linux-build=-self-hosted --secret-file .secrets \
		--var REGISTRY_USER="$2" --var BUILDKIT_CA="$3" --var BUILDKIT_CERT="$4" -s BUILDKIT_KEY="$5" \
		--local-repository "blumeops/build-push-image@v2=$PWD/../build-push-image" \
		--action-offline-mode --env BUILD_PUSH_IMAGE_DOWNLOAD=false --env BUILDKIT_HOST=unix:///nonexistent/buildkitd.sock`,
		[]string{event, rr.user, p.caFile, p.clientCert, p.clientKey})
	if d, code := rr.headDigest(t, prefix+"/app", "v1.0.0"); code != http.StatusOK {
		t.Errorf("%s/app:v1.0.0: HEAD %d %s, want it published\n%s", prefix, code, d, out)
	}
	if strings.Contains(out, "No buildkitd at") {
		t.Errorf("the job did not use the remote buildkitd:\n%s", out)
	}
}
