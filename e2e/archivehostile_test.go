package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	godigest "github.com/opencontainers/go-digest"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// Hostile archives and registry contents (issue 26): an archive that
// costs more than it says, a layer claimed in the registry by an image
// that lies, files that never end. Each is written here, byte by byte or
// with GNU tar and zstd, and pushed to the rig's registry.

// layerTar is an uncompressed layer holding one file.
func layerTar(t *testing.T, name, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// imageConfig is an image config whose rootfs lists diffIDs.
func imageConfig(t *testing.T, diffIDs ...godigest.Digest) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "config": map[string]any{},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nixStyle writes a docker-archive as nix's stream_layered_image.py
// does: each layer as <diff ID>/layer.tar, then the config, then
// manifest.json.
func nixStyle(t *testing.T, layers ...[]byte) string {
	t.Helper()
	var entries []tarEntry
	var names []string
	var ids []godigest.Digest
	for _, l := range layers {
		id := godigest.FromBytes(l)
		names, ids = append(names, id.Encoded()+"/layer.tar"), append(ids, id)
		entries = append(entries, file(id.Encoded()+"/layer.tar", l))
	}
	cfg := imageConfig(t, ids...)
	cfgName := godigest.FromBytes(cfg).Encoded() + ".json"
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{"bpi/app:nix"}, "Layers": names}})
	entries = append(entries, file(cfgName, cfg), file("manifest.json", manifest))
	return writeTar(t, filepath.Join(t.TempDir(), "image.tar"), entries)
}

// ociDescriptor is a descriptor as the tests write them.
type ociDescriptor struct {
	MediaType string          `json:"mediaType"`
	Digest    godigest.Digest `json:"digest"`
	Size      int             `json:"size"`
}

func describe(mediaType string, b []byte) ociDescriptor {
	return ociDescriptor{mediaType, godigest.FromBytes(b), len(b)}
}

const (
	ociManifestType = "application/vnd.oci.image.manifest.v1+json"
	ociIndexType    = "application/vnd.oci.image.index.v1+json"
	ociConfigType   = "application/vnd.oci.image.config.v1+json"
)

func imageManifest(t *testing.T, config ociDescriptor, layers ...ociDescriptor) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": ociManifestType, "config": config, "layers": layers})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func imageIndex(t *testing.T, children ...ociDescriptor) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": ociIndexType, "manifests": children})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ociDir writes an OCI layout directory: blobs by digest, and index.json
// naming top.
func ociDir(t *testing.T, top ociDescriptor, blobs ...[]byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range blobs {
		writeBytes(t, filepath.Join(dir, "blobs", "sha256", godigest.FromBytes(b).Encoded()), b)
	}
	writeBytes(t, filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`))
	writeBytes(t, filepath.Join(dir, "index.json"), imageIndex(t, top))
	return dir
}

// ociArchive is the layout dir as one tar (an OCI archive).
func ociArchive(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "oci.tar")
	tool(t, "tar", "-C", dir, "-cf", out, "oci-layout", "index.json", "blobs")
	return out
}

// putManifest puts a manifest under ref directly (another client).
func (r rig) putManifest(t *testing.T, image, ref, mediaType string, raw []byte) {
	t.Helper()
	resp := r.request(t, http.MethodPut, "/v2/"+image+"/manifests/"+ref, bytes.NewReader(raw), mediaType)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT manifest %s: %s", ref, resp.Status)
	}
}

// lines are the lines of out starting with prefix.
func lines(out, prefix string) []string {
	var found []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			found = append(found, l)
		}
	}
	return found
}

// TestArchivePoisonedRelease: anyone who may create a tag pushes v99.0.0,
// whose config claims the diff ID of the next release's layer for a blob
// of their own. The next release does not reuse that blob (one warning
// names v99.0.0): the layer is compressed and uploaded anew, and what the
// version tag names unpacks to the archive's layers; a layer the
// project's own release holds is proven and reused.
func TestArchivePoisonedRelease(t *testing.T) {
	r := requireRig(t)
	image := randomName("it/archive-poisoned")
	genuine := layerTar(t, "srv/app", strings.Repeat("the genuine application\n", 100))
	kept := layerTar(t, "srv/base", strings.Repeat("the base, released before\n", 100))
	run := func(version, sha string, layers ...[]byte) result {
		env := archiveInputs(t, r, image, version, nixStyle(t, layers...))
		env["INPUT_SHA"] = strings.Repeat(sha, 40)
		return runArchive(t, env)
	}
	run("v1.0.0", "a", kept)

	evil := gzipped(t, layerTar(t, "srv/app", "the attacker's application\n"))
	cfg := imageConfig(t, godigest.FromBytes(genuine))
	r.uploadBlob(t, image, evil)
	r.uploadBlob(t, image, cfg)
	r.putManifest(t, image, "v99.0.0", ociManifestType, imageManifest(t, describe(ociConfigType, cfg), describe("application/vnd.oci.image.layer.v1.tar+gzip", evil)))

	res := run("v1.1.0", "b", kept, genuine)
	warnings := lines(res.stdout, "::warning")
	if len(warnings) != 1 || !strings.Contains(warnings[0], image+":v99.0.0") || !strings.Contains(warnings[0], godigest.FromBytes(evil).String()) {
		t.Errorf("warnings %q, want one naming %s:v99.0.0 and its blob", warnings, image)
	}
	wantLine(t, res.stdout, "2 layers: 1 reused from the registry, 1 compressed")
	p := pull(t, r, image, "v1.1.0")
	for i, want := range [][]byte{kept, genuine} {
		l := p.manifest.Layers[i]
		if l.Digest == godigest.FromBytes(evil) {
			t.Fatalf("layer %d is the attacker's blob %s", i, l.Digest)
		}
		if got := godigest.FromBytes(decompressed(t, filepath.Join(p.dir, l.Digest.Encoded()), l.MediaType)); got != godigest.FromBytes(want) {
			t.Errorf("layer %d unpacks to %s, want %s", i, got, godigest.FromBytes(want))
		}
	}
	if first := pull(t, r, image, "v1.0.0"); p.manifest.Layers[0].Digest != first.manifest.Layers[0].Digest {
		t.Errorf("the released layer was not reused: %s, v1.0.0 has %s", p.manifest.Layers[0].Digest, first.manifest.Layers[0].Digest)
	}
}

// wantRefused wants the run to fail in one ::error:: line naming the
// archive input and saying want, with no tag written and nothing left in
// RUNNER_TEMP.
func wantRefused(t *testing.T, r rig, image string, res result, path, want string) {
	t.Helper()
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", res.code, res.stdout, res.stderr)
	}
	testcheck.OneErrorLine(t, res.stdout, "::error::archive: "+path+": ")
	testcheck.OneErrorLine(t, res.stdout, want)
	t.Logf("%s", firstErrorLine(res.stdout))
	for _, tag := range []string{"v1.0.0", testcheck.SHA} {
		if d, status := r.headDigest(t, image, tag); status != http.StatusNotFound {
			t.Errorf("tag %s: %d %s, want none", tag, status, d)
		}
	}
	if left := actionLeftovers(t, res.runnerTemp); len(left) > 0 {
		t.Errorf("RUNNER_TEMP holds %v after the run, want nothing of the action's", left)
	}
}

// usage samples how many bytes the files under dir hold, every few
// milliseconds, until stop is closed; it returns the most seen.
func usage(dir string, stop <-chan struct{}) <-chan int64 {
	most := make(chan int64, 1)
	go func() {
		var peak int64
		for {
			var n int64
			_ = filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
				if err == nil && info.Mode().IsRegular() {
					n += info.Size()
				}
				return nil
			})
			peak = max(peak, n)
			select {
			case <-stop:
				most <- peak
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return most
}

// TestArchiveSparseEntry: a PAX sparse entry that declares 3 GiB in an
// archive of a few hundred bytes is refused at its header, its declared
// size counted: RUNNER_TEMP, sampled while it runs, never holds more
// than a few MiB.
func TestArchiveSparseEntry(t *testing.T) {
	r := requireRig(t)
	dir := t.TempDir()
	big := filepath.Join(dir, "data.bin")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("not a tar, not compressed: copied as it is")
	if err == nil {
		err = f.Truncate(3 << 30)
	}
	if err = errors.Join(err, f.Close()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sparse.tar.gz")
	tool(t, "tar", "--sparse", "--format=pax", "--sparse-version=1.0", "-czf", path, "-C", dir, "data.bin")
	if st, err := os.Stat(path); err != nil || st.Size() > 4096 {
		t.Fatalf("%s: %v, want a few hundred bytes", path, err)
	}
	image := randomName("it/archive-sparse")
	env := archiveInputs(t, r, image, "v1.0.0", path)
	cmd := actionCommand(t, context.Background(), env)
	stop := make(chan struct{})
	peak := usage(envValue(cmd.Env, "RUNNER_TEMP"), stop)
	res := runCommand(t, cmd, nil)
	close(stop)
	wantRefused(t, r, image, res, path, "it unpacks to more than 1.0 GiB (the limit is 1024 times the archive's size")
	if most := <-peak; most > 16<<20 {
		t.Errorf("RUNNER_TEMP held %d bytes at its peak, want the sparse entry refused before any of it is written", most)
	}
}

// TestArchiveRepeatedLayer: one compressed layer of 200 MiB unpacked,
// named 400 times by manifest.json (80 GiB in all), is unpacked once:
// the archive's read says so, and the registry gets one upload of it
// and a manifest naming it 400 times.
func TestArchiveRepeatedLayer(t *testing.T) {
	r := requireRig(t)
	const size, times = 200 << 20, 400
	var plain bytes.Buffer
	tw := tar.NewWriter(&plain)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "zeros", Mode: 0o644, Size: size}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	diffID := godigest.FromBytes(plain.Bytes())
	var packed bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&packed, gzip.BestCompression)
	if _, err := zw.Write(plain.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	ids, names := make([]godigest.Digest, times), make([]string, times)
	for i := range times {
		ids[i], names[i] = diffID, "layer.tar.gz"
	}
	cfg := imageConfig(t, ids...)
	manifest, _ := json.Marshal([]map[string]any{{"Config": "config.json", "Layers": names}})
	path := writeTar(t, filepath.Join(t.TempDir(), "repeated.tar"), []tarEntry{
		file("layer.tar.gz", packed.Bytes()), file("config.json", cfg), file("manifest.json", manifest),
	})
	fp := newFaultProxy(t, r)
	image := randomName("it/archive-repeated")
	env := archiveInputs(t, r, image, "v1.0.0", path)
	env["INPUT_IMAGE"] = fp.addr + "/" + image
	res := runArchive(t, env)
	m := regexp.MustCompile(` ([0-9.]+) MiB unpacked in all;`).FindStringSubmatch(res.stdout)
	var mib float64
	if m != nil {
		_, _ = fmt.Sscan(m[1], &mib)
	}
	if m == nil || mib > 2*size/(1<<20) {
		t.Errorf("the read says it unpacked %q, want the layer once (%d MiB), not %d times:\n%s", m, size>>20, times, res.stdout)
	}
	if n := fp.count(kindBlobPost); n != 2 {
		t.Errorf("%d blob uploads, want 2 (the layer once, the config)", n)
	}
	p := r.manifest(t, image, "v1.0.0")
	if len(p.Layers) != times || p.Layers[0].Digest != godigest.FromBytes(packed.Bytes()).String() || p.Layers[times-1].Digest != p.Layers[0].Digest {
		t.Errorf("the manifest names %d layers (%v…), want the archive's blob %d times", len(p.Layers), p.Layers[:min(len(p.Layers), 1)], times)
	}
}

// nestedLayout is an OCI layout of depth nested indexes, each naming the
// next fan times, over one image manifest: depth+1 distinct manifests.
func nestedLayout(t *testing.T, depth, fan int) (dir string, top ociDescriptor) {
	t.Helper()
	l := gzipped(t, layerTar(t, "nested", "one layer under many indexes\n"))
	cfg := imageConfig(t, godigest.FromBytes(layerTar(t, "nested", "one layer under many indexes\n")))
	m := imageManifest(t, describe(ociConfigType, cfg), describe("application/vnd.oci.image.layer.v1.tar+gzip", l))
	blobs := [][]byte{l, cfg, m}
	top = describe(ociManifestType, m)
	for range depth {
		children := make([]ociDescriptor, fan)
		for i := range children {
			children[i] = top
		}
		index := imageIndex(t, children...)
		blobs, top = append(blobs, index), describe(ociIndexType, index)
	}
	return ociDir(t, top, blobs...), top
}

// TestArchiveNestedIndexes: 4 nested indexes each naming the next 10
// times (5 distinct manifests, 11,111 if walked as a tree) are walked as
// a graph: the registry sees 5 manifest writes. Past the stated limits
// (1,000 distinct manifests, 10,000 descriptors in all) the archive is
// refused in one line naming the limit.
func TestArchiveNestedIndexes(t *testing.T) {
	r := requireRig(t)
	t.Run("a graph", func(t *testing.T) {
		dir, top := nestedLayout(t, 4, 10)
		fp := newFaultProxy(t, r)
		image := randomName("it/archive-nested")
		env := archiveInputs(t, r, image, "v1.0.0", dir)
		env["INPUT_IMAGE"] = fp.addr + "/" + image
		res := runArchive(t, env)
		if res.outputs["digest"] != top.Digest.String() {
			t.Errorf("digest %q, want the top index %s", res.outputs["digest"], top.Digest)
		}
		if n := fp.count(kindManifestPut); n != 5 {
			t.Errorf("%d manifest writes, want 5 (each distinct manifest once)", n)
		}
		if n := fp.count(kindBlobPost); n != 2 {
			t.Errorf("%d blob uploads, want 2", n)
		}
	})
	t.Run("too many descriptors", func(t *testing.T) {
		dir, _ := nestedLayout(t, 1, 10_001)
		image := randomName("it/archive-nested")
		wantRefused(t, r, image, runAction(t, archiveInputs(t, r, image, "v1.0.0", dir), nil), dir, "list more than 10000 descriptors in all (the limit)")
	})
	t.Run("too many manifests", func(t *testing.T) {
		l := gzipped(t, layerTar(t, "many", "many manifests\n"))
		cfg := imageConfig(t, godigest.FromBytes(layerTar(t, "many", "many manifests\n")))
		blobs := [][]byte{l, cfg}
		var children []ociDescriptor
		for i := range 1001 {
			m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": ociManifestType,
				"config": describe(ociConfigType, cfg), "layers": []ociDescriptor{describe("application/vnd.oci.image.layer.v1.tar+gzip", l)},
				"annotations": map[string]string{"n": fmt.Sprint(i)}})
			blobs, children = append(blobs, m), append(children, describe(ociManifestType, m))
		}
		index := imageIndex(t, children...)
		dir := ociDir(t, describe(ociIndexType, index), append(blobs, index)...)
		image := randomName("it/archive-nested")
		wantRefused(t, r, image, runAction(t, archiveInputs(t, r, image, "v1.0.0", dir), nil), dir, "more than 1000 distinct manifests and indexes (the limit)")
	})
}

// TestArchiveNotRegularFiles: a FIFO as the archive, as a layout's
// index.json or as one of its blobs, and a device as the archive, are
// refused before they are opened for reading: one line, at once (the
// run is killed after a minute, a hang).
func TestArchiveNotRegularFiles(t *testing.T) {
	r := requireRig(t)
	fifo := func(path string) string {
		_ = os.Remove(path)
		if err := syscall.Mkfifo(path, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	layout := func() string { dir, _ := nestedLayout(t, 0, 0); return dir }
	blobFIFO := layout()
	blobs, _ := filepath.Glob(filepath.Join(blobFIFO, "blobs", "sha256", "*"))
	for _, b := range blobs {
		if bytes.HasPrefix(readAll(t, b), []byte{0x1f, 0x8b}) { // the layer
			fifo(b)
		}
	}
	indexFIFO := layout()
	fifo(filepath.Join(indexFIFO, "index.json"))
	for _, tc := range []struct{ name, path, want string }{
		{"archive a FIFO", fifo(filepath.Join(t.TempDir(), "image.tar")), "it is a named pipe (FIFO), not a file or directory"},
		{"layout index.json a FIFO", indexFIFO, "its index.json is a named pipe (FIFO), not a regular file"},
		{"layout blob a FIFO", blobFIFO, "is a named pipe (FIFO), not a regular file"},
		{"archive a device", "/dev/zero", "it is a device, not a file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			image := randomName("it/archive-fifo")
			res := runCommand(t, actionCommand(t, ctx, archiveInputs(t, r, image, "v1.0.0", tc.path)), nil)
			if ctx.Err() != nil {
				t.Fatalf("still running after a minute: killed\n%s", res.stdout)
			}
			wantRefused(t, r, image, res, tc.path, tc.want)
		})
	}
}

// TestArchiveSIGTERM: a SIGTERM while the archive's layer is being
// unpacked ends the run within 2 s, in one line, with nothing left in
// RUNNER_TEMP.
func TestArchiveSIGTERM(t *testing.T) {
	r := requireRig(t)
	// 8 MiB of noise lets the archive unpack to 8 GiB; its one layer is
	// 7 GiB of zeros, seconds of reading.
	path := filepath.Join(t.TempDir(), "long.tar.zst")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zstd := exec.Command("zstd", "-q", "-1", "-c")
	zstd.Stdout = out
	in, err := zstd.StdinPipe()
	if err == nil {
		err = zstd.Start()
	}
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(in)
	noise := make([]byte, 8<<20)
	_, _ = (&pseudoRandom{1}).Read(noise)
	err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "noise", Mode: 0o644, Size: int64(len(noise))})
	if err == nil {
		_, err = tw.Write(noise)
	}
	if err == nil {
		err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "0/layer.tar", Mode: 0o644, Size: 7 << 30})
	}
	if err == nil {
		_, err = io.CopyN(tw, zeros{}, 7<<30)
	}
	if err == nil {
		err = tw.Close()
	}
	_ = in.Close()
	if werr := zstd.Wait(); err != nil || werr != nil {
		t.Fatalf("zstd: %v, %v", err, werr)
	}
	_ = out.Close()

	image := randomName("it/archive-sigterm")
	cmd := actionCommand(t, context.Background(), archiveInputs(t, r, image, "v1.0.0", path))
	temp := envValue(cmd.Env, "RUNNER_TEMP")
	var sent atomic.Int64
	signal := func() {
		// Once the layer's compressed copy is being written, it is being
		// unpacked.
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			spools, _ := filepath.Glob(filepath.Join(temp, "build-push-image-archive-*", "spool-*"))
			if len(spools) > 1 { // the noise's copy, then the layer's
				time.Sleep(200 * time.Millisecond)
				sent.Store(time.Now().UnixNano())
				_ = cmd.Process.Signal(syscall.SIGTERM)
				return
			}
		}
	}
	res := runCommand(t, cmd, func(line string) {
		if strings.HasPrefix(line, "::group::Publish") {
			go signal()
		}
	})
	took := time.Since(time.Unix(0, sent.Load()))
	if sent.Load() == 0 {
		t.Fatalf("the layer was never seen being unpacked\n%s", res.stdout)
	}
	t.Logf("exited %s after the SIGTERM", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("exited %s after the SIGTERM, want within 2 s", took.Round(time.Millisecond))
	}
	if res.code == 0 || len(lines(res.stdout, "::error")) != 1 {
		t.Errorf("exit %d, want a failure in one ::error:: line:\n%s", res.code, res.stdout)
	}
	if left := actionLeftovers(t, res.runnerTemp); len(left) > 0 {
		t.Errorf("RUNNER_TEMP holds %v after the SIGTERM, want nothing of the action's", left)
	}
}

// pseudoRandom is incompressible bytes (xorshift), the same every run.
type pseudoRandom struct{ s uint64 }

func (p *pseudoRandom) Read(b []byte) (int, error) {
	for i := range b {
		p.s ^= p.s << 13
		p.s ^= p.s >> 7
		p.s ^= p.s << 17
		b[i] = byte(p.s)
	}
	return len(b), nil
}

// TestArchivePlainTarOCILayerNextRelease: an OCI archive whose layer is a
// plain tar, when the registry already holds that layer compressed (an
// earlier release from a docker-archive), is published as it is: the
// plain blob is kept for its upload.
func TestArchivePlainTarOCILayerNextRelease(t *testing.T) {
	r := requireRig(t)
	image := randomName("it/archive-plain")
	l := layerTar(t, "srv/plain", strings.Repeat("a plain tar layer\n", 100))
	env := archiveInputs(t, r, image, "v1.0.0", nixStyle(t, l))
	env["INPUT_SHA"] = strings.Repeat("a", 40)
	runArchive(t, env)

	cfg := imageConfig(t, godigest.FromBytes(l))
	m := imageManifest(t, describe(ociConfigType, cfg), describe("application/vnd.oci.image.layer.v1.tar", l))
	archive := ociArchive(t, ociDir(t, describe(ociManifestType, m), l, cfg, m))
	env = archiveInputs(t, r, image, "v1.1.0", archive)
	env["INPUT_SHA"] = strings.Repeat("b", 40)
	res := runArchive(t, env)
	if want := godigest.FromBytes(m).String(); res.outputs["digest"] != want {
		t.Errorf("digest %q, want the archive's manifest %s", res.outputs["digest"], want)
	}
	if got := r.blob(t, image, "blobs", godigest.FromBytes(l).String()); !bytes.Equal(got, l) {
		t.Errorf("the plain layer in the registry is %d bytes, want the archive's %d", len(got), len(l))
	}
}

// TestArchiveSIGTERMWhileProving: a SIGTERM while the proof of a reused
// layer waits on the registry (its blob GET held) ends the run within
// 2 s, in one line, with nothing left in RUNNER_TEMP.
func TestArchiveSIGTERMWhileProving(t *testing.T) {
	r := requireRig(t)
	fp := newFaultProxy(t, r)
	image := randomName("it/archive-sigterm-proof")
	l := layerTar(t, "srv/app", strings.Repeat("released before\n", 1000))
	env := archiveInputs(t, r, image, "v1.0.0", nixStyle(t, l))
	env["INPUT_IMAGE"], env["INPUT_SHA"] = fp.addr+"/"+image, strings.Repeat("a", 40)
	runArchive(t, env)

	env = archiveInputs(t, r, image, "v1.1.0", nixStyle(t, l, layerTar(t, "srv/new", "new\n")))
	env["INPUT_IMAGE"], env["INPUT_SHA"] = fp.addr+"/"+image, strings.Repeat("b", 40)
	cmd := actionCommand(t, context.Background(), env)
	var sent atomic.Int64
	// The first blob GET is the release's config (learning); the next,
	// the layer's proof: held until the run goes away.
	fp.fail(kindBlobGet, 1, fault{after: kindBlobGet, stall: time.Minute, inspect: func() {
		sent.Store(time.Now().UnixNano())
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}})
	res := runCommand(t, cmd, nil)
	if sent.Load() == 0 {
		t.Fatalf("the proof's blob GET never came\n%s", res.stdout)
	}
	took := time.Since(time.Unix(0, sent.Load()))
	t.Logf("exited %s after the SIGTERM", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("exited %s after the SIGTERM, want within 2 s", took.Round(time.Millisecond))
	}
	if res.code == 0 || len(lines(res.stdout, "::error")) != 1 {
		t.Errorf("exit %d, want a failure in one ::error:: line:\n%s", res.code, res.stdout)
	}
	if left := actionLeftovers(t, res.runnerTemp); len(left) > 0 {
		t.Errorf("RUNNER_TEMP holds %v after the SIGTERM, want nothing of the action's", left)
	}
}
