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

// zotTarget is the registry the zot race tests push to, through a fault
// proxy that counts requests: a real zot whose user may read and create
// but not update (testrig.StartZot) when $ZOT_BINARY names a zot binary,
// else the rig's registry behind the proxy's emulation of that refusal.
// CI has no zot (the module proxy does not serve it), so it runs the
// emulation; a developer with a zot binary checks the emulation is right.
func zotTarget(t *testing.T, r rig) (rig, *faultProxy) {
	t.Helper()
	bin := os.Getenv(testrig.EnvZotBinary)
	if bin == "" {
		fp := newFaultProxy(t, r)
		fp.zot = true
		return r, fp
	}
	z, err := testrig.StartZot(context.Background(), bin, t.TempDir(), "ci")
	if err != nil {
		t.Fatalf("%s=%s: %v", testrig.EnvZotBinary, bin, err)
	}
	t.Cleanup(z.Stop)
	t.Logf("real zot at %s, user %s with read and create only", z.Addr, z.User)
	zr := rig{registry: z.Addr, user: z.User, key: z.Key, buildkit: r.buildkit}
	return zr, newFaultProxy(t, zr)
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
