package e2e

import (
	"context"
	"net/http"
	"path"
	"strings"
	"sync"
	"testing"

	godigest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/ref"

	"github.com/blumeops/build-push-image/internal/push"
	"github.com/blumeops/build-push-image/internal/sign"
)

// TestArchiveSignedReuse: with signing-key, the next release reuses the
// layer of a release signed with the same key without downloading it (no
// GET of its blob at the registry); a poisoned v99.0.0 signed with
// another key (pushed and signed by another tool: the action itself
// refuses a layer that is not its config's diff ID) is still streamed,
// refused and named in one warning.
func TestArchiveSignedReuse(t *testing.T) {
	r := requireRig(t)
	ours, theirs := generateKeyPair(t), generateKeyPair(t)
	fp := newFaultProxy(t, r)
	var mu sync.Mutex
	gets := map[string]int{} // blob GETs by digest
	addr := strings.TrimPrefix(strings.TrimSuffix(serve(t, &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if requestKind(req) == kindBlobGet {
			mu.Lock()
			gets[path.Base(req.URL.Path)]++
			mu.Unlock()
		}
		fp.ServeHTTP(w, req)
	})}), "/"), "http://")
	image := randomName("it/archive-signed-reuse")
	run := func(k keyPair, version, sha, archive string) result {
		env := k.inputs(archiveInputs(t, r, image, version, archive))
		env["INPUT_IMAGE"] = addr + "/" + image
		env["INPUT_SHA"] = strings.Repeat(sha, 40)
		return runArchive(t, env)
	}
	base := layerTar(t, "srv/base", strings.Repeat("the base, released and signed before\n", 100))
	genuine := layerTar(t, "srv/app", strings.Repeat("the genuine application\n", 100))
	run(ours, "v1.0.0", "a", nixStyle(t, base))

	evil := gzipped(t, layerTar(t, "srv/app", "the attacker's application\n"))
	cfg := imageConfig(t, godigest.FromBytes(genuine))
	m := imageManifest(t, describe(ociConfigType, cfg), describe("application/vnd.oci.image.layer.v1.tar+gzip", evil))
	r.uploadBlob(t, image, evil)
	r.uploadBlob(t, image, cfg)
	r.putManifest(t, image, "v99.0.0", ociManifestType, m)
	theirs.signDirectly(t, r, image, godigest.FromBytes(m))
	theirs.wantVerified(t, r, image, "v99.0.0")

	mu.Lock()
	clear(gets)
	mu.Unlock()
	res := run(ours, "v1.1.0", "b", nixStyle(t, base, genuine))
	warnings := lines(res.stdout, "::warning")
	if len(warnings) != 1 || !strings.Contains(warnings[0], image+":v99.0.0") || !strings.Contains(warnings[0], godigest.FromBytes(evil).String()) {
		t.Errorf("warnings %q, want one naming %s:v99.0.0 and its blob", warnings, image)
	}
	wantLine(t, res.stdout, "2 layers: 1 reused from the registry, 1 compressed")
	first, p := pull(t, r, image, "v1.0.0"), pull(t, r, image, "v1.1.0")
	released := first.manifest.Layers[0].Digest
	if p.manifest.Layers[0].Digest != released || p.manifest.Layers[1].Digest == godigest.FromBytes(evil) {
		t.Errorf("v1.1.0 has layers %v, want v1.0.0's %s and a new one (not the attacker's)", p.manifest.Layers, released)
	}
	mu.Lock()
	defer mu.Unlock()
	if gets[released.String()] != 0 || gets[godigest.FromBytes(evil).String()] != 1 {
		t.Errorf("blob GETs %v: want none of the signed release's layer %s, one of the attacker's %s", gets, released, godigest.FromBytes(evil))
	}
}

// signDirectly signs image@d in r's registry with k as the action's
// signer would, without any of the action's checks: another tool.
func (k keyPair) signDirectly(t *testing.T, r rig, image string, d godigest.Digest) {
	t.Helper()
	key, err := sign.ParseKey([]byte(k.private), []byte(k.password))
	if err != nil {
		t.Fatal(err)
	}
	at, err := ref.New(r.registry + "/" + image)
	if err != nil {
		t.Fatal(err)
	}
	reg := push.New(at, push.WithCredentials(r.user, r.key), push.WithTLS(push.TLSDisabled))
	defer func() { _ = reg.Close() }()
	if _, err := sign.New(key).Ensure(context.Background(), reg, d); err != nil {
		t.Fatalf("sign %s@%s: %v", image, d, err)
	}
}
