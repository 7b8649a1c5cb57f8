package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	godigest "github.com/opencontainers/go-digest"

	"github.com/blumeops/build-push-image/internal/testrig"
)

// The archives the archive tests push, each made by a tool this project
// did not write: docker save (the test's own Docker daemon), skopeo
// (docker-archive, gzipped as nix writes it, and an OCI layout) and
// BuildKit's OCI exporter (buildctl and the rig's buildkitd). The files
// are what the tools wrote; the tests only read them to know what to
// expect.

// archiveFixture is one image saved by another tool.
type archiveFixture struct {
	name string // what made it
	path string // what the archive input names
	// config is the archive's config blob: pushed unchanged.
	config godigest.Digest
	// kept is the manifest of an OCI archive or layout, whose digest the
	// push keeps; empty for a docker-archive, which gets a new manifest.
	kept godigest.Digest
	// diffIDs are the layers, uncompressed, as the config lists them.
	diffIDs []godigest.Digest
	// files are the image's files, path to content.
	files map[string]string
}

// archiveContext is the image every fixture holds: two COPY layers.
func archiveContext(t *testing.T, seed string) (dir string, files map[string]string) {
	t.Helper()
	b := strings.Repeat(seed+" is the content of /data/b, compressible\n", 2000)
	dir = contextDir(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY a /a\nCOPY b /data/b\n",
		"a":          "hello from " + seed + "\n",
		"b":          b,
	})
	return dir, map[string]string{"a": "hello from " + seed + "\n", "data/b": b}
}

// dockerCLI runs the docker client against d, with the legacy builder
// (no Docker Hub, no BuildKit: FROM scratch builds on the daemon itself).
func dockerCLI(t *testing.T, d *testrig.Docker, args ...string) {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "DOCKER_BUILDKIT=0"}, d.Env()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// tool runs a program the fixtures are made with.
func tool(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// dockerSave builds the image of ctx on the Docker daemon as name and
// saves the given names (docker save: a docker-archive, uncompressed).
func dockerSave(t *testing.T, d *testrig.Docker, ctx, name, out string, names ...string) {
	t.Helper()
	dockerCLI(t, d, "build", "--quiet", "--tag", name, ctx)
	dockerCLI(t, d, append([]string{"save", "--output", out}, names...)...)
}

// buildkitOCI builds ctx with the rig's buildkitd into an OCI archive
// (BuildKit's type=oci exporter).
func buildkitOCI(t *testing.T, r rig, ctx, out string) {
	t.Helper()
	tool(t, filepath.Join(os.Getenv(testrig.EnvTools), "buildctl"), "--addr", r.buildkit, "build",
		"--frontend", "dockerfile.v0", "--local", "context="+ctx, "--local", "dockerfile="+ctx,
		"--output", "type=oci,dest="+out)
}

// nixResult writes the image of the OCI archive src as a docker-archive
// with skopeo, compresses it with compressor (gzip -n, as nix's
// buildLayeredImage does by default, or zstd, its compressor = "zstd") into
// a store directory, and returns a symlink to it named result.
func nixResult(t *testing.T, src string, compressor ...string) string {
	t.Helper()
	store, work := t.TempDir(), t.TempDir()
	tarPath := filepath.Join(store, "image.tar")
	tool(t, "skopeo", "copy", "--quiet", "oci-archive:"+src, "docker-archive:"+tarPath+":bpi/app:nix")
	tool(t, compressor[0], append(compressor[1:], tarPath)...)
	matches, _ := filepath.Glob(tarPath + ".*")
	result := filepath.Join(work, "result")
	if len(matches) != 1 {
		t.Fatalf("%s wrote %v", compressor[0], matches)
	}
	if err := os.Symlink(matches[0], result); err != nil {
		t.Fatal(err)
	}
	return result
}

// ociLayout copies the docker-archive src into an OCI layout directory
// with skopeo.
func ociLayout(t *testing.T, src string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	tool(t, "skopeo", "copy", "--quiet", "docker-archive:"+src, "oci:"+dir+":app")
	return dir
}

// archives are the fixtures, one per tool.
type archives struct {
	saved, nixGzip, nixZstd, buildkit, layout archiveFixture
}

func (a archives) all() []archiveFixture {
	return []archiveFixture{a.saved, a.nixGzip, a.nixZstd, a.buildkit, a.layout}
}

// goodArchives makes one fixture per tool. The Docker daemon is the test's
// own (testrig.StartDocker).
func goodArchives(t *testing.T, r rig, d *testrig.Docker) archives {
	t.Helper()
	ctx, files := archiveContext(t, "fixture")
	dir := t.TempDir()
	saved, bk := filepath.Join(dir, "saved.tar"), filepath.Join(dir, "buildkit.tar")
	dockerSave(t, d, ctx, "bpi/app:1", saved, "bpi/app:1")
	buildkitOCI(t, r, ctx, bk)
	a := archives{
		saved:    archiveFixture{name: "docker save", path: saved},
		nixGzip:  archiveFixture{name: "skopeo docker-archive, gzip -n, through a symlink named result", path: nixResult(t, bk, "gzip", "-n")},
		nixZstd:  archiveFixture{name: "skopeo docker-archive, zstd, through a symlink named result", path: nixResult(t, bk, "zstd", "-q", "--rm")},
		buildkit: archiveFixture{name: "BuildKit OCI archive", path: bk},
		layout:   archiveFixture{name: "skopeo OCI layout", path: ociLayout(t, saved)},
	}
	for _, f := range []*archiveFixture{&a.saved, &a.nixGzip, &a.nixZstd, &a.buildkit, &a.layout} {
		f.files = files
		f.read(t)
	}
	return a
}

// read learns what the fixture holds: its config, its layers, and for an
// OCI archive or layout the manifest whose digest is kept.
func (f *archiveFixture) read(t *testing.T) {
	t.Helper()
	blobs := readImageFiles(t, f.path)
	var config []byte
	if m, ok := blobs["manifest.json"]; ok && blobs["oci-layout"] == nil {
		var entries []struct{ Config string }
		if err := json.Unmarshal(m, &entries); err != nil || len(entries) != 1 {
			t.Fatalf("%s: manifest.json %s: %v", f.name, m, err)
		}
		config = blobs[entries[0].Config]
	} else {
		var index struct {
			Manifests []struct{ Digest godigest.Digest }
		}
		if err := json.Unmarshal(blobs["index.json"], &index); err != nil || len(index.Manifests) != 1 {
			t.Fatalf("%s: index.json %s: %v", f.name, blobs["index.json"], err)
		}
		f.kept = index.Manifests[0].Digest
		var m struct {
			Config struct{ Digest godigest.Digest }
		}
		if err := json.Unmarshal(blobs[blobPath(f.kept)], &m); err != nil {
			t.Fatalf("%s: manifest %s: %v", f.name, f.kept, err)
		}
		config = blobs[blobPath(m.Config.Digest)]
	}
	f.config = godigest.FromBytes(config)
	var c struct {
		RootFS struct {
			DiffIDs []godigest.Digest `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(config, &c); err != nil || len(c.RootFS.DiffIDs) != 2 {
		t.Fatalf("%s: config %s: %v, want 2 layers", f.name, config, err)
	}
	f.diffIDs = c.RootFS.DiffIDs
}

func blobPath(d godigest.Digest) string { return "blobs/" + d.Algorithm().String() + "/" + d.Encoded() }

// readImageFiles reads the small files of an archive (gzipped or not, a
// symlink followed) or layout directory: name to content. Layers are left
// out (larger than 64 KiB) or read and ignored.
func readImageFiles(t *testing.T, path string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		for _, name := range []string{"index.json", "oci-layout"} {
			b, err := os.ReadFile(filepath.Join(path, name))
			if err != nil {
				t.Fatal(err)
			}
			out[name] = b
		}
		blobs, _ := filepath.Glob(filepath.Join(path, "blobs", "sha256", "*"))
		for _, b := range blobs {
			if st, err := os.Stat(b); err == nil && st.Size() < 64<<10 {
				data, _ := os.ReadFile(b)
				out["blobs/sha256/"+filepath.Base(b)] = data
			}
		}
		return out
	}
	for _, e := range readTar(t, path) {
		if e.hdr.Typeflag == tar.TypeReg && len(e.data) < 64<<10 {
			out[strings.TrimPrefix(e.hdr.Name, "./")] = e.data
		}
	}
	return out
}

// skopeoAuth writes an auth file for r's registry, for the checks with
// skopeo (never the key on a command line, even a test's).
func skopeoAuth(t *testing.T, r rig) string {
	t.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte(r.user + ":" + r.key))
	b, _ := json.Marshal(map[string]any{"auths": map[string]any{r.registry: map[string]string{"auth": auth}}})
	path := filepath.Join(t.TempDir(), "auth.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// pushedImage is what an independent client (skopeo) finds at a tag.
type pushedImage struct {
	digest   godigest.Digest
	manifest struct {
		MediaType string `json:"mediaType"`
		Config    struct {
			MediaType string          `json:"mediaType"`
			Digest    godigest.Digest `json:"digest"`
		} `json:"config"`
		Layers []struct {
			MediaType string          `json:"mediaType"`
			Digest    godigest.Digest `json:"digest"`
		} `json:"layers"`
	}
	dir string // skopeo's dir: copy of the image
}

// pull copies image:tag from r's registry with skopeo into a dir: copy.
func pull(t *testing.T, r rig, image, tag string) pushedImage {
	t.Helper()
	auth, ref := skopeoAuth(t, r), "docker://"+r.registry+"/"+image+":"+tag
	raw, err := exec.Command("skopeo", "inspect", "--raw", "--tls-verify=false", "--authfile", auth, ref).Output()
	if err != nil {
		t.Fatalf("skopeo inspect %s: %v", ref, err)
	}
	p := pushedImage{digest: godigest.FromBytes(raw), dir: filepath.Join(t.TempDir(), "pulled")}
	if err := json.Unmarshal(raw, &p.manifest); err != nil {
		t.Fatalf("%s: manifest %s: %v", ref, raw, err)
	}
	tool(t, "skopeo", "copy", "--quiet", "--src-tls-verify=false", "--src-authfile", auth, ref, "dir:"+p.dir)
	return p
}

// wantArchivePushed checks, with skopeo, that image:tag is the fixture's
// image: an OCI manifest with the archive's config, layers that
// decompress to the archive's diff IDs and unpack to its files, and for an
// OCI archive or layout the manifest digest kept; and that it is the
// digest the run reported. compression is the layers' expected media type
// suffix ("+gzip", "+zstd", "").
func wantArchivePushed(t *testing.T, r rig, image, tag string, f archiveFixture, res result, layerType string) {
	t.Helper()
	p := pull(t, r, image, tag)
	if got := res.outputs["digest"]; got != p.digest.String() {
		t.Errorf("%s: %s:%s is %s, the run reported %q", f.name, image, tag, p.digest, got)
	}
	if f.kept != "" && p.digest != f.kept {
		t.Errorf("%s: pushed %s, the archive's manifest is %s: an OCI image keeps its digest", f.name, p.digest, f.kept)
	}
	if p.manifest.MediaType != "application/vnd.oci.image.manifest.v1+json" || p.manifest.Config.Digest != f.config {
		t.Errorf("%s: manifest %s with config %s, want an OCI manifest with the archive's config %s", f.name, p.manifest.MediaType, p.manifest.Config.Digest, f.config)
	}
	if len(p.manifest.Layers) != len(f.diffIDs) {
		t.Fatalf("%s: %d layers pushed, the archive has %d", f.name, len(p.manifest.Layers), len(f.diffIDs))
	}
	unpacked := t.TempDir()
	for i, l := range p.manifest.Layers {
		if f.kept == "" && l.MediaType != "application/vnd.oci.image.layer.v1.tar"+layerType {
			t.Errorf("%s: layer %d is %s, want the OCI layer type ending %q", f.name, i, l.MediaType, layerType)
		}
		plain := decompressed(t, filepath.Join(p.dir, l.Digest.Encoded()), l.MediaType)
		if d := godigest.FromBytes(plain); d != f.diffIDs[i] {
			t.Errorf("%s: layer %d decompresses to %s, the archive's diff ID is %s", f.name, i, d, f.diffIDs[i])
		}
		untar(t, plain, unpacked)
	}
	for name, want := range f.files {
		if got, err := os.ReadFile(filepath.Join(unpacked, name)); err != nil || string(got) != want {
			t.Errorf("%s: /%s unpacked from the pushed layers: %v, %d bytes, want the archive's %d", f.name, name, err, len(got), len(want))
		}
	}
}

// decompressed is a layer blob uncompressed, by the system's gzip or zstd.
func decompressed(t *testing.T, path, mediaType string) []byte {
	t.Helper()
	cmd := exec.Command("cat")
	switch {
	case strings.HasSuffix(mediaType, "+gzip") || strings.HasSuffix(mediaType, ".gzip"):
		cmd = exec.Command("gzip", "-dc")
	case strings.HasSuffix(mediaType, "+zstd"):
		cmd = exec.Command("zstd", "-dcq")
	}
	in, err := os.Open(path) // on stdin: zstd passes over a symlink given by name
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd.Stdin = in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s (%s): %v", cmd.Path, path, mediaType, err)
	}
	return out
}

// untar unpacks a layer with the system's tar.
func untar(t *testing.T, layer []byte, dir string) {
	t.Helper()
	cmd := exec.Command("tar", "-x", "-C", dir)
	cmd.Stdin = bytes.NewReader(layer)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, out)
	}
}

// archiveInputs are the inputs of a run that pushes archive to
// r's registry: no context, and a PATH holding only git (no buildkitd, no
// docker); BUILDKIT_HOST names no buildkitd, which fails any run that
// tries to reach one.
func archiveInputs(t *testing.T, r rig, image, version, archive string) map[string]string {
	t.Helper()
	env := r.inputs(image, version, "")
	delete(env, "INPUT_CONTEXT")
	delete(env, "INPUT_BUILDKIT-ADDRESS")
	env["INPUT_ARCHIVE"] = archive
	env["PATH"] = onlyGitOnPath(t)
	env["BUILDKIT_HOST"] = "unix:///nonexistent/buildkitd.sock"
	return env
}

// onlyGitOnPath is a directory holding git alone.
func onlyGitOnPath(t *testing.T) string {
	t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(git, filepath.Join(bin, "git")); err != nil {
		t.Fatal(err)
	}
	return bin
}

// startDocker starts a Docker daemon of the test's own until it ends.
func startDocker(t *testing.T) *testrig.Docker {
	t.Helper()
	d, err := testrig.StartDocker(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return d
}
