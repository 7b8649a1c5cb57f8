package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	godigest "github.com/opencontainers/go-digest"

	"github.com/blumeops/build-push-image/internal/testrig"
)

// zotTarget is the registry the zot tests push to, through a fault proxy
// that counts requests: a real zot whose user may read and create but not
// update (testrig.StartZot) when $ZOT_BINARY names a zot binary (.ci/run
// unpacks zot v2.1.20 from ../shared/tools/zot), else the rig's registry
// behind the proxy's emulation of zot's refusals, for a clone without it.
// The test's log says which one it ran against.
func zotTarget(t *testing.T, r rig) (rig, *faultProxy) {
	t.Helper()
	if os.Getenv(testrig.EnvZotBinary) == "" {
		t.Logf("zot: the fault proxy's emulation of zot (%s not set)", testrig.EnvZotBinary)
		fp := newFaultProxy(t, r)
		fp.zot = true
		return r, fp
	}
	zr, _ := realZot(t, r)
	return zr, newFaultProxy(t, zr)
}

// realZot starts a real zot from $ZOT_BINARY, configured by opts (its
// user may read and create every repository, no update, unless opts say
// otherwise), for a test about what only zot itself does (its API keys,
// anonymous read, CEL conditions): without the binary such a test says
// why it skipped (CI always has it, .ci/run unpacks it).
func realZot(t *testing.T, r rig, opts ...testrig.ZotOption) (rig, *testrig.Zot) {
	t.Helper()
	bin := os.Getenv(testrig.EnvZotBinary)
	if bin == "" {
		t.Skipf("needs the real zot: set %s to a zot v2.1.20 binary (.ci/run does when ../shared/tools/zot is beside the clone)", testrig.EnvZotBinary)
	}
	z, err := testrig.StartZot(context.Background(), bin, t.TempDir(), "ci", opts...)
	if err != nil {
		t.Fatalf("%s=%s: %v", testrig.EnvZotBinary, bin, err)
	}
	t.Cleanup(z.Stop)
	t.Logf("zot: the real zot %s at %s, user %s", bin, z.Addr, z.User)
	return rig{registry: z.Addr, user: z.User, key: z.Key, buildkit: r.buildkit}, z
}

// TestZotRefusesDockerMediaTypes: the zot the tests push to (real, or the
// emulation) takes OCI manifests and refuses Docker schema 2 ones, as a
// zot without its docker2s2 compatibility setting does, the user's zot.
func TestZotRefusesDockerMediaTypes(t *testing.T) {
	zr, fp := zotTarget(t, requireRig(t))
	zr.registry = fp.addr
	image := randomName("it/zot-media")
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}`)
	zr.uploadBlob(t, image, config)
	for _, tc := range []struct {
		manifest, config string
		status           int
	}{
		{"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.container.image.v1+json", http.StatusUnsupportedMediaType},
		{"application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.config.v1+json", http.StatusCreated},
	} {
		body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[]}`,
			tc.manifest, tc.config, godigest.FromBytes(config), len(config))
		resp := zr.request(t, http.MethodPut, "/v2/"+image+"/manifests/"+godigest.FromString(body).String(), strings.NewReader(body), tc.manifest)
		said, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != tc.status || (tc.status != http.StatusCreated && !strings.Contains(string(said), `"MANIFEST_INVALID"`)) {
			t.Errorf("PUT a %s: %s %s, want %d (MANIFEST_INVALID when refused)", tc.manifest, resp.Status, said, tc.status)
		}
	}
}

// uploadBlob uploads data as a blob of image, in one monolithic PUT.
func (r rig) uploadBlob(t *testing.T, image string, data []byte) {
	t.Helper()
	resp := r.request(t, http.MethodPost, "/v2/"+image+"/blobs/uploads/", nil, "")
	_ = resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusAccepted || err != nil {
		t.Fatalf("POST blob upload: %s (%v)", resp.Status, err)
	}
	q := loc.Query()
	q.Set("digest", godigest.FromBytes(data).String())
	loc.RawQuery = q.Encode()
	put := r.request(t, http.MethodPut, loc.RequestURI(), bytes.NewReader(data), "application/octet-stream")
	_ = put.Body.Close()
	if put.StatusCode != http.StatusCreated {
		t.Fatalf("PUT blob: %s", put.Status)
	}
}
