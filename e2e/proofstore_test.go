package e2e

import (
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	godigest "github.com/opencontainers/go-digest"
)

// blobGets counts the blob GETs that reach the fault proxy, by digest.
type blobGets struct {
	mu   sync.Mutex
	gets map[string]int
}

// front starts a server in front of fp that counts blob GETs; it returns
// its host:port.
func (b *blobGets) front(t *testing.T, fp *faultProxy) string {
	b.gets = map[string]int{}
	return strings.TrimPrefix(strings.TrimSuffix(serve(t, &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if requestKind(req) == kindBlobGet {
			b.mu.Lock()
			b.gets[path.Base(req.URL.Path)]++
			b.mu.Unlock()
		}
		fp.ServeHTTP(w, req)
	})}), "/"), "http://")
}

// of is how many GETs each digest got, and clears the count.
func (b *blobGets) of(ds ...godigest.Digest) []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	var n []int
	for _, d := range ds {
		n = append(n, b.gets[d.String()])
	}
	clear(b.gets)
	return n
}

// TestProofStore: releases on one runner share a proof store (the same
// RUNNER_TOOL_CACHE). The next release downloads none of the layers the
// first one compressed, nor those it proved by download; an entry forged
// into the store by a process without the key (a pull request's program
// running as the same user) is ignored: the attacker's claim is streamed,
// refused and named in one warning, and the layers proven before are
// still not downloaded.
func TestProofStore(t *testing.T) {
	r := requireRig(t)
	fp := newFaultProxy(t, r)
	var counted blobGets
	addr := counted.front(t, fp)
	image := randomName("it/proof-store")
	runner := t.TempDir() // the runner's tool cache, kept across its jobs
	run := func(version, sha, archive, cache string) result {
		env := archiveInputs(t, r, image, version, archive)
		env["INPUT_IMAGE"] = addr + "/" + image
		env["INPUT_SHA"] = strings.Repeat(sha, 40)
		env["RUNNER_TOOL_CACHE"] = cache
		return runArchive(t, env)
	}
	base := layerTar(t, "srv/base", strings.Repeat("the base of every release\n", 100))
	app1 := layerTar(t, "srv/app1", strings.Repeat("the first application\n", 100))
	app2 := layerTar(t, "srv/app2", strings.Repeat("the second application\n", 100))
	run("v1.0.0", "a", nixStyle(t, base, app1), runner)
	first := pull(t, r, image, "v1.0.0").manifest.Layers
	counted.of()

	res := run("v1.1.0", "b", nixStyle(t, base, app1, app2), runner)
	if n := counted.of(first[0].Digest, first[1].Digest); n[0]+n[1] != 0 {
		t.Errorf("blob GETs of the layers the first release compressed: %v, want none (the store proved them)", n)
	}
	wantLine(t, res.stdout, "Proof store: 2 reused layers proven by earlier jobs on this runner (not downloaded), 0 proven by download now")

	cold := run("v1.1.1", "c", nixStyle(t, base, app1, app2), t.TempDir())
	if n := counted.of(first[0].Digest, first[1].Digest); n[0] != 1 || n[1] != 1 {
		t.Errorf("blob GETs on a runner with no store: %v, want each reused layer proven by one download", n)
	}
	wantLine(t, cold.stdout, "Proof store: 0 reused layers proven by earlier jobs on this runner (not downloaded), 3 proven by download now and remembered")

	// The attacker: a release claiming its blob is the genuine layer,
	// and an entry in the runner's store saying the same, with a MAC
	// made without the key.
	genuine := layerTar(t, "srv/app3", strings.Repeat("the genuine third application\n", 100))
	evil := gzipped(t, layerTar(t, "srv/app3", "the attacker's application\n"))
	cfg := imageConfig(t, godigest.FromBytes(genuine))
	m := imageManifest(t, describe(ociConfigType, cfg), describe("application/vnd.oci.image.layer.v1.tar+gzip", evil))
	// Pushed by another tool: the action refuses a layer that is not its
	// config's diff ID (TestArchiveLayerNotItsDiffID).
	r.uploadBlob(t, image, evil)
	r.uploadBlob(t, image, cfg)
	r.putManifest(t, image, "v99.0.0", ociManifestType, m)
	forgeProof(t, runner, "v1 "+godigest.FromBytes(evil).String()+" application/vnd.oci.image.layer.v1.tar+gzip "+
		strconv.Itoa(len(evil))+" "+godigest.FromBytes(genuine).String()+" "+strconv.Itoa(len(genuine))+" "+strings.Repeat("0f", 32))
	counted.of()

	res = run("v1.2.0", "e", nixStyle(t, base, app1, genuine), runner)
	warnings := lines(res.stdout, "::warning")
	if len(warnings) != 1 || !strings.Contains(warnings[0], image+":v99.0.0") || !strings.Contains(warnings[0], godigest.FromBytes(evil).String()) {
		t.Errorf("warnings %q, want one naming %s:v99.0.0 and its blob", warnings, image)
	}
	if n := counted.of(godigest.FromBytes(evil), first[0].Digest, first[1].Digest); n[0] != 1 || n[1]+n[2] != 0 {
		t.Errorf("blob GETs of the attacker's blob and the proven layers: %v, want 1, 0, 0 (the forged entry ignored)", n)
	}
	if p := pull(t, r, image, "v1.2.0"); p.manifest.Layers[2].Digest == godigest.FromBytes(evil) {
		t.Errorf("v1.2.0 names the attacker's blob %s", godigest.FromBytes(evil))
	}
}

// forgeProof appends line to the store files under cache, as a process
// without the key could.
func forgeProof(t *testing.T, cache, line string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(cache, "build-push-image", "proofs", "*.proofs"))
	if len(files) != 1 {
		t.Fatalf("store files under %s: %v, want one", cache, files)
	}
	f, err := os.OpenFile(files[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + line); err != nil {
		t.Fatal(err)
	}
}
