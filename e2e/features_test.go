package e2e

import (
	"archive/tar"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// ociManifest is the part of an OCI manifest or index the tests read.
type ociManifest struct {
	MediaType   string            `json:"mediaType"`
	Annotations map[string]string `json:"annotations"`
	Config      struct {
		Digest string `json:"digest"`
	} `json:"config"`
	Layers []struct {
		Digest    string `json:"digest"`
		MediaType string `json:"mediaType"`
	} `json:"layers"`
	Manifests []struct {
		Digest      string            `json:"digest"`
		Annotations map[string]string `json:"annotations"`
		Platform    struct {
			OS, Architecture string
		} `json:"platform"`
	} `json:"manifests"`
}

// get fetches a manifest or blob from the registry directly.
func (r rig) get(t *testing.T, image, kind, ref string) []byte {
	t.Helper()
	resp := r.request(t, http.MethodGet, "/v2/"+image+"/"+kind+"/"+ref, nil, "")
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s %s: %s %v", kind, ref, resp.Status, err)
	}
	return body
}

func (r rig) manifest(t *testing.T, image, ref string) ociManifest {
	t.Helper()
	var m ociManifest
	if err := json.Unmarshal(r.get(t, image, "manifests", ref), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// layerFiles unpacks a gzip'd (or plain) tar layer into its files' contents.
func layerFiles(t *testing.T, blob []byte) []string {
	t.Helper()
	var rd io.Reader = strings.NewReader(string(blob))
	if gz, err := gzip.NewReader(strings.NewReader(string(blob))); err == nil {
		rd = gz
	}
	var out []string
	tr := tar.NewReader(rd)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			return append(out, string(blob)) // not a tar: scan it raw
		}
		b, _ := io.ReadAll(tr)
		out = append(out, h.Name+"\n"+string(b))
	}
}

// gitCommit makes dir a git repository with one commit and returns its SHA.
func gitCommit(t *testing.T, dir string) string {
	t.Helper()
	for _, args := range [][]string{
		{"init", "-q"}, {"add", "."},
		{"-c", "user.name=t", "-c", "user.email=t@example", "commit", "-q", "-m", "x", "--date", "2024-01-02T03:04:05Z"},
	} {
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(cmd.Environ(), "GIT_COMMITTER_DATE=2024-01-02T03:04:05Z")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func TestReproducibleDigest(t *testing.T) {
	r := requireRig(t)
	dir := contextDir(t, map[string]string{
		"Dockerfile": "FROM " + baseImage(t, r) + "\nRUN echo built > /built && touch /when\nCOPY Dockerfile /\n",
	})
	env := r.inputs(randomName("it/repro"), "v1.0.0", dir)
	env["INPUT_SHA"] = gitCommit(t, dir)
	env["INPUT_PUSH"] = "false"

	digests := map[string]string{}
	first := runAction(t, env, nil)
	if strings.Contains(first.stdout, "::notice::no commit time") {
		t.Errorf("the commit time of a checked-out sha was not found:\n%s", first.stdout)
	}
	digests["rig"] = mustDigest(t, first)
	digests["rig, warm"] = mustDigest(t, runAction(t, env, nil))
	fresh := t.TempDir()
	env["INPUT_BUILDKIT-ADDRESS"] = "unix://" + filepath.Join(fresh, "bk.sock")
	startBuildkitd(t, fresh, env["INPUT_BUILDKIT-ADDRESS"])
	digests["fresh buildkitd, cold"] = mustDigest(t, runAction(t, env, nil))
	for how, d := range digests {
		if d != digests["rig"] {
			t.Errorf("%s built %s, the first build %s: not reproducible", how, d, digests["rig"])
		}
	}
}

func mustDigest(t *testing.T, res result) string {
	t.Helper()
	if res.code != 0 || res.outputs["digest"] == "" {
		t.Fatalf("exit %d, digest %q\n%s", res.code, res.outputs["digest"], res.stdout)
	}
	return res.outputs["digest"]
}

func TestSkipIdenticalVersion(t *testing.T) {
	r := requireRig(t)
	image := randomName("it/skip")
	dir := contextDir(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
	env := r.inputs(image, "v1.0.0", dir)
	env["INPUT_ON-EXISTING-VERSION"] = "skip-identical"
	env["INPUT_SOURCE-DATE-EPOCH"] = "1700000000"
	first := mustDigest(t, runAction(t, env, nil))

	again := runAction(t, env, nil)
	if mustDigest(t, again) != first || !strings.Contains(again.stdout, "already is this exact image") {
		t.Errorf("re-run of the same image: digest %s (want %s)\n%s", again.outputs["digest"], first, again.stdout)
	}
	if strings.Contains(again.stdout, "Pushing ") || strings.Contains(again.stdout, "Tagged ") || !strings.Contains(again.stdout, "building only to compare digests") {
		t.Errorf("an identical re-run wrote to the registry, or uploaded:\n%s", again.stdout)
	}

	env["INPUT_SOURCE-DATE-EPOCH"] = "1700000001" // another image, same version
	res := runAction(t, env, nil)
	if res.code != 1 {
		t.Fatalf("a different image under the same version: exit %d, want 1", res.code)
	}
	testcheck.OneErrorLine(t, res.stdout, "version tag v1.0.0 already exists in "+r.registry+"/"+image+" ("+first+")")
}

func TestOCIMetadata(t *testing.T) {
	r := requireRig(t)
	image := randomName("it/meta")
	env := r.inputs(image, "v3.1.4", "testdata/hello")
	env["GITHUB_SERVER_URL"] = "https://forge.example"
	env["GITHUB_REPOSITORY"] = "team/hello"
	env["INPUT_SOURCE-DATE-EPOCH"] = "1700000000"
	env["INPUT_LABELS"] = "org.opencontainers.image.title=custom title"
	env["INPUT_ANNOTATIONS"] = "org.example.reviewed=yes"
	digest := mustDigest(t, runAction(t, env, nil))

	m := r.manifest(t, image, digest)
	var cfg struct {
		Config struct{ Labels map[string]string }
	}
	if err := json.Unmarshal(r.get(t, image, "blobs", m.Config.Digest), &cfg); err != nil {
		t.Fatal(err)
	}
	const p = "org.opencontainers.image."
	want := map[string]string{
		p + "source": "https://forge.example/team/hello", p + "url": "https://forge.example/team/hello",
		p + "revision": testcheck.SHA, p + "version": "v3.1.4", p + "created": "2023-11-14T22:13:20Z",
	}
	for k, v := range want {
		if cfg.Config.Labels[k] != v || m.Annotations[k] != v {
			t.Errorf("%s: label %q annotation %q, want %q", k, cfg.Config.Labels[k], m.Annotations[k], v)
		}
	}
	if cfg.Config.Labels[p+"title"] != "custom title" || m.Annotations[p+"title"] != "hello" {
		t.Errorf("title: label %q (want the user's), annotation %q (want the default)", cfg.Config.Labels[p+"title"], m.Annotations[p+"title"])
	}
	if m.Annotations["org.example.reviewed"] != "yes" {
		t.Errorf("user annotation missing: %v", m.Annotations)
	}
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("a single-platform build without provenance is a %s, want a plain OCI manifest", m.MediaType)
	}
}

func TestMultiPlatformIndex(t *testing.T) {
	r := requireRig(t)
	image := randomName("it/multi")
	env := r.inputs(image, "v1.0.0", "testdata/hello")
	env["INPUT_PLATFORMS"] = "linux/amd64,linux/arm64"
	digest := mustDigest(t, runAction(t, env, nil))
	idx := r.manifest(t, image, "v1.0.0")
	if idx.MediaType != "application/vnd.oci.image.index.v1+json" || len(idx.Manifests) != 2 {
		t.Fatalf("tag points at %s with %d manifests, want an OCI index of 2", idx.MediaType, len(idx.Manifests))
	}
	for i, want := range []string{"amd64", "arm64"} {
		if got := idx.Manifests[i].Platform.Architecture; got != want {
			t.Errorf("manifest %d is for %s, want %s", i, got, want)
		}
		r.manifest(t, image, idx.Manifests[i].Digest) // each child was pushed
	}
	if got, _ := r.headDigest(t, image, testcheck.SHA); got != digest {
		t.Errorf("SHA tag %s, want the index %s", got, digest)
	}
}

func TestBuildSecretStaysSecret(t *testing.T) {
	r := requireRig(t)
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	secret := "s3cr3t-" + hex.EncodeToString(b)
	dir := contextDir(t, map[string]string{
		"Dockerfile": "FROM " + baseImage(t, r) + "\nRUN --mount=type=secret,id=token,required=true wc -c < /run/secrets/token > /token-length\n",
	})
	image := randomName("it/secret")
	env := r.inputs(image, "v1.0.0", dir)
	env["INPUT_SECRETS"] = "token=env:TOKEN"
	env["TOKEN"] = secret
	res := runAction(t, env, nil)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	texts := r.verifyImage(t, image, res.outputs["digest"])
	if !strings.Contains(strings.Join(texts, "\n"), "token-length\n"+"39") {
		t.Errorf("the RUN step did not see the secret (no /token-length of 39 in the image)")
	}
	testcheck.NoSecret(t, secret, append(res.all(), texts...)...)
}

func TestRegistryCacheReusedByFreshBuildkitd(t *testing.T) {
	r := requireRig(t)
	dir := contextDir(t, map[string]string{
		// The step prints "step-executed" only when it runs; its title
		// (printf 'step-%s') never matches.
		"Dockerfile": "FROM " + baseImage(t, r) + "\nRUN printf 'step-%s\\n' executed && echo " + randomName("expensive") + " > /step\n",
	})
	cache := r.registry + "/" + randomName("it/cache") + ":buildcache"
	env := r.inputs(randomName("it/cached"), "v1.0.0", dir)
	env["INPUT_CACHE-TO"] = "type=registry,ref=" + cache + ",mode=max"
	env["INPUT_CACHE-FROM"] = "type=registry,ref=" + cache
	first := runAction(t, env, nil)
	mustDigest(t, first)
	if !strings.Contains(first.stdout, "step-executed") {
		t.Fatalf("the first build did not run the step:\n%s", first.stdout)
	}

	fresh := t.TempDir()
	env["INPUT_BUILDKIT-ADDRESS"] = "unix://" + filepath.Join(fresh, "bk.sock")
	startBuildkitd(t, fresh, env["INPUT_BUILDKIT-ADDRESS"])
	env["INPUT_VERSION"] = "v1.0.1"
	second := runAction(t, env, nil)
	mustDigest(t, second)
	if strings.Contains(second.stdout, "step-executed") || !strings.Contains(second.stdout, "importing cache manifest from "+cache) {
		t.Errorf("a fresh buildkitd ran the step again instead of using the registry cache:\n%s", second.stdout)
	}
	testcheck.NoSecret(t, r.key, second.all()...)
}

func TestProvenanceAttestation(t *testing.T) {
	r := requireRig(t)
	image := randomName("it/prov")
	env := r.inputs(image, "v1.0.0", "testdata/hello")
	env["INPUT_PROVENANCE"] = "true"
	mustDigest(t, runAction(t, env, nil))
	idx := r.manifest(t, image, "v1.0.0")
	var attestations int
	for _, m := range idx.Manifests {
		if m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			attestations++
			r.manifest(t, image, m.Digest)
		}
	}
	if idx.MediaType != "application/vnd.oci.image.index.v1+json" || attestations != 1 {
		t.Errorf("with provenance: %s holding %d attestation manifests, want an index with 1", idx.MediaType, attestations)
	}
}

func TestPushViaBuildkit(t *testing.T) {
	r := requireRig(t)
	image := randomName("it/via")
	env := r.inputs(image, "v1.0.0", contextDir(t, map[string]string{
		"Dockerfile": "FROM " + baseImage(t, r) + "\nRUN echo pushed by buildkitd > /how\n",
	}))
	env["INPUT_PUSH-VIA"] = "buildkit"
	res := runAction(t, env, nil)
	digest := mustDigest(t, res)
	if strings.Contains(res.stdout, "Pushing ") {
		t.Errorf("push-via: buildkit still pushed an OCI layout from the action:\n%s", res.stdout)
	}
	texts := assertPublished(t, r, image, "v1.0.0", digest)
	testcheck.NoSecret(t, r.key, append(res.all(), texts...)...)

	again := runAction(t, env, nil)
	if again.code != 1 {
		t.Fatalf("same version again: exit %d, want 1", again.code)
	}
	testcheck.OneErrorLine(t, again.stdout, "version tag v1.0.0 already exists in "+r.registry+"/"+image+" ("+digest+")")
}
