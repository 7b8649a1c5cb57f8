package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The nix-like program is what the floor of issue 32 times: these check
// that it writes what nixpkgs' script writes (the layout of
// docs/benchmarks.md and ../shared/notes/user-workflows.md), so that the
// action is measured on the users' input.

// testStream is a store of two paths (one a package's files, one a
// single file) and a customisation layer under dir, and its conf.
func testStream(t *testing.T, dir string) (conf string, paths []string) {
	t.Helper()
	paths = []string{filepath.Join(dir, "aaaa-pkg"), filepath.Join(dir, "bbbb-one")}
	if err := writeStorePath(paths[0], nixLayer{seed: 7, size: 3 * mib}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(paths[1], 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(paths[1], "data"), []byte("one file"), 0o444); err != nil {
		t.Fatal(err)
	}
	custom := filepath.Join(dir, "cccc-customisation-layer")
	layer := []byte("a prepared layer")
	sum := sha256.Sum256(layer)
	if err := os.MkdirAll(custom, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"layer.tar": layer, "checksum": []byte(hex.EncodeToString(sum[:]) + "\n")} {
		if err := os.WriteFile(filepath.Join(custom, name), data, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "created": "1970-01-01T00:00:01+00:00", "mtime": "1970-01-01T00:00:01+00:00",
		"config": map[string]any{"Env": []string{"PATH=/bin"}}, "repo_tag": "bench/app:nix",
		"uid": 0, "gid": 0, "uname": "root", "gname": "root", "store_dir": dir,
		"store_layers": [][]string{{paths[0]}, {paths[1]}}, "customisation_layer": custom,
	})
	conf = filepath.Join(dir, "conf.json")
	if err := os.WriteFile(conf, raw, 0o444); err != nil {
		t.Fatal(err)
	}
	return conf, paths
}

// runNixLike runs the program on conf; it returns stdout and the lines
// of stderr.
func runNixLike(t *testing.T, conf string, env ...string) ([]byte, []string) {
	t.Helper()
	prog, err := installNixLike(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(prog, conf)
	cmd.Env, cmd.Stdout, cmd.Stderr = append(os.Environ(), env...), &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("nixstream.py: %v\n%s", err, errOut.String())
	}
	return out.Bytes(), strings.Split(strings.TrimSpace(errOut.String()), "\n")
}

type entry struct {
	hdr  *tar.Header
	data []byte
}

func readTar(t *testing.T, raw []byte) []entry {
	t.Helper()
	var out []entry
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{h, data})
	}
}

func TestNixLikeStreamLayout(t *testing.T) {
	dir := t.TempDir()
	conf, paths := testStream(t, dir)
	raw, _ := runNixLike(t, conf)
	entries := readTar(t, raw)
	if len(entries) != 5 || entries[4].hdr.Name != "manifest.json" {
		t.Fatalf("want 3 layers, the config and manifest.json last, got %d entries", len(entries))
	}
	var diffIDs []string
	for i, e := range entries[:3] {
		sum := sha256.Sum256(e.data)
		if want := hex.EncodeToString(sum[:]) + "/layer.tar"; e.hdr.Name != want || e.hdr.ModTime.Unix() != 1 {
			t.Errorf("layer %d is %s (mtime %d), want %s: named by its sha256, mtime 1", i+1, e.hdr.Name, e.hdr.ModTime.Unix(), want)
		}
		diffIDs = append(diffIDs, "sha256:"+strings.TrimSuffix(e.hdr.Name, "/layer.tar"))
	}
	for i, p := range paths {
		checkLayer(t, entries[i].data, p)
	}
	checkManifests(t, entries[3], entries[4], diffIDs)
}

// checkLayer: /nix and /nix/store first, then every file of the store
// path in name order (Python sorts paths by their parts: WalkDir's
// order), absolute, root's, mtime 1, regular files with their bytes.
func checkLayer(t *testing.T, layer []byte, path string) {
	t.Helper()
	entries := readTar(t, layer)
	var want []string
	_ = filepath.WalkDir(path, func(name string, _ os.DirEntry, err error) error {
		want = append(want, name)
		return err
	})
	want = append([]string{"/nix", "/nix/store"}, want...)
	if len(entries) != len(want) {
		t.Fatalf("layer of %s: %d entries, want %d", path, len(entries), len(want))
	}
	for i, e := range entries {
		h := e.hdr
		if strings.TrimSuffix(h.Name, "/") != want[i] || h.Uid != 0 || h.Uname != "root" || h.ModTime.Unix() != 1 {
			t.Fatalf("entry %d: %s uid %d %s mtime %d, want %s root's at mtime 1", i, h.Name, h.Uid, h.Uname, h.ModTime.Unix(), want[i])
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if disk, _ := os.ReadFile(h.Name); !bytes.Equal(disk, e.data) {
			t.Fatalf("%s: the layer's bytes are not the file's", h.Name)
		}
	}
}

// checkManifests: the config is named by its sha256 and lists the
// layers' diff IDs; manifest.json names it and the layers in order.
func checkManifests(t *testing.T, config, manifest entry, diffIDs []string) {
	t.Helper()
	sum := sha256.Sum256(config.data)
	if want := hex.EncodeToString(sum[:]) + ".json"; config.hdr.Name != want {
		t.Errorf("config is %s, want %s", config.hdr.Name, want)
	}
	var image struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	var m []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(config.data, &image); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(manifest.data, &m); err != nil || len(m) != 1 {
		t.Fatalf("manifest.json: %v, %d images", err, len(m))
	}
	if fmt.Sprint(image.RootFS.DiffIDs) != fmt.Sprint(diffIDs) || m[0].Config != config.hdr.Name || len(m[0].Layers) != len(diffIDs) {
		t.Errorf("config's diff IDs %v, manifest %+v; want the layers %v", image.RootFS.DiffIDs, m[0], diffIDs)
	}
}

// NIXSTREAM_PASSES adds lines to stderr only, and the floor's phases are
// read from them; so is the program's span, from its own lines.
func TestNixLikeStreamPasses(t *testing.T) {
	conf, _ := testStream(t, t.TempDir())
	plain, _ := runNixLike(t, conf)
	timed, lines := runNixLike(t, conf, "NIXSTREAM_PASSES=1")
	if !bytes.Equal(plain, timed) {
		t.Fatal("NIXSTREAM_PASSES changed the output")
	}
	var stamped []line
	for i, l := range lines {
		stamped = append(stamped, line{at: time.Duration(i+1) * time.Second, text: l})
	}
	// 1 s per line: start until layer 1's line, each pass one line apart.
	got := floorPhases(stamped, 10*time.Second)
	want := []phase{{phaseFloorStart, time.Second}, {phaseFloorHash, 2 * time.Second}, {phaseFloorWrite, 2 * time.Second}, {phaseFloorRest, 5 * time.Second}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("phases of %q:\n got %v\nwant %v", lines, got, want)
	}
	if floorPhases(stamped[:1], time.Second) != nil {
		t.Error("phases of a program that does not say when its passes end")
	}
	if span, ok := programSpan(stamped); !ok || span != 5*time.Second {
		t.Errorf("the program's span from layer 1 to its manifests: %s (%t), want 5s", span, ok)
	}
	if _, ok := programSpan(stamped[:5]); ok {
		t.Error("a span for a program that never reached its manifests")
	}
}
