// Command nixstream writes a docker-archive to standard output the way
// nixpkgs' streamLayeredImage does (pkgs/build-support/docker/
// stream_layered_image.py), for the tests and the bench: nix cannot build
// here, so this is what its result runs. Written from what that script
// does, not from its code:
//
//   - one layer per entry of store_layers: a tar of /nix, /nix/store and
//     each store path (sorted, absolute names, hard links as files, the
//     configured mtime and owner), made twice: once for its sha256 and
//     size, once into the outer tar as <sha256>/layer.tar;
//   - the customisation layer, a prepared tar whose sha256 is in the
//     checksum file beside it;
//   - the config (<sha256>.json, indented as Python's json.dumps(indent=4))
//     and manifest.json, last.
//
// Usage: nixstream conf.json (the fields the script reads).
package main

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// conf is the script's configuration file.
type conf struct {
	Architecture       string          `json:"architecture"`
	Config             json.RawMessage `json:"config"`
	Created            string          `json:"created"`
	MTime              string          `json:"mtime"`
	RepoTag            string          `json:"repo_tag"`
	UID                int             `json:"uid"`
	GID                int             `json:"gid"`
	UName              string          `json:"uname"`
	GName              string          `json:"gname"`
	StoreDir           string          `json:"store_dir"`
	StoreLayers        [][]string      `json:"store_layers"`
	CustomisationLayer string          `json:"customisation_layer"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "nixstream:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: nixstream conf.json")
	}
	raw, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	var c conf
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	mtime, err := time.Parse(time.RFC3339, c.MTime)
	if err != nil {
		return err
	}
	bw := &counter{w: bufio.NewWriterSize(stdout, 1<<20)}
	out := tar.NewWriter(bw)
	var sums, names []string
	for i, paths := range c.StoreLayers {
		fmt.Fprintln(stderr, "Creating layer", i+1, "from paths:", paths)
		sum, err := storeLayer(out, c, paths, mtime)
		if err != nil {
			return err
		}
		sums, names = append(sums, sum), append(names, sum+"/layer.tar")
	}
	fmt.Fprintln(stderr, "Creating layer", len(sums)+1, "with customisation...")
	sum, err := customisationLayer(out, c.CustomisationLayer, mtime)
	if err != nil {
		return err
	}
	sums, names = append(sums, sum), append(names, sum+"/layer.tar")
	fmt.Fprintln(stderr, "Adding manifests...")
	if err := manifests(out, c, sums, names, mtime); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	// Python's tarfile pads its end to a record of 20 blocks.
	if pad := (record - bw.n%record) % record; pad > 0 {
		if _, err := bw.Write(make([]byte, pad)); err != nil {
			return err
		}
	}
	fmt.Fprintln(stderr, "Done.")
	return bw.w.(*bufio.Writer).Flush()
}

// storeLayer writes the layer of paths: first for its checksum and size,
// then for real.
func storeLayer(out *tar.Writer, c conf, paths []string, mtime time.Time) (string, error) {
	for _, p := range paths {
		if !strings.HasPrefix(p, c.StoreDir) {
			return "", fmt.Errorf("expecting absolute paths from %s, but got %s", c.StoreDir, p)
		}
	}
	h, n := sha256.New(), &counter{w: io.Discard}
	if err := layerTar(io.MultiWriter(h, n), c, paths, mtime); err != nil {
		return "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := out.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: sum + "/layer.tar", Size: n.n, Mode: 0o644, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
		return "", err
	}
	return sum, layerTar(out, c, paths, mtime)
}

// layerTar writes the tar of /nix, /nix/store and the store paths.
func layerTar(w io.Writer, c conf, paths []string, mtime time.Time) error {
	tw := tar.NewWriter(w)
	own := func(h *tar.Header) *tar.Header {
		h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname, h.Format = mtime, c.UID, c.GID, c.UName, c.GName, tar.FormatPAX
		h.AccessTime, h.ChangeTime, h.PAXRecords = time.Time{}, time.Time{}, nil // as tarfile: the same bytes on both passes
		return h
	}
	for _, d := range []string{"/nix", "/nix/store"} {
		if err := tw.WriteHeader(own(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755})); err != nil {
			return err
		}
	}
	for _, p := range paths {
		files, err := walk(p)
		if err != nil {
			return err
		}
		for _, f := range files {
			if err := addFile(tw, f, own); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// walk is the path and, unless it is a symlink, everything under it,
// sorted.
func walk(p string) ([]string, error) {
	st, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	files := []string{p}
	if st.Mode()&fs.ModeSymlink == 0 && st.IsDir() {
		err = filepath.WalkDir(p, func(name string, _ fs.DirEntry, err error) error {
			if name != p {
				files = append(files, name)
			}
			return err
		})
	}
	sort.Strings(files)
	return files, err
}

// addFile adds one file as its own kind: a directory, a symlink, or a
// regular file (hard links too).
func addFile(tw *tar.Writer, name string, own func(*tar.Header) *tar.Header) error {
	st, err := os.Lstat(name)
	if err != nil {
		return err
	}
	link := ""
	if st.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(name); err != nil {
			return err
		}
	}
	h, err := tar.FileInfoHeader(st, link)
	if err != nil {
		return err
	}
	h.Name = name
	if err := tw.WriteHeader(own(h)); err != nil {
		return err
	}
	if h.Typeflag != tar.TypeReg {
		return nil
	}
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	_, err = io.Copy(tw, f)
	return err
}

// customisationLayer adds the prepared layer.tar under its checksum.
func customisationLayer(out *tar.Writer, dir string, mtime time.Time) (string, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "checksum"))
	if err != nil {
		return "", err
	}
	sum := strings.TrimSpace(string(raw))
	if len(sum) != 64 {
		return "", fmt.Errorf("invalid sha256 in %s/checksum", dir)
	}
	f, err := os.Open(filepath.Join(dir, "layer.tar"))
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if err := out.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: sum + "/layer.tar", Size: st.Size(), Mode: int64(st.Mode().Perm()), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
		return "", err
	}
	_, err = io.Copy(out, f)
	return sum, err
}

// manifests writes the config and manifest.json.
func manifests(out *tar.Writer, c conf, sums, names []string, mtime time.Time) error {
	type history struct {
		Created string `json:"created"`
		Comment string `json:"comment"`
	}
	image := struct {
		Created      string          `json:"created"`
		Architecture string          `json:"architecture"`
		OS           string          `json:"os"`
		Config       json.RawMessage `json:"config"`
		RootFS       struct {
			DiffIDs []string `json:"diff_ids"`
			Type    string   `json:"type"`
		} `json:"rootfs"`
		History []history `json:"history"`
	}{Created: c.Created, Architecture: c.Architecture, OS: "linux", Config: c.Config}
	image.RootFS.Type = "layers"
	for i, s := range sums {
		image.RootFS.DiffIDs = append(image.RootFS.DiffIDs, "sha256:"+s)
		paths := "customisation layer"
		if i < len(c.StoreLayers) {
			paths = strings.Join(c.StoreLayers[i], " ")
		}
		image.History = append(image.History, history{Created: c.Created, Comment: "store paths: " + paths})
	}
	config, err := json.MarshalIndent(image, "", "    ")
	if err != nil {
		return err
	}
	configName := fmt.Sprintf("%x.json", sha256.Sum256(config))
	manifest, err := json.MarshalIndent([]map[string]any{{"Config": configName, "RepoTags": []string{c.RepoTag}, "Layers": names}}, "", "    ")
	if err != nil {
		return err
	}
	for _, e := range []struct {
		name string
		data []byte
	}{{configName, config}, {"manifest.json", manifest}} {
		if err := out.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Size: int64(len(e.data)), Mode: 0o644, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := out.Write(e.data); err != nil {
			return err
		}
	}
	return nil
}

// record is tarfile's RECORDSIZE.
const record = 20 * 512

// counter counts what it passes on.
type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
