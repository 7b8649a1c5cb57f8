package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	godigest "github.com/opencontainers/go-digest"

	"github.com/blumeops/build-push-image/internal/testcheck"
	"github.com/blumeops/build-push-image/internal/testrig"
)

// TestArchivePush pushes archives made by docker save, skopeo (a gzipped
// docker-archive behind a symlink named result, as nix leaves it; an OCI
// layout) and BuildKit (an OCI archive) to the rig's registry and to zot
// (a real one with a create-only user and an API key when $ZOT_BINARY is
// set, else the emulation, which refuses Docker media types as zot does),
// by a process whose PATH has no buildkitd and no docker; skopeo checks
// what the tags name.
func TestArchivePush(t *testing.T) {
	r := requireRig(t)
	d := startDocker(t)
	fixtures := goodArchives(t, r, d)
	zr, fp := zotTarget(t, r)
	for _, f := range fixtures.all() {
		t.Run("registry/"+f.name, func(t *testing.T) {
			image := randomName("it/archive")
			res := runArchive(t, archiveInputs(t, r, image, "v1.0.0", f.path))
			wantArchivePushed(t, r, image, "v1.0.0", f, res, "+gzip")
			wantTagged(t, r, image, res)
		})
		t.Run("zot/"+f.name, func(t *testing.T) {
			image := randomName("it/archive")
			env := archiveInputs(t, zr, image, "v1.0.0", f.path)
			env["INPUT_IMAGE"] = fp.addr + "/" + image
			res := runArchive(t, env)
			wantArchivePushed(t, zr, image, "v1.0.0", f, res, "+gzip")
			wantTagged(t, zr, image, res)
		})
	}
	t.Run("several images, one chosen", func(t *testing.T) {
		severalImages(t, r, d)
	})
	t.Run("compression", func(t *testing.T) {
		for input, layerType := range map[string]string{"zstd": "+zstd", "uncompressed": "", "gzip": "+gzip"} {
			image := randomName("it/archive-" + input)
			env := archiveInputs(t, r, image, "v1.0.0", fixtures.saved.path)
			env["INPUT_COMPRESSION"] = input
			wantArchivePushed(t, r, image, "v1.0.0", fixtures.saved, runArchive(t, env), layerType)
		}
	})
	t.Run("index of two platforms", func(t *testing.T) {
		twoPlatforms(t, r)
	})
	t.Run("two repositories, tags that follow releases", func(t *testing.T) {
		twoRepositories(t, r, fixtures.buildkit)
	})
	t.Run("never backwards", func(t *testing.T) {
		neverBackwards(t, r, fixtures.saved, fixtures.buildkit)
	})
	t.Run("reuse-from", func(t *testing.T) {
		reuseFrom(t, r, fixtures.saved)
	})
	t.Run("push: false", func(t *testing.T) {
		image := randomName("it/archive-dry")
		env := archiveInputs(t, r, image, "v1.0.0", fixtures.nixGzip.path)
		pushed := runArchive(t, env)
		env["INPUT_PUSH"] = "false"
		delete(env, "INPUT_USERNAME")
		delete(env, "INPUT_API-KEY")
		dry := runArchive(t, env)
		if dry.outputs["digest"] != pushed.outputs["digest"] || dry.outputs["tags"] != "" {
			t.Errorf("push: false: digest %q tags %q, want the pushed image's %s and no tags", dry.outputs["digest"], dry.outputs["tags"], pushed.outputs["digest"])
		}
	})
	for name, target := range map[string]func() (rig, *faultProxy){
		"registry": func() (rig, *faultProxy) { return r, newFaultProxy(t, r) },
		"zot":      func() (rig, *faultProxy) { return zr, fp },
	} {
		t.Run(name+"/same archive twice, skip-identical", func(t *testing.T) {
			via, proxy := target()
			sameArchiveTwice(t, via, proxy, fixtures.nixGzip)
		})
		t.Run(name+"/another archive under the same version", func(t *testing.T) {
			via, proxy := target()
			otherArchiveSameVersion(t, via, proxy, fixtures.saved, fixtures.buildkit)
		})
	}
}

// writes are the requests that change a registry.
var writes = []string{kindBlobPost, kindBlobMount, kindBlobPatch, kindBlobPut, kindManifestPut, kindTagPut}

// countWrites is how many writes the proxy has seen.
func countWrites(fp *faultProxy) int {
	n := 0
	for _, k := range writes {
		n += fp.count(k)
	}
	return n
}

// sameArchiveTwice: the second run with skip-identical succeeds with the
// same digest and writes nothing (through fp, the proxy in front of r).
func sameArchiveTwice(t *testing.T, r rig, fp *faultProxy, f archiveFixture) {
	image := randomName("it/archive-again")
	env := archiveInputs(t, r, image, "v1.0.0", f.path)
	env["INPUT_IMAGE"] = fp.addr + "/" + image
	env["INPUT_ON-EXISTING-VERSION"] = "skip-identical"
	first := runArchive(t, env)
	before := countWrites(fp)
	second := runArchive(t, env)
	if second.outputs["digest"] != first.outputs["digest"] {
		t.Errorf("second run: digest %s, first %s: the same archive must give the same image", second.outputs["digest"], first.outputs["digest"])
	}
	if n := countWrites(fp) - before; n != 0 || before == 0 {
		t.Errorf("first run wrote %d times, second %d: want writes, then none\n%s", before, n, second.stdout)
	}
	wantArchivePushed(t, r, image, "v1.0.0", f, second, "+gzip")
}

// otherArchiveSameVersion: another image under a version that exists is
// refused before anything is uploaded.
func otherArchiveSameVersion(t *testing.T, r rig, fp *faultProxy, first, other archiveFixture) {
	image := randomName("it/archive-taken")
	env := archiveInputs(t, r, image, "v1.0.0", first.path)
	env["INPUT_IMAGE"] = fp.addr + "/" + image
	pushed := runArchive(t, env)
	before := countWrites(fp)
	env["INPUT_ARCHIVE"] = other.path
	res := runAction(t, env, nil)
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
	}
	testcheck.OneErrorLine(t, res.stdout, "version tag v1.0.0 already exists in "+fp.addr+"/"+image+" ("+pushed.outputs["digest"]+")")
	if n := countWrites(fp) - before; n != 0 {
		t.Errorf("the refused run wrote %d times, want none before the guard refused", n)
	}
	if got, _ := r.headDigest(t, image, "v1.0.0"); got != pushed.outputs["digest"] {
		t.Errorf("version tag names %s, want the first archive's %s", got, pushed.outputs["digest"])
	}
	// The guard runs before the archive is read: not even a file that is
	// no image gets that far.
	env["INPUT_ARCHIVE"] = writeBytes(t, filepath.Join(t.TempDir(), "garbage"), []byte("no image"))
	res = runAction(t, env, nil)
	testcheck.OneErrorLine(t, res.stdout, "version tag v1.0.0 already exists")
}

// runArchive runs the action and wants it to succeed.
func runArchive(t *testing.T, env map[string]string) result {
	t.Helper()
	res := runAction(t, env, nil)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	testcheck.NoSecret(t, env["INPUT_API-KEY"], res.all()...)
	if left := actionLeftovers(t, res.runnerTemp); len(left) > 0 {
		t.Errorf("RUNNER_TEMP holds %v after the run, want nothing of the action's", left)
	}
	return res
}

// wantTagged checks the version and SHA tags name the run's digest.
func wantTagged(t *testing.T, r rig, image string, res result) {
	t.Helper()
	for _, tag := range []string{"v1.0.0", testcheck.SHA} {
		if got, status := r.headDigest(t, image, tag); status != http.StatusOK || got != res.outputs["digest"] {
			t.Errorf("%s:%s: %d %q, want the run's digest %s", image, tag, status, got, res.outputs["digest"])
		}
	}
}

// severalImages: docker save of two images asks, in one line, which one;
// archive-image chooses it by the name docker save wrote.
func severalImages(t *testing.T, r rig, d *testrig.Docker) {
	dir := t.TempDir()
	ctx, files := archiveContext(t, "other")
	both := filepath.Join(dir, "both.tar")
	dockerCLI(t, d, "build", "--quiet", "--tag", "bpi/other:2", ctx)
	dockerCLI(t, d, "save", "--output", both, "bpi/app:1", "bpi/other:2")
	image := randomName("it/archive-two")

	res := runAction(t, archiveInputs(t, r, image, "v1.0.0", both), nil)
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
	}
	testcheck.OneErrorLine(t, res.stdout, "archive-image")
	for _, name := range []string{"bpi/app:1", "bpi/other:2"} {
		wantLine(t, res.stdout, name)
	}

	env := archiveInputs(t, r, image, "v1.0.0", both)
	env["INPUT_ARCHIVE-IMAGE"] = "bpi/other:2"
	res = runArchive(t, env)
	other := filepath.Join(dir, "other.tar")
	dockerCLI(t, d, "save", "--output", other, "bpi/other:2")
	f := archiveFixture{name: "docker save of bpi/other:2", path: other, files: files}
	f.read(t)
	wantArchivePushed(t, r, image, "v1.0.0", f, res, "+gzip")
}

// twoRepositories: with image on two lines, both repositories get the
// archive's image under every tag, the follower tags included, and the
// outputs and summary say so: the same code path as a build's.
func twoRepositories(t *testing.T, r rig, f archiveFixture) {
	images := []string{randomName("it/archive-one"), randomName("it/archive-two")}
	env := archiveInputs(t, r, images[0], "v1.2.3", f.path)
	env["INPUT_IMAGE"] = r.registry + "/" + images[0] + "\n" + r.registry + "/" + images[1]
	env["INPUT_TAGS"] = "latest"
	env["INPUT_SEMVER-TAGS"] = "true"
	res := runArchive(t, env)
	for _, image := range images {
		for _, tag := range []string{"v1.2.3", testcheck.SHA, "latest", "v1", "v1.2"} {
			if got, status := r.headDigest(t, image, tag); status != http.StatusOK || got != res.outputs["digest"] {
				t.Errorf("%s:%s: %d %q, want %s", image, tag, status, got, res.outputs["digest"])
			}
		}
	}
	wantArchivePushed(t, r, images[1], "latest", f, res, "+gzip")
	if !strings.Contains(res.outputs["tags"], r.registry+"/"+images[1]+":v1.2") || !strings.Contains(res.summary, res.outputs["digest"]) {
		t.Errorf("outputs tags %q or the summary lack the second repository or the digest:\n%s", res.outputs["tags"], res.summary)
	}
}

// reuseFrom: layers of a tag that is no release (reuse-from names it) are
// reused, neither compressed nor uploaded again; in a repository holding
// the same, without reuse-from, they are compressed again. The release has
// a commit of its own: a run's own SHA tag, when it exists, is reused from
// too (a re-run).
func reuseFrom(t *testing.T, r rig, f archiveFixture) {
	run := func(image, version, sha, reuse string) result {
		env := archiveInputs(t, r, image, version, f.path)
		env["INPUT_SHA"], env["INPUT_REUSE-FROM"] = strings.Repeat(sha, 40), reuse
		return runArchive(t, env)
	}
	// A release of another image: the newest release is read, not the
	// last tags the registry lists (those are read where no tag is a
	// semantic version).
	other := nixStyle(t, layerTar(t, "srv/other", "another image\n"))
	for reuse, want := range map[string]string{"candidate": "2 layers: 2 reused from the registry, 0 compressed", "": "2 layers: 0 reused from the registry, 2 compressed"} {
		image := randomName("it/archive-reuse")
		run(image, "candidate", "a", "")
		env := archiveInputs(t, r, image, "v0.9.0", other)
		env["INPUT_SHA"] = strings.Repeat("c", 40)
		runArchive(t, env)
		wantLine(t, run(image, "v1.0.0", "b", reuse).stdout, want)
	}
}

// twoPlatforms: BuildKit's OCI archive of an index of two platforms is
// pushed whole, its digest kept; archive-image picks one platform's
// manifest; a platform it does not hold fails in one line.
func twoPlatforms(t *testing.T, r rig) {
	ctx, _ := archiveContext(t, "platforms")
	path := filepath.Join(t.TempDir(), "multi.tar")
	tool(t, filepath.Join(os.Getenv(testrig.EnvTools), "buildctl"), "--addr", r.buildkit, "build",
		"--frontend", "dockerfile.v0", "--local", "context="+ctx, "--local", "dockerfile="+ctx,
		"--opt", "platform=linux/amd64,linux/arm64", "--output", "type=oci,dest="+path)
	files := readImageFiles(t, path)
	var outer, inner struct {
		Manifests []struct {
			Digest   godigest.Digest
			Platform *struct{ Architecture string }
		}
	}
	if err := json.Unmarshal(files["index.json"], &outer); err != nil || len(outer.Manifests) != 1 {
		t.Fatalf("index.json %s: %v", files["index.json"], err)
	}
	index := outer.Manifests[0].Digest
	if err := json.Unmarshal(files[blobPath(index)], &inner); err != nil || len(inner.Manifests) != 2 {
		t.Fatalf("index %s: %s %v, want two platforms", index, files[blobPath(index)], err)
	}
	want := map[string]godigest.Digest{"": index}
	for _, m := range inner.Manifests {
		want["linux/"+m.Platform.Architecture] = m.Digest
	}
	for choice, d := range want {
		image := randomName("it/archive-platforms")
		env := archiveInputs(t, r, image, "v1.0.0", path)
		env["INPUT_ARCHIVE-IMAGE"] = choice
		if res := runArchive(t, env); res.outputs["digest"] != d.String() {
			t.Errorf("archive-image %q: pushed %s, want %s", choice, res.outputs["digest"], d)
		}
		if got, _ := r.headDigest(t, image, "v1.0.0"); got != d.String() {
			t.Errorf("archive-image %q: the version tag names %s, want %s", choice, got, d)
		}
	}
	env := archiveInputs(t, r, randomName("it/archive-platforms"), "v1.0.0", path)
	env["INPUT_ARCHIVE-IMAGE"] = "linux/s390x"
	res := runAction(t, env, nil)
	testcheck.OneErrorLine(t, res.stdout, "archive-image: "+path+": none of its images is linux/s390x")
}

// neverBackwards: the manifest made for a docker-archive carries the
// version annotation, so a tag that follows releases is not moved from it
// to an older release; an OCI archive pushed as it is has none, so the
// next release moves the tag, whatever its version.
func neverBackwards(t *testing.T, r rig, docker, oci archiveFixture) {
	for _, tc := range []struct {
		first, second archiveFixture
		moves         bool
	}{{docker, oci, false}, {oci, docker, true}} {
		image := randomName("it/archive-latest")
		push := func(f archiveFixture, version, sha string) string {
			env := archiveInputs(t, r, image, version, f.path)
			env["INPUT_TAGS"], env["INPUT_SHA"] = "latest", strings.Repeat(sha, 40)
			return runArchive(t, env).outputs["digest"]
		}
		want := push(tc.first, "v2.0.0", "a")
		if older := push(tc.second, "v1.0.0", "b"); tc.moves {
			want = older
		}
		if got, _ := r.headDigest(t, image, "latest"); got != want {
			t.Errorf("%s as v2.0.0, then v1.0.0: latest names %s, want %s (moved: %v)", tc.first.name, got, want, tc.moves)
		}
	}
}
