package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// Bad and hostile archives, made from a good docker save and a good
// skopeo OCI layout by rewriting them here: the damage is this test's,
// the rest is the tools'. An archive is data from a build that may have
// run untrusted code: whatever it names, nothing is read or written
// outside it and the action's temporary directory.

// tarEntry is one entry of a tar, header and content.
type tarEntry struct {
	hdr  tar.Header
	data []byte
}

// readTar reads every entry of a tar, plain, gzipped or zstd-compressed.
func readTar(t *testing.T, path string) []tarEntry {
	t.Helper()
	raw := readAll(t, path)
	var r io.Reader = bytes.NewReader(raw)
	switch {
	case bytes.HasPrefix(raw, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case bytes.HasPrefix(raw, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		r = bytes.NewReader(decompressed(t, path, "+zstd"))
	}
	var out []tarEntry
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{*h, data})
	}
}

func writeTar(t *testing.T, path string, entries []tarEntry) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.Size = int64(len(e.data))
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return writeBytes(t, path, buf.Bytes())
}

func writeBytes(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func file(name string, data []byte) tarEntry {
	return tarEntry{tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644}, data}
}

func link(kind byte, name, target string) tarEntry {
	return tarEntry{tar.Header{Typeflag: kind, Name: name, Linkname: target, Mode: 0o777}, nil}
}

// layers are the names of a docker-archive's layer files, from its
// manifest.json.
func layers(t *testing.T, entries []tarEntry) []string {
	t.Helper()
	for _, e := range entries {
		if e.hdr.Name == "manifest.json" {
			var m []struct{ Layers []string }
			if err := json.Unmarshal(e.data, &m); err != nil || len(m) != 1 {
				t.Fatalf("manifest.json: %v", err)
			}
			return m[0].Layers
		}
	}
	t.Fatal("no manifest.json")
	return nil
}

// edited is entries with the entry name replaced by what edit returns
// (dropped when nil).
func edited(entries []tarEntry, name string, edit func(tarEntry) *tarEntry) []tarEntry {
	var out []tarEntry
	for _, e := range entries {
		if e.hdr.Name != name {
			out = append(out, e)
		} else if n := edit(e); n != nil {
			out = append(out, *n)
		}
	}
	return out
}

// hostile is where a hostile archive aims: a directory outside the
// archive and the action's temporary directory, with a copy of a real
// layer in it (what a link entry would make the action read), and a
// sentinel path an entry tries to create.
type hostile struct {
	layer, config, sentinel string
}

// badArchive is one bad or hostile archive and what its line must say
// beside naming the archive input.
type badArchive struct {
	name, path, want string
}

// badArchives makes them from the docker save and skopeo OCI layout
// fixtures.
func badArchives(t *testing.T, saved, layout string, h hostile) []badArchive {
	t.Helper()
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	entries := readTar(t, saved)
	raw, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	first := layers(t, entries)[0]
	var config string
	for _, e := range entries {
		if strings.HasSuffix(e.hdr.Name, ".json") && !strings.Contains(e.hdr.Name, "/") && e.hdr.Name != "manifest.json" {
			config = e.hdr.Name
		}
	}
	// The outside copies are good: an action that follows a link out of
	// the archive would find a valid layer and config there.
	for _, e := range entries {
		switch e.hdr.Name {
		case first:
			writeBytes(t, h.layer, e.data)
		case config:
			writeBytes(t, h.config, e.data)
		}
	}
	climb := strings.Repeat("../", 24)
	manifestNaming := func(layer, cfg string) []tarEntry {
		return edited(entries, "manifest.json", func(e tarEntry) *tarEntry {
			var m []map[string]any
			_ = json.Unmarshal(e.data, &m)
			m[0]["Layers"].([]any)[0], m[0]["Config"] = layer, cfg
			e.data, _ = json.Marshal(m)
			return &e
		})
	}
	bad := []badArchive{
		{"not a tar", writeBytes(t, at("notatar.tar"), bytes.Repeat([]byte("this is not an image\n"), 100)), "is not a tar archive"},
		{"truncated", writeBytes(t, at("truncated.tar"), raw[:len(raw)/2]), "is truncated"},
		{"layer digest mismatch", writeTar(t, at("mismatch.tar"), edited(entries, first, func(e tarEntry) *tarEntry {
			e.data = bytes.Replace(bytes.Clone(e.data), []byte("hello"), []byte("jello"), 1)
			return &e
		})), "but the config says its diff ID is"},
		{"missing layer", writeTar(t, at("missing.tar"), edited(entries, first, func(tarEntry) *tarEntry { return nil })), "which the archive does not hold"},
		{"compressed, not an image", writeBytes(t, at("notes.tar.gz"), gzipped(t, readAll(t, writeTar(t, at("notes.tar"), []tarEntry{file("notes.txt", []byte("release notes\n"))})))), "not of an image"},
		{"entry name with ..", writeTar(t, at("dotdot.tar"), append([]tarEntry{file(climb+strings.TrimPrefix(h.sentinel, "/"), []byte("escaped"))}, entries...)), "has a \"..\" in its name"},
		{"absolute entry name", writeTar(t, at("absolute.tar"), append([]tarEntry{file(h.sentinel, []byte("escaped"))}, entries...)), "has an absolute name"},
		{"symlink layer pointing outside", writeTar(t, at("symlink.tar"), edited(entries, first, func(e tarEntry) *tarEntry {
			l := link(tar.TypeSymlink, e.hdr.Name, h.layer)
			return &l
		})), "points outside the archive"},
		{"symlink directory, then a file through it", writeTar(t, at("symlinkdir.tar"), append([]tarEntry{
			link(tar.TypeSymlink, "escape", filepath.Dir(h.sentinel)),
			file("escape/"+filepath.Base(h.sentinel), []byte("escaped")),
		}, entries...)), "points outside the archive"},
		{"hardlink layer pointing outside", writeTar(t, at("hardlink.tar"), edited(entries, first, func(e tarEntry) *tarEntry {
			l := link(tar.TypeLink, e.hdr.Name, h.layer)
			return &l
		})), "points outside the archive"},
		{"manifest.json naming files outside", writeTar(t, at("outside.tar"), manifestNaming(climb+strings.TrimPrefix(h.layer, "/"), h.config)), "outside the archive"},
		{"directory, not a layout", notALayout(t), "not an OCI layout"},
		{"decompression bomb", zstdBomb(t, at("bomb.tar.zst")), "a decompression bomb"},
	}
	return append(bad, badLayouts(t, layout, h)...)
}

func readAll(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// zstdBomb is a zstd archive of a few KiB (nix writes zstd with
// compressor = "zstd") whose one layer unpacks to 3 GiB of zeros: past the
// stated limit (1024 times the compressed size, at least 1 GiB).
func zstdBomb(t *testing.T, path string) string {
	t.Helper()
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	zstd := exec.Command("zstd", "-q", "-1", "-c")
	zstd.Stdout = out
	in, err := zstd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := zstd.Start(); err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(in)
	const size = 3 << 30
	err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "0000/layer.tar", Mode: 0o644, Size: size})
	if err == nil {
		_, err = io.CopyN(tw, zeros{}, size)
	}
	if err == nil {
		err = tw.Close()
	}
	_ = in.Close()
	if werr := zstd.Wait(); err != nil || werr != nil {
		t.Fatalf("zstd bomb: %v, %v", err, werr)
	}
	return path
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func notALayout(t *testing.T) string {
	dir := t.TempDir()
	writeBytes(t, filepath.Join(dir, "README"), []byte("no image here\n"))
	return dir
}

// badLayouts are copies of the skopeo layout, each damaged one way.
func badLayouts(t *testing.T, layout string, h hostile) []badArchive {
	t.Helper()
	var index struct{ Manifests []map[string]any }
	if err := json.Unmarshal(readAll(t, filepath.Join(layout, "index.json")), &index); err != nil {
		t.Fatal(err)
	}
	var m struct{ Layers []struct{ Digest string } }
	manifest := strings.TrimPrefix(index.Manifests[0]["digest"].(string), "sha256:")
	if err := json.Unmarshal(readAll(t, filepath.Join(layout, "blobs", "sha256", manifest)), &m); err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join("blobs", "sha256", strings.TrimPrefix(m.Layers[0].Digest, "sha256:"))
	damaged := func(damage func(dir string)) string {
		dir := filepath.Join(t.TempDir(), "layout")
		tool(t, "cp", "-r", layout, dir)
		damage(dir)
		return dir
	}
	return []badArchive{
		{"layout: blob digest mismatch", damaged(func(dir string) {
			b := readAll(t, filepath.Join(dir, blob))
			b[len(b)/2] ^= 0xff
			writeBytes(t, filepath.Join(dir, blob), b)
		}), "does not match its digest"},
		{"layout: missing blob", damaged(func(dir string) {
			if err := os.Remove(filepath.Join(dir, blob)); err != nil {
				t.Fatal(err)
			}
		}), "is missing"},
		{"layout: blob a symlink outside", damaged(func(dir string) {
			writeBytes(t, h.layer+".gz", readAll(t, filepath.Join(dir, blob)))
			if err := os.Remove(filepath.Join(dir, blob)); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(h.layer+".gz", filepath.Join(dir, blob)); err != nil {
				t.Fatal(err)
			}
		}), "leads outside the layout directory"},
		{"layout: index.json naming a path", damaged(func(dir string) {
			index.Manifests[0]["digest"] = "sha256:" + strings.Repeat("../", 8) + "etc/passwd"
			b, _ := json.Marshal(index)
			writeBytes(t, filepath.Join(dir, "index.json"), b)
		}), "a path outside its blobs"},
	}
}

// TestArchiveBadAndHostile: each bad or hostile archive fails in one line
// naming archive, tags nothing, and writes nothing outside the action's
// temporary directory, which it leaves empty.
func TestArchiveBadAndHostile(t *testing.T) {
	r := requireRig(t)
	fixtures := goodArchives(t, r, startDocker(t))
	outside := t.TempDir()
	h := hostile{layer: filepath.Join(outside, "layer.tar"), config: filepath.Join(outside, "config.json"), sentinel: filepath.Join(outside, "sentinel")}
	for _, bad := range badArchives(t, fixtures.saved.path, fixtures.layout.path, h) {
		t.Run(bad.name, func(t *testing.T) {
			before := listing(t, outside)
			archiveBefore := listing(t, filepath.Dir(bad.path))
			image := randomName("it/archive-bad")
			res := runAction(t, archiveInputs(t, r, image, "v1.0.0", bad.path), nil)
			if res.code != 1 {
				t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
			}
			testcheck.OneErrorLine(t, res.stdout, "::error::archive: "+bad.path+": ")
			testcheck.OneErrorLine(t, res.stdout, bad.want)
			t.Logf("%s", firstErrorLine(res.stdout))
			for _, tag := range []string{"v1.0.0", testcheck.SHA} {
				if d, status := r.headDigest(t, image, tag); status != http.StatusNotFound {
					t.Errorf("tag %s: %d %s, want none", tag, status, d)
				}
			}
			if after := listing(t, outside); !slices.Equal(before, after) {
				t.Errorf("outside the archive: %v before, %v after", before, after)
			}
			if after := listing(t, filepath.Dir(bad.path)); !slices.Equal(archiveBefore, after) {
				t.Errorf("beside the archive: %v before, %v after", archiveBefore, after)
			}
			if left := actionLeftovers(t, res.runnerTemp); len(left) > 0 {
				t.Errorf("RUNNER_TEMP holds %v after the run, want nothing of the action's", left)
			}
		})
	}
}

// listing is every path under dir, relative, with each file's size.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if info, err := d.Info(); err == nil && d.Type().IsRegular() {
			rel = fmt.Sprintf("%s (%d bytes)", rel, info.Size())
		}
		out = append(out, rel)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

// actionLeftovers is what the action left in RUNNER_TEMP, beside the
// output and summary files of the runner (the tests keep them there).
func actionLeftovers(t *testing.T, dir string) []string {
	t.Helper()
	var left []string
	for _, p := range listing(t, dir) {
		if name, _, _ := strings.Cut(p, " "); name != "output" && name != "summary" {
			left = append(left, p)
		}
	}
	return left
}

func firstErrorLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "::error") {
			return l
		}
	}
	return ""
}
