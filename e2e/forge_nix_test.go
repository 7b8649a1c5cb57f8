package e2e

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
	"github.com/blumeops/build-push-image/internal/testrig"
)

// TestForgePlanNix runs the README's nix plan + archive-leg workflow on the
// real forge, as written but for runs-on, the registry and the
// credentials: a tree like the users' (containers/<name>/default.nix, a
// lib/ excluded with !, an image still tagged latest), one image already
// published as v1.0.0-nix. The plan leaves dex out with a warning and
// plans the two others; each leg publishes the result nix-build left,
// with the version the plan read (matrix.plan.version), with no buildkitd.
// The workflow names the plan and the action by their full URL on the
// forge (uses: http://<forge>/blumeops/build-push-image@v2, as docs/usage.md
// tells a Forgejo user to): the runner clones both from that URL, and the
// legs run the release binary downloaded from that same forge.
// nix cannot run here: the runner's nix-build writes the gzipped
// docker-archive buildLayeredImage would, and links result to it.
func TestForgePlanNix(t *testing.T) {
	r := requireRig(t)
	act := newActRig(t)
	tools := os.Getenv(testrig.EnvTools)
	f := startForge(t, tools)
	bin := fakeNixBuild(t, []string{"api", "web", "worker"})
	f.startHostRunner(t, forgeRunner{"gitea-runner", filepath.Join(tools, "gitea-runner")}, forgeLabel,
		bin+":/usr/sbin:/usr/bin:/sbin:/bin", map[string]string{"BUILDKIT_HOST": "unix:///nonexistent/buildkitd.sock"})
	f.publishAction(t, act.src, forgeDist(t, act.src))
	f.publishCheckout(t)

	prefix := randomName("forge/nix")
	app := f.createRepo(t, "", "nix-images", true)
	f.api(t, http.MethodPut, "/repos/"+app+"/actions/secrets/REGISTRY_API_KEY", map[string]string{"data": r.key}, nil)
	wf := readmeMatrixWorkflow(t, r, prefix, "README.md", "archive: result\n          image: ${{ matrix.plan.image }}", "nix")
	if n := strings.Count(wf, "uses: blumeops/build-push-image"); n != 2 {
		t.Fatalf("README's nix workflow names the action %d times, want 2 (plan and action)", n)
	}
	wf = strings.ReplaceAll(wf, "uses: blumeops/build-push-image", "uses: "+f.url+"blumeops/build-push-image")
	files := map[string]string{
		".forgejo/workflows/images.yml": wf,
		"containers/lib/common.nix":     "{ }\n",
		"containers/dex/default.nix":    "pkgs.dockerTools.buildLayeredImage {\n  name = \"team/dex\";\n  tag = \"latest\";\n}\n",
	}
	for _, name := range []string{"api", "web", "worker"} {
		files["containers/"+name+"/default.nix"] = "{ pkgs ? import <nixpkgs> { } }:\nlet\n  version = \"1.0.0\";\nin\npkgs.dockerTools.buildLayeredImage {\n  name = \"team/" + name + "\";\n  tag = version;\n}\n"
	}
	dir := testcheck.WriteTree(t, files)
	forgeGit(t, dir, nil, "init", "-q", "-b", "main")
	forgeCommit(t, dir, "README", "nix images\n")

	// api is published at v1.0.0-nix already, from the same result.
	seed := archiveInputs(t, r, prefix+"/api", "v1.0.0", filepath.Join(bin, "store", "api.tar.gz"))
	seed["INPUT_TAG-SUFFIX"] = "-nix"
	if pre := runAction(t, seed, nil); pre.code != 0 {
		t.Fatalf("publishing api first: exit %d: %s", pre.code, errorLine(pre.stdout))
	}
	apiDigest, _ := r.headDigest(t, prefix+"/api", "v1.0.0-nix")

	sha := forgeGit(t, dir, nil, "rev-parse", "HEAD")
	f.push(t, dir, app, "HEAD:refs/heads/main")
	jobs := f.waitRun(t, app, sha)
	if built := wantPlanRun(t, f, app, jobs, r.key, 2, 3); strings.Join(built, " ") != "web worker" {
		t.Errorf("the legs published %v, want web and worker", built)
	}
	fromForge := 0
	for i, log := range f.jobLogs(t, app, jobs, r.key) {
		fromForge += strings.Count(log, "binary: downloaded "+f.url+"blumeops/build-push-image/releases/download/v2/")
		if jobs[i].Name != "plan" {
			continue
		}
		warn := regexp.MustCompile(`(?m)::warning::.*|##\[warning\].*`).FindAllString(log, -1)
		if len(warn) != 1 || !strings.Contains(warn[0], "containers/dex (") || strings.Contains(warn[0], "containers/lib") {
			t.Errorf("plan job warnings %q, want one naming containers/dex (lib is excluded); log:\n%s", warn, log)
		}
	}
	if fromForge == 0 {
		t.Errorf("no job downloaded the release binary from %s, the forge the full URL names", f.url)
	}
	for _, name := range []string{"web", "worker"} {
		v, code := r.headDigest(t, prefix+"/"+name, "v1.0.0-nix")
		s, scode := r.headDigest(t, prefix+"/"+name, sha+"-nix")
		if code != http.StatusOK || scode != http.StatusOK || v != s {
			t.Errorf("%s: v1.0.0-nix is %d %s, %s-nix is %d %s: want both, one digest", name, code, v, sha, scode, s)
		}
	}
	r.wantTag(t, prefix+"/api", "v1.0.0-nix", apiDigest)
	f.wantNoKeyInLogs(t, r.key)
}

// fakeNixBuild is a directory for the runner's PATH holding nix-build:
// given an image directory (or -A and an attribute), the last argument
// names the image: it links ./result to that image's gzipped
// docker-archive in store/, written here as buildLayeredImage writes one.
func fakeNixBuild(t *testing.T, names []string) string {
	t.Helper()
	bin := t.TempDir()
	store := filepath.Join(bin, "store")
	if err := os.Mkdir(store, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		writeBytes(t, filepath.Join(store, name+".tar.gz"), nixArchive(t, name))
	}
	script := "#!/bin/sh\n# nix-build DIR or -A ATTR, as nix would leave it: ./result, a link into the store.\nset -eu\nfor last; do :; done\nln -sfn \"" + store + "/$(basename \"$last\").tar.gz\" result\n"
	if err := os.WriteFile(filepath.Join(bin, "nix-build"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// nixArchive is a gzipped docker-archive laid out as nixpkgs'
// stream_layered_image.py writes it: each layer as <diff ID>/layer.tar
// (one store path of name's), then the config as <sha256>.json, then
// manifest.json last; no timestamps, so the same name gives the same bytes.
func nixArchive(t *testing.T, name string) []byte {
	t.Helper()
	dir := t.TempDir()
	sum := sha256.Sum256([]byte(name))
	store := "nix/store/" + hex.EncodeToString(sum[:16]) + "-" + name + "-1.0.0/"
	dirEntry := func(name string) tarEntry {
		return tarEntry{tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o555}, nil}
	}
	layer := readAll(t, writeTar(t, filepath.Join(dir, "layer.tar"), []tarEntry{
		dirEntry("nix/"), dirEntry("nix/store/"), dirEntry(store), file(store+"hello", []byte("hello from "+name+"\n")),
	}))
	diffID := sha256.Sum256(layer)
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Cmd": []string{"/" + store + "hello"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
	})
	if err != nil {
		t.Fatal(err)
	}
	configSum := sha256.Sum256(config)
	layerName := hex.EncodeToString(diffID[:]) + "/layer.tar"
	configName := hex.EncodeToString(configSum[:]) + ".json"
	manifest, err := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{"team/" + name + ":1.0.0"}, "Layers": []string{layerName}}})
	if err != nil {
		t.Fatal(err)
	}
	outer := writeTar(t, filepath.Join(dir, "image.tar"), []tarEntry{file(layerName, layer), file(configName, config), file("manifest.json", manifest)})
	return gzipped(t, readAll(t, outer)) // no name, no mtime: as pigz -nT
}
