package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/klauspost/pgzip"
)

// The archives the archive cases push: laid out as nix's
// dockerTools.buildLayeredImage writes them (one uncompressed tar per
// store path, named by its diff ID, first and in order; the config; then
// manifest.json last), gzipped without a name or time (gzip -n). Each
// layer is one file made of 64 KiB blocks of this machine's programs and
// libraries (/usr/bin, /usr/lib), each block from a place the layer's seed
// picks and led by 16 bytes of the seed: compressible as binaries are
// (gzip to about 40 %), and new bytes for every new seed. (Base64 of
// random bytes, the other usual choice, has no repeats for LZ77 to find:
// klauspost's gzip and zstd, which the action, skopeo and BuildKit use,
// then store it as it is.)

// nixLayer is one store path: a file of size bytes from seed; text
// layers are base64 of random bytes instead (see textLayers).
type nixLayer struct {
	seed uint64
	size int64
	text bool
}

// nixLayers are n layers of size bytes, seeds from seed on.
func nixLayers(seed uint64, n int, size int64) []nixLayer {
	out := make([]nixLayer, n)
	for i := range out {
		out[i] = nixLayer{seed: seed + uint64(i), size: size}
	}
	return out
}

// textLayers are n layers of size bytes of base64 text of random bytes,
// seeds from seed on: text-like content (docs, data, generated sources),
// which LZ77 finds no repeats in but Huffman coding shrinks to 3/4 (pigz
// -6 does; klauspost's gzip levels 1-6 store it as it is).
func textLayers(seed uint64, n int, size int64) []nixLayer {
	out := nixLayers(seed, n, size)
	for i := range out {
		out[i].text = true
	}
	return out
}

// storePath is the layer's directory, as nix names one.
func (l nixLayer) storePath() string {
	return fmt.Sprintf("nix/store/%032x-bench-%d", l.seed, l.seed)
}

// content is the layer's file.
func (l nixLayer) content() []byte {
	c := loadCorpus()
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], l.seed)
	if l.text {
		raw := make([]byte, l.size*3/4+3)
		_, _ = rand.NewChaCha8(seed).Read(raw)
		return []byte(base64.StdEncoding.EncodeToString(raw)[:l.size])
	}
	rng := rand.New(rand.NewChaCha8(seed))
	out := make([]byte, 0, l.size)
	for int64(len(out)) < l.size {
		var head [16]byte
		binary.LittleEndian.PutUint64(head[:], l.seed)
		binary.LittleEndian.PutUint64(head[8:], rng.Uint64())
		at := rng.IntN(len(c) - corpusBlock)
		out = append(append(out, head[:]...), c[at:at+corpusBlock-len(head)]...)
	}
	return out[:l.size]
}

const corpusBlock = 64 << 10

var (
	corpusOnce sync.Once
	corpus     []byte
)

// loadCorpus reads up to 64 MiB of the machine's programs and libraries,
// in name order.
func loadCorpus() []byte {
	corpusOnce.Do(func() {
		for _, dir := range []string{"/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/lib"} {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if len(corpus) >= 64*mib {
					return
				}
				if e.Type().IsRegular() {
					b, err := os.ReadFile(filepath.Join(dir, e.Name()))
					if err == nil {
						corpus = append(corpus, b...)
					}
				}
			}
		}
	})
	if len(corpus) < 4*corpusBlock {
		panic("bench: too few programs in /usr/bin and /usr/lib to make layers of")
	}
	return corpus
}

// tarball is the layer as nix writes it: its directories and the file,
// fixed times, root owned.
func (l nixLayer) tarball() []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	data := l.content()
	dir := ""
	for _, part := range strings.Split(l.storePath(), "/") {
		dir += part + "/"
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o555, ModTime: fixedTime})
	}
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: dir + "data", Mode: 0o444, Size: int64(len(data)), ModTime: fixedTime})
	_, _ = tw.Write(data)
	_ = tw.Close()
	return buf.Bytes()
}

// writeNixArchive writes the gzipped docker-archive of layers to path; a
// layer is in memory only while it is written. Text layers are gzipped by
// pigz -6, as buildLayeredImage does: klauspost's pgzip would store their
// text, and reading the archive would cost nothing.
func writeNixArchive(path string, layers []nixLayer) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, mib)
	var zw io.WriteCloser = pgzip.NewWriter(bw) // no name, no time: gzip -n
	if len(layers) > 0 && layers[0].text {
		if zw, err = newPigz(bw); err != nil {
			return err
		}
	}
	tw := tar.NewWriter(zw)
	var diffIDs, names []string
	for _, l := range layers {
		layer := l.tarball()
		sum := sha256.Sum256(layer)
		name := hex.EncodeToString(sum[:]) + "/layer.tar"
		diffIDs, names = append(diffIDs, "sha256:"+hex.EncodeToString(sum[:])), append(names, name)
		if err := writeEntry(tw, name, layer); err != nil {
			return err
		}
	}
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:01Z",
		"config": map[string]any{"Env": []string{"PATH=/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	configName := fmt.Sprintf("%x.json", sha256.Sum256(config))
	manifest, _ := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{"bench/app:latest"}, "Layers": names}})
	for _, e := range []struct {
		name string
		data []byte
	}{{configName, config}, {"manifest.json", manifest}} {
		if err := writeEntry(tw, e.name, e.data); err != nil {
			return err
		}
	}
	for _, c := range []io.Closer{tw, zw} {
		if err := c.Close(); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// pigz is `pigz -6 -n` compressing into a writer; Close waits for it.
type pigz struct {
	io.WriteCloser // its standard input
	cmd            *exec.Cmd
}

func newPigz(w io.Writer) (*pigz, error) {
	cmd := exec.Command("pigz", "-6", "-n")
	cmd.Stdout, cmd.Stderr = w, os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pigz: %w", err)
	}
	return &pigz{in, cmd}, nil
}

func (p *pigz) Close() error {
	if err := p.WriteCloser.Close(); err != nil {
		return err
	}
	if err := p.cmd.Wait(); err != nil {
		return fmt.Errorf("pigz: %w", err)
	}
	return nil
}

func writeEntry(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o444, Size: int64(len(data)), ModTime: fixedTime}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// writeNixContext writes the same layers' files as a build context with a
// Dockerfile that COPYs each into a layer of its own, for BuildKit's push
// of the same image.
func writeNixContext(dir string, layers []nixLayer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var df strings.Builder
	df.WriteString("FROM scratch\n")
	for i, l := range layers {
		name := fmt.Sprintf("layer%d", i)
		if err := os.WriteFile(filepath.Join(dir, name), l.content(), 0o444); err != nil {
			return err
		}
		fmt.Fprintf(&df, "COPY %s /%s/data\n", name, l.storePath())
	}
	return os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df.String()), 0o644)
}
