package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"maps"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
	"github.com/blumeops/build-push-image/internal/testrig"
)

// Signing (issue 24): the real cosign v3 (make tools installs it) is the
// only verifier of what the action signed.

// cosignBin is cosign: the rig's tools' (make tools), else one on PATH.
func cosignBin(t *testing.T) string {
	t.Helper()
	if p := filepath.Join(os.Getenv(testrig.EnvTools), "cosign"); fileExists(p) {
		return p
	}
	p, err := exec.LookPath("cosign")
	if err != nil {
		t.Fatal("cosign is missing: make tools installs it into .tools/bin")
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// keyPair is a key pair that cosign generate-key-pair made.
type keyPair struct {
	private, password, public string // PEM, password, path of cosign.pub
}

func generateKeyPair(t *testing.T) keyPair {
	t.Helper()
	dir := t.TempDir()
	password := randomName("pw")
	cmd := exec.Command(cosignBin(t), "generate-key-pair")
	cmd.Dir = dir
	cmd.Env = []string{"COSIGN_PASSWORD=" + password, "HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "cosign.key"))
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{private: string(b), password: password, public: filepath.Join(dir, "cosign.pub")}
}

// secrets are the forms of the key pair that must appear nowhere: the
// whole PEM, each of its lines, the password.
func (k keyPair) secrets() []string {
	out := []string{k.private, k.password}
	for _, line := range strings.Split(k.private, "\n") {
		if len(line) > 16 && !strings.HasPrefix(line, "-----") {
			out = append(out, line)
		}
	}
	return out
}

func (k keyPair) inputs(env map[string]string) map[string]string {
	env["INPUT_SIGNING-KEY"] = k.private
	env["INPUT_SIGNING-KEY-PASSWORD"] = k.password
	return env
}

// verify runs cosign verify on image:tag in r's registry (plain HTTP,
// logged in through a Docker config) and returns its output and error.
func (k keyPair) verify(t *testing.T, r rig, image, tag string) (string, error) {
	t.Helper()
	auth := skopeoAuth(t, r)
	if err := os.Rename(auth, filepath.Join(filepath.Dir(auth), "config.json")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cosignBin(t), "verify", "--key", k.public, "--insecure-ignore-tlog", "--allow-http-registry", r.registry+"/"+image+":"+tag)
	cmd.Env = []string{"HOME=" + t.TempDir(), "DOCKER_CONFIG=" + filepath.Dir(auth), "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (k keyPair) wantVerified(t *testing.T, r rig, image, tag string) {
	t.Helper()
	if out, err := k.verify(t, r, image, tag); err != nil {
		t.Errorf("cosign verify %s:%s: %v\n%s", image, tag, err, out)
	}
}

func (k keyPair) wantRefused(t *testing.T, r rig, image, tag string) {
	t.Helper()
	// Refused for having no signature, not for a failed login or lookup.
	if out, err := k.verify(t, r, image, tag); err == nil || !strings.Contains(out, "no signatures found") {
		t.Errorf("cosign verify %s:%s: %v; want it refused with no signatures found\n%s", image, tag, err, out)
	}
}

// recorder is a proxy in front of a registry that records the order of
// manifest writes (by digest: the image's or the signature's; or a tag), can hide the referrers API (as
// registries without it answer: 404) and refuse the signature's manifest.
type recorder struct {
	addr          string
	mu            sync.Mutex
	writes        []string
	hideReferrers bool
	refuseSig     atomic.Bool // toggled between runs
	// blobGets counts the GETs of each blob, by digest.
	blobGets map[string]int
}

func newRecorder(t *testing.T, upstream string) *recorder {
	t.Helper()
	rec := &recorder{blobGets: map[string]int{}}
	up := &url.URL{Scheme: "http", Host: upstream}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(up)
		pr.Out.Host = pr.In.Host
	}}
	handler := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if rec.hideReferrers && strings.Contains(req.URL.Path, "/referrers/") {
			http.Error(w, `{"errors":[{"code":"NOT_FOUND"}]}`, http.StatusNotFound)
			return
		}
		if requestKind(req) == kindBlobGet {
			rec.mu.Lock()
			rec.blobGets[path.Base(req.URL.Path)]++
			rec.mu.Unlock()
		}
		if req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/manifests/") {
			body, _ := io.ReadAll(req.Body)
			req.Body = io.NopCloser(strings.NewReader(string(body)))
			ref := req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:]
			what := "tag " + ref
			if strings.Contains(ref, ":") {
				what = "manifest " + ref
			}
			if strings.Contains(ref, ":") && strings.Contains(string(body), `"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"`) {
				what = "signature"
				if rec.refuseSig.Load() {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusForbidden)
					_, _ = io.WriteString(w, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`)
					return
				}
			}
			rec.mu.Lock()
			rec.writes = append(rec.writes, what)
			rec.mu.Unlock()
		}
		proxy.ServeHTTP(w, req)
	})
	rec.addr = strings.TrimPrefix(strings.TrimSuffix(serve(t, &http.Server{Handler: handler}), "/"), "http://")
	return rec
}

func (rec *recorder) seen() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.writes)
}

// signatures lists the Sigstore bundles among the referrers of digest,
// read from the registry directly: the referrers API, else the referrers
// tag.
func (r rig) signatures(t *testing.T, image, digest string) []string {
	t.Helper()
	resp := r.request(t, http.MethodGet, "/v2/"+image+"/referrers/"+digest, nil, "")
	if resp.StatusCode == http.StatusNotFound {
		_ = resp.Body.Close()
		resp = r.request(t, http.MethodGet, "/v2/"+image+"/manifests/"+strings.Replace(digest, ":", "-", 1), nil, "")
		if resp.StatusCode == http.StatusNotFound {
			_ = resp.Body.Close()
			return nil
		}
	}
	defer func() { _ = resp.Body.Close() }()
	var index struct {
		Manifests []struct{ Digest, ArtifactType string } `json:"manifests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&index); err != nil {
		t.Fatalf("referrers of %s: %v", digest, err)
	}
	var out []string
	for _, m := range index.Manifests {
		if m.ArtifactType == "application/vnd.dev.sigstore.bundle.v0.3+json" {
			out = append(out, m.Digest)
		}
	}
	return out
}

// wantOrder checks the signature was stored before any tag.
func wantOrder(t *testing.T, writes []string) {
	t.Helper()
	sig := slices.Index(writes, "signature")
	first := slices.IndexFunc(writes, func(w string) bool { return strings.HasPrefix(w, "tag ") && !strings.HasPrefix(w, "tag sha256-") })
	if sig < 0 || first < 0 || sig > first {
		t.Errorf("manifest writes %v: want the signature before every tag", writes)
	}
}

// TestSignedBuild: a build signed with cosign's key pair is verified by
// cosign on its version tag; the signature is stored before the tags; the
// key and its password are nowhere (outputs, logs, RUNNER_TEMP, git's
// environment); an image published without signing-key, and the version
// tag moved by hand to it, fail cosign verify.
func TestSignedBuild(t *testing.T) {
	r := requireRig(t)
	k := generateKeyPair(t)
	rec := newRecorder(t, r.registry)
	image := randomName("it/signed")
	dir := contextDir(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": randomName("signed")})
	sha := testcheck.Commit(t, dir)
	gitBin, gitEnviron := testcheck.Recorder(t, "git")
	env := k.inputs(r.inputs(image, "v1.0.0", dir))
	env["INPUT_IMAGE"] = rec.addr + "/" + image
	env["INPUT_SHA"] = sha
	env["GITHUB_ACTIONS"] = "true"
	env["PATH"] = gitBin + ":" + os.Getenv("PATH")
	res := runAction(t, env, nil)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	wantOrder(t, rec.seen())
	sig := res.outputs["signature"]
	if got := r.signatures(t, image, res.outputs["digest"]); len(got) != 1 || got[0] != sig {
		t.Errorf("signatures in the registry %v, output %q: want the one the output names", got, sig)
	}
	if !strings.Contains(res.summary, "cosign verify --key cosign.pub --insecure-ignore-tlog --allow-http-registry "+env["INPUT_IMAGE"]+"@"+res.outputs["digest"]) {
		t.Errorf("the summary has no verify line:\n%s", res.summary)
	}
	k.wantVerified(t, r, image, "v1.0.0")

	environ, err := os.ReadFile(gitEnviron)
	if err != nil {
		t.Fatalf("git did not run: %v", err)
	}
	for _, s := range k.secrets() {
		testcheck.CleanEnviron(t, "git", environ, s)
		testcheck.NoSecret(t, s, res.all()...)
	}

	other := contextDir(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": randomName("unsigned")})
	unsigned := r.inputs(image, "v2.0.0", other)
	if res := runAction(t, unsigned, nil); res.code != 0 || res.outputs["signature"] != "" {
		t.Fatalf("unsigned: exit %d, signature %q\n%s", res.code, res.outputs["signature"], res.stdout)
	}
	k.wantRefused(t, r, image, "v2.0.0")
	r.copyTag(t, image, "v2.0.0", "v1.0.0") // the signed release's tag, moved by hand
	k.wantRefused(t, r, image, "v1.0.0")
}

// TestSignedArchive: an archive signed into zot (the real one with
// $ZOT_BINARY, else the rig's registry) and into a registry without the
// referrers API (the referrers tag instead) verifies with cosign; a re-run
// with skip-identical adds no second signature.
func TestSignedArchive(t *testing.T) {
	r := requireRig(t)
	k := generateKeyPair(t)
	zr, _ := zotTarget(t, r)
	archive := filepath.Join(t.TempDir(), "image.tar")
	buildkitOCI(t, r, contextDir(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": randomName("archive")}), archive)
	for name, c := range map[string]struct {
		reg  rig
		hide bool
	}{"zot": {zr, false}, "no referrers API": {r, true}} {
		t.Run(name, func(t *testing.T) {
			rec := newRecorder(t, c.reg.registry)
			rec.hideReferrers = c.hide
			image := randomName("it/signed-archive")
			env := k.inputs(archiveInputs(t, c.reg, image, "v1.0.0", archive))
			env["INPUT_IMAGE"] = rec.addr + "/" + image
			env["INPUT_ON-EXISTING-VERSION"] = "skip-identical"
			res := runAction(t, env, nil)
			if res.code != 0 {
				t.Fatalf("exit %d\n%s", res.code, res.stdout)
			}
			wantOrder(t, rec.seen())
			if c.hide && !slices.Contains(rec.seen(), "tag "+strings.Replace(res.outputs["digest"], ":", "-", 1)) {
				t.Errorf("writes %v: no referrers tag where the registry has no referrers API", rec.seen())
			}
			k.wantVerified(t, c.reg, image, "v1.0.0")

			again := runAction(t, env, nil)
			if again.code != 0 || again.outputs["signature"] != res.outputs["signature"] {
				t.Fatalf("skip-identical re-run: exit %d, signature %q, want %q\n%s", again.code, again.outputs["signature"], res.outputs["signature"], again.stdout)
			}
			if got := c.reg.signatures(t, image, res.outputs["digest"]); len(got) != 1 {
				t.Errorf("after the re-run the image has signatures %v, want one", got)
			}
		})
	}
}

// TestSignedPushViaAction: the action's own upload (push-via: action, the
// fallback's path) is signed the same way: the signature lives in the
// transaction, not in a publisher.
func TestSignedPushViaAction(t *testing.T) {
	r := requireRig(t)
	k := generateKeyPair(t)
	image := randomName("it/signed-via-action")
	env := k.inputs(r.inputs(image, "v1.0.0", contextDir(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": randomName("via-action")})))
	env["INPUT_PUSH-VIA"] = "action"
	if res := runAction(t, env, nil); res.code != 0 || res.outputs["signature"] == "" {
		t.Fatalf("exit %d, signature %q\n%s", res.code, res.outputs["signature"], res.stdout)
	}
	k.wantVerified(t, r, image, "v1.0.0")
}

// TestSignedEd25519: an unencrypted PKCS#8 Ed25519 key signs as well;
// cosign verifies with its public key.
func TestSignedEd25519(t *testing.T) {
	r := requireRig(t)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	pubDER, _ := x509.MarshalPKIXPublicKey(pub)
	k := keyPair{private: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), public: filepath.Join(t.TempDir(), "ed25519.pub")}
	if err := os.WriteFile(k.public, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "image.tar")
	buildkitOCI(t, r, contextDir(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": randomName("ed25519")}), archive)
	image := randomName("it/signed-ed25519")
	if res := runAction(t, k.inputs(archiveInputs(t, r, image, "v1.0.0", archive)), nil); res.code != 0 || res.outputs["signature"] == "" {
		t.Fatalf("exit %d, signature %q\n%s", res.code, res.outputs["signature"], res.stdout)
	}
	k.wantVerified(t, r, image, "v1.0.0")
}

// TestSignatureRefused: a registry refusing the signature's manifest fails
// the job with no tag written; the re-run repairs. An image published
// unsigned gets its signature from the re-run with signing-key.
func TestSignatureRefused(t *testing.T) {
	r := requireRig(t)
	k := generateKeyPair(t)
	rec := newRecorder(t, r.registry)
	rec.refuseSig.Store(true)
	image := randomName("it/sig-refused")
	env := k.inputs(r.inputs(image, "v1.0.0", contextDir(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": randomName("refused")})))
	env["INPUT_IMAGE"] = rec.addr + "/" + image
	env["INPUT_SOURCE-DATE-EPOCH"] = "1700000000"
	env["INPUT_ON-EXISTING-VERSION"] = "skip-identical"
	res := runAction(t, env, nil)
	testcheck.OneErrorLine(t, res.stdout, "signature")
	if res.code == 0 || slices.ContainsFunc(rec.seen(), func(w string) bool { return strings.HasPrefix(w, "tag ") }) {
		t.Fatalf("exit %d, writes %v: want a failure and no tag", res.code, rec.seen())
	}
	for _, tag := range []string{"v1.0.0", testcheck.SHA} {
		if _, status := r.headDigest(t, image, tag); status != http.StatusNotFound {
			t.Errorf("tag %s: HTTP %d after a refused signature, want 404", tag, status)
		}
	}
	rec.refuseSig.Store(false)
	if res := runAction(t, env, nil); res.code != 0 {
		t.Fatalf("re-run: exit %d\n%s", res.code, res.stdout)
	}
	k.wantVerified(t, r, image, "v1.0.0")

	unsigned := r.inputs(image, "v2.0.0", env["INPUT_CONTEXT"])
	unsigned["INPUT_SOURCE-DATE-EPOCH"] = "1600000000"
	if res := runAction(t, unsigned, nil); res.code != 0 {
		t.Fatalf("unsigned: exit %d\n%s", res.code, res.stdout)
	}
	k.wantRefused(t, r, image, "v2.0.0")
	signed := k.inputs(maps.Clone(unsigned))
	signed["INPUT_ON-EXISTING-VERSION"] = "skip-identical"
	if res := runAction(t, signed, nil); res.code != 0 || res.outputs["signature"] == "" {
		t.Fatalf("signing re-run: exit %d, signature %q\n%s", res.code, res.outputs["signature"], res.stdout)
	}
	k.wantVerified(t, r, image, "v2.0.0")
}

// TestBadSigningKey: a wrong password, a file that is not a key and an
// RSA-1024 key are one line each naming signing-key, with nothing pushed
// and neither key nor password printed.
func TestBadSigningKey(t *testing.T) {
	r := requireRig(t)
	k := generateKeyPair(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	der, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	rsaPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	pub, _ := os.ReadFile(k.public)
	for name, c := range map[string]struct{ key, password, says string }{
		"wrong password": {k.private, "not-" + k.password, "signing-key: does not open with signing-key-password"},
		"not a key":      {string(pub), k.password, `signing-key: is not a private key in PEM: it is a "PUBLIC KEY" block`},
		"RSA-1024":       {rsaPEM, "", "signing-key: is of a kind not supported: RSA-1024"},
	} {
		t.Run(name, func(t *testing.T) {
			image := randomName("it/badkey")
			env := r.inputs(image, "v1.0.0", "testdata/hello")
			env["INPUT_SIGNING-KEY"], env["INPUT_SIGNING-KEY-PASSWORD"] = c.key, c.password
			env["GITHUB_ACTIONS"] = "true"
			res := runAction(t, env, nil)
			if res.code == 0 {
				t.Fatal("exit 0")
			}
			testcheck.OneErrorLine(t, res.stdout, c.says)
			if _, status := r.headDigest(t, image, "v1.0.0"); status != http.StatusNotFound {
				t.Errorf("HTTP %d for the version tag, want 404: nothing pushed", status)
			}
			for _, s := range append(keyPair{private: c.key, password: c.password}.secrets(), k.private) {
				testcheck.NoSecret(t, s, res.all()...)
			}
		})
	}
}
