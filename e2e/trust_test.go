package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	godigest "github.com/opencontainers/go-digest"

	"github.com/blumeops/build-push-image/internal/testcheck"
	"github.com/blumeops/build-push-image/internal/testrig"
)

// Issue 29: trust holds where features meet. skip-identical adopts only
// a manifest whose every descriptor is the run's own, so a signature
// never vouches for what the run did not check; every layer of every
// archive is its config's diff ID before a manifest names it.

const (
	gzipLayerType = "application/vnd.oci.image.layer.v1.tar+gzip"
	zstdLayerType = "application/vnd.oci.image.layer.v1.tar+zstd"
)

// annotated is an OCI image manifest of config and layers (descriptors
// as maps, so a test can lie in any field) with annotations.
func annotated(t *testing.T, config map[string]any, layers []map[string]any, annotations map[string]string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": ociManifestType, "config": config, "layers": layers, "annotations": annotations})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func descriptorOf(mediaType string, b []byte) map[string]any {
	return map[string]any{"mediaType": mediaType, "digest": godigest.FromBytes(b), "size": len(b)}
}

// TestSkipIdenticalRefusesALookalike: on the real zot, where CI and an
// attacker may both read and create, the attacker publishes v2.0.0 with
// the config and layer digests of CI's reproducible image but its own
// annotations, one layer labelled tar+zstd although it is gzip, and one
// size off by 7. The CI run (skip-identical, signing-key) refuses to
// adopt it in one line naming the field, signs nothing of the
// attacker's, tags nothing. A manifest that differs only in its
// annotations is adopted as before: the version tag keeps it, the SHA
// tag names it, the digest output is it, and it is signed (its every
// descriptor is the run's own, checked).
func TestSkipIdenticalRefusesALookalike(t *testing.T) {
	r := requireRig(t)
	zr, z := realZot(t, r, testrig.WithOtherUser("attacker"))
	attacker := rig{registry: z.Addr, user: "attacker", key: z.Others["attacker"]}
	key := generateKeyPair(t)
	image := randomName("team/app")

	tar1, tar2 := layerTar(t, "srv/base", strings.Repeat("base\n", 200)), layerTar(t, "srv/app", strings.Repeat("app\n", 200))
	l1, l2 := gzipped(t, tar1), gzipped(t, tar2)
	cfg := imageConfig(t, godigest.FromBytes(tar1), godigest.FromBytes(tar2))
	layers := func() []map[string]any {
		return []map[string]any{descriptorOf(gzipLayerType, l1), descriptorOf(gzipLayerType, l2)}
	}
	ours := annotated(t, descriptorOf(ociConfigType, cfg), layers(), map[string]string{"org.opencontainers.image.source": "https://forge.example/team/app"})
	layout := ociDir(t, describe(ociManifestType, ours), l1, l2, cfg, ours)
	for _, b := range [][]byte{cfg, l1, l2} {
		attacker.uploadBlob(t, image, b)
	}
	evil := map[string]string{"org.opencontainers.image.source": "https://evil.invalid/team/app"}
	lying := layers()
	lying[0]["mediaType"] = zstdLayerType
	lying[1]["size"] = len(l2) + 7
	lookalike := annotated(t, descriptorOf(ociConfigType, cfg), lying, evil)
	attacker.putManifest(t, image, "v2.0.0", ociManifestType, lookalike)

	run := func(version string) result {
		env := key.inputs(archiveInputs(t, zr, image, version, layout))
		env["INPUT_ON-EXISTING-VERSION"] = "skip-identical"
		return runAction(t, env, nil)
	}
	res := run("v2.0.0")
	testcheck.OneErrorLine(t, res.stdout, "version tag v2.0.0 already exists in "+zr.registry+"/"+image+" ("+godigest.FromBytes(lookalike).String()+
		"), not this run's image (layer 1 media type: the registry's is "+zstdLayerType+", this run's "+gzipLayerType+")")
	if got, _ := zr.headDigest(t, image, "v2.0.0"); got != godigest.FromBytes(lookalike).String() {
		t.Errorf("v2.0.0 names %s, want the attacker's, left alone", got)
	}
	if got, code := zr.headDigest(t, image, testcheck.SHA); code != http.StatusNotFound {
		t.Errorf("the SHA tag names %s (%d), want no tag written", got, code)
	}
	if sigs := zr.signatures(t, image, godigest.FromBytes(lookalike).String()); len(sigs) != 0 {
		t.Errorf("the attacker's manifest has signatures %v, want none", sigs)
	}

	same := annotated(t, descriptorOf(ociConfigType, cfg), layers(), evil)
	attacker.putManifest(t, image, "v3.0.0", ociManifestType, same)
	res = run("v3.0.0")
	adopted := godigest.FromBytes(same).String()
	if res.code != 0 || res.outputs["digest"] != adopted {
		t.Fatalf("annotations only: exit %d, digest %q, want %s adopted\n%s", res.code, res.outputs["digest"], adopted, res.stdout)
	}
	for _, tag := range []string{"v3.0.0", testcheck.SHA} {
		if got, _ := zr.headDigest(t, image, tag); got != adopted {
			t.Errorf("%s names %s, want the adopted %s", tag, got, adopted)
		}
	}
	key.wantVerified(t, zr, image, "v3.0.0")
}

// TestArchiveLayerNotItsDiffID: an OCI layout (and the same as an OCI
// archive, from a file and on standard input) whose manifest names a
// blob that does not unpack to its config's diff ID fails in one line
// naming the layer, with and without signing-key, and nothing is in the
// registry: no manifest, no tag.
func TestArchiveLayerNotItsDiffID(t *testing.T) {
	r := requireRig(t)
	genuine, other := layerTar(t, "srv/app", "the genuine application\n"), layerTar(t, "srv/app", "the attacker's application\n")
	base := gzipped(t, layerTar(t, "srv/base", "base\n"))
	swapped := gzipped(t, other)
	cfg := imageConfig(t, godigest.FromBytes(layerTar(t, "srv/base", "base\n")), godigest.FromBytes(genuine))
	m := imageManifest(t, describe(ociConfigType, cfg), describe(gzipLayerType, base), describe(gzipLayerType, swapped))
	layout := ociDir(t, describe(ociManifestType, m), base, swapped, cfg, m)
	want := "layer 2 of 2 (" + godigest.FromBytes(swapped).String() + ") of manifest " + godigest.FromBytes(m).String() +
		" unpacks to " + godigest.FromBytes(other).String() + " but its config says its diff ID is " + godigest.FromBytes(genuine).String()
	key := generateKeyPair(t)
	tarball := ociArchive(t, layout)
	stdin, err := os.ReadFile(tarball)
	if err != nil {
		t.Fatal(err)
	}
	for name, archive := range map[string]string{"OCI layout": layout, "OCI archive": tarball, "OCI archive on standard input": "-"} {
		for _, signed := range []bool{false, true} {
			image := randomName("it/diffid")
			env := archiveInputs(t, r, image, "v1.0.0", archive)
			if signed {
				env = key.inputs(env)
			}
			cmd := actionCommand(t, t.Context(), env)
			cmd.Stdin = bytes.NewReader(stdin)
			res := runCommand(t, cmd, nil)
			if res.code == 0 {
				t.Errorf("%s (signed %t): the run succeeded", name, signed)
			}
			testcheck.OneErrorLine(t, res.stdout, want)
			if _, code := r.headDigest(t, image, godigest.FromBytes(m).String()); code != http.StatusNotFound {
				t.Errorf("%s (signed %t): the manifest is in the registry (%d)", name, signed, code)
			}
			if tags := r.tagList(t, image); len(tags) != 0 {
				t.Errorf("%s (signed %t): tags %v, want none", name, signed, tags)
			}
		}
	}
}

// tagList lists image's tags, none when the repository does not exist.
func (r rig) tagList(t *testing.T, image string) []string {
	t.Helper()
	resp := r.request(t, http.MethodGet, "/v2/"+image+"/tags/list", nil, "")
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	body, _ := io.ReadAll(resp.Body)
	var list struct{ Tags []string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &list) != nil {
		t.Fatalf("GET tags/list: %s %s", resp.Status, body)
	}
	return list.Tags
}

// TestSignatureLookupBounded: anyone who may push may plant referrers on
// a release. With a few hundred planted signature referrers on v1.0.0
// (on the real zot, listed by its referrers API; on the rig's
// distribution registry, which has no referrers API, in the referrers
// tag), the next signed release does not walk them: v1.0.0 counts as
// unsigned, one notice says so, and its reused layer is proven by
// download (one GET of its blob), not taken on a signature.
func TestSignatureLookupBounded(t *testing.T) {
	r := requireRig(t)
	zr, z := realZot(t, r, testrig.WithOtherUser("attacker"))
	key := generateKeyPair(t)
	base := layerTar(t, "srv/base", strings.Repeat("the base, released and signed before\n", 100))
	app := layerTar(t, "srv/app", strings.Repeat("the application\n", 100))
	for _, c := range []struct {
		name        string
		target, who rig
		tagToo      bool
	}{
		{"zot, referrers API", zr, rig{registry: z.Addr, user: "attacker", key: z.Others["attacker"]}, false},
		{"distribution, referrers tag", r, r, true},
	} {
		r := c.target
		rec := newRecorder(t, r.registry)
		image := randomName("team/many-referrers")
		run := func(version, sha, archive string) result {
			env := key.inputs(archiveInputs(t, r, image, version, archive))
			env["INPUT_IMAGE"] = rec.addr + "/" + image
			env["INPUT_SHA"] = strings.Repeat(sha, 40)
			return runArchive(t, env)
		}
		run("v1.0.0", "a", nixStyle(t, base))
		released := pull(t, r, image, "v1.0.0")
		c.who.plantReferrers(t, image, "v1.0.0", 300, c.tagToo)

		rec.mu.Lock()
		clear(rec.blobGets)
		rec.mu.Unlock()
		res := run("v1.1.0", "b", nixStyle(t, base, app))
		notices := lines(res.stdout, "::notice")
		if len(notices) != 1 || !strings.Contains(notices[0], "more than the 64 examined") {
			t.Errorf("%s: notices %q, want one saying the referrers were not all examined", c.name, notices)
		}
		layer := released.manifest.Layers[0].Digest
		if got := pull(t, r, image, "v1.1.0").manifest.Layers[0].Digest; got != layer {
			t.Errorf("%s: v1.1.0's first layer %s, want v1.0.0's %s reused", c.name, got, layer)
		}
		rec.mu.Lock()
		if gets := rec.blobGets[layer.String()]; gets != 1 {
			t.Errorf("%s: %d GETs of the reused layer %s, want 1 (proven by download)", c.name, gets, layer)
		}
		rec.mu.Unlock()
		key.wantVerified(t, r, image, "v1.1.0")
	}
}

// plantReferrers pushes n signature-typed referrers (junk bundles) of
// image:tag straight to the registry, as anyone who may push could; with
// tagToo also into the referrers tag, for registries without the API.
func (r rig) plantReferrers(t *testing.T, image, tag string, n int, tagToo bool) {
	t.Helper()
	resp := r.request(t, http.MethodGet, "/v2/"+image+"/manifests/"+tag, nil, "")
	subject, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	empty, junk := []byte("{}"), []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","junk":true}`)
	r.uploadBlob(t, image, empty)
	r.uploadBlob(t, image, junk)
	const bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	var planted []map[string]any
	for i := range n {
		m, _ := json.Marshal(map[string]any{
			"schemaVersion": 2, "mediaType": ociManifestType, "artifactType": bundleType,
			"config":      descriptorOf("application/vnd.oci.empty.v1+json", empty),
			"layers":      []map[string]any{descriptorOf(bundleType, junk)},
			"subject":     descriptorOf(ociManifestType, subject),
			"annotations": map[string]string{"planted": strings.Repeat("x", 1+i%7) + godigest.FromString(randomName("")).Encoded()},
		})
		r.putManifest(t, image, godigest.FromBytes(m).String(), ociManifestType, m)
		d := descriptorOf(ociManifestType, m)
		d["artifactType"] = bundleType
		planted = append(planted, d)
	}
	if !tagToo {
		return
	}
	fallback := strings.Replace(godigest.FromBytes(subject).String(), ":", "-", 1)
	resp = r.request(t, http.MethodGet, "/v2/"+image+"/manifests/"+fallback, nil, "")
	var index map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&index); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the referrers tag %s: %s %v", fallback, resp.Status, err)
	}
	_ = resp.Body.Close()
	manifests, _ := index["manifests"].([]any)
	for _, d := range planted {
		manifests = append(manifests, d)
	}
	index["manifests"] = manifests
	raw, _ := json.Marshal(index)
	r.putManifest(t, image, fallback, ociIndexType, raw)
}
