package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// nixStoreImage writes what nix-build leaves for a buildLayeredImage (read
// in nixpkgs' stream_layered_image.py, not copied): a gzipped
// docker-archive in the nix store, one layer per store path (its
// directories and files, fixed times), each as <diff ID>/layer.tar,
// written first and in order, then the config as <sha256>.json, then
// manifest.json last; returned is a symlink to it named result. paths are
// store path names (without /nix/store/) and their one file's content.
// The same paths give the same bytes.
func nixStoreImage(t *testing.T, name string, paths ...[2]string) string {
	t.Helper()
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestSpeed) // no name, no time: pigz -nT
	tw := tar.NewWriter(zw)
	var diffIDs, layers []string
	for _, p := range paths {
		layer := storeLayer(p[0], p[1])
		sum := sha256.Sum256(layer)
		diffIDs, layers = append(diffIDs, "sha256:"+hex.EncodeToString(sum[:])), append(layers, hex.EncodeToString(sum[:])+"/layer.tar")
		writeTarFile(t, tw, layers[len(layers)-1], layer)
	}
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:01Z",
		"config": map[string]any{"Cmd": []string{"/nix/store/" + paths[0][0] + "/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	configName := fmt.Sprintf("%x.json", sha256.Sum256(config))
	writeTarFile(t, tw, configName, config)
	manifest, _ := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{name + ":nix"}, "Layers": layers}})
	writeTarFile(t, tw, "manifest.json", manifest)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	storeDir := "/nix/store"
	if err := os.MkdirAll(storeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	hash := make([]byte, 16)
	_, _ = rand.Read(hash)
	file := filepath.Join(storeDir, hex.EncodeToString(hash)+"-docker-image-"+name+".tar.gz")
	if err := os.WriteFile(file, out.Bytes(), 0o444); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(file) })
	result := filepath.Join(t.TempDir(), "result")
	if err := os.Symlink(file, result); err != nil {
		t.Fatal(err)
	}
	return result
}

// storeLayer is one store path's layer: nix/store/<path>/ and its file.
func storeLayer(path, content string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(1, 0)
	for _, dir := range []string{"nix/", "nix/store/", "nix/store/" + path + "/"} {
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o555, ModTime: epoch, Format: tar.FormatGNU})
	}
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "nix/store/" + path + "/bin", Mode: 0o555, Size: int64(len(content)), ModTime: epoch, Format: tar.FormatGNU})
	_, _ = tw.Write([]byte(content))
	_ = tw.Close()
	return buf.Bytes()
}

func writeTarFile(t *testing.T, tw *tar.Writer, name string, data []byte) {
	t.Helper()
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o444, Size: int64(len(data)), ModTime: time.Unix(1, 0), Format: tar.FormatGNU}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		t.Fatal(err)
	}
}
