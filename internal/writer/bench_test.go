package writer

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/ref"

	"github.com/blumeops/build-push-image/internal/compression"
	"github.com/blumeops/build-push-image/internal/push"
	"github.com/blumeops/build-push-image/internal/testrig"
)

// The benchmarks push a gzipped nix-style docker-archive of fresh
// base64-of-random layers (every layer new: the cold case) to the rig's
// registry, and report where the time went and the peak RSS. make bench
// compares the whole job with skopeo; these are for looking inside.
//
//	rig -- go test ./internal/writer -run '^$' -bench Publish -benchtime 1x

func BenchmarkPublish8x32MiB(b *testing.B) { benchPublish(b, 8, 32<<20) }
func BenchmarkPublish1GiB(b *testing.B)    { benchPublish(b, 8, 128<<20) }

func benchPublish(b *testing.B, layers int, size int64) {
	reg := os.Getenv(testrig.EnvRegistry)
	if reg == "" {
		b.Fatalf("needs the test rig's registry (%s)", testrig.EnvRegistry)
	}
	comp := compression.Compression{}
	if a := os.Getenv("BPI_BENCH_COMPRESSION"); a != "" {
		comp.Algorithm, _ = compression.ParseAlgorithm(a)
	}
	if l := os.Getenv("BPI_BENCH_LEVEL"); l != "" {
		comp.Level, _ = strconv.Atoi(l)
	}
	dir := b.TempDir()
	for i := 0; i < b.N; i++ {
		// BPI_BENCH_ARCHIVE pushes an archive made elsewhere (by gzip -n)
		archive := os.Getenv("BPI_BENCH_ARCHIVE")
		if archive == "" {
			archive = benchArchive(b, dir, uint64(time.Now().UnixNano()), layers, size)
			defer os.Remove(archive)
		}
		repo, err := ref.New(fmt.Sprintf("%s/bench-%d/app", reg, time.Now().UnixNano()))
		if err != nil {
			b.Fatal(err)
		}
		r := push.New(repo, push.WithCredentials(os.Getenv(testrig.EnvUser), os.Getenv(testrig.EnvKey)), push.WithTLS(push.TLSDisabled))
		b.StartTimer()
		start := time.Now()
		_, s, err := Publish(context.Background(), []Registry{r}, Options{Path: archive, Compression: comp, TempDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.Logf("%s: total %s, read %s (waiting on decompression %s, on compression %s, on uploads %s), upload after read %s; %s → %s",
			comp.Algorithm, time.Since(start).Round(time.Millisecond), s.Read.Round(time.Millisecond), s.Decompress.Round(time.Millisecond),
			s.Compress.Round(time.Millisecond), s.Backlog.Round(time.Millisecond), s.Upload.Round(time.Millisecond), human(s.In), human(s.Out))
		_ = r.Close()
	}
	b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MiB")
}

// benchArchive writes a gzipped docker-archive as nix lays it out.
func benchArchive(b *testing.B, dir string, seed uint64, layers int, size int64) string {
	b.StopTimer()
	name := filepath.Join(dir, fmt.Sprintf("result-%d", seed))
	out, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	zw, err := compression.Compression{}.NewWriter(out)
	if err != nil {
		b.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	var names []string
	var ids []digest.Digest
	for i := range layers {
		lt := filepath.Join(dir, "layer.tar")
		d := writeLayer(b, lt, rand.New(rand.NewPCG(seed, uint64(i))), size)
		ids = append(ids, d)
		names = append(names, d.Encoded()+"/layer.tar")
		addFile(b, tw, names[i], lt)
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": ids}})
	addBytes(b, tw, digest.FromBytes(cfg).Encoded()+".json", cfg)
	m, _ := json.Marshal([]dockerEntry{{Config: digest.FromBytes(cfg).Encoded() + ".json", RepoTags: []string{"bench:1"}, Layers: names}})
	addBytes(b, tw, "manifest.json", m)
	closeAll(b, tw, zw, out)
	return name
}

// writeLayer writes a layer tar of one file of base64 text of random
// bytes (compressible to about 3/4) and returns its diff ID.
func writeLayer(b *testing.B, name string, r *rand.Rand, size int64) digest.Digest {
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	d := digest.SHA256.Digester()
	bw := bufio.NewWriterSize(io.MultiWriter(f, d.Hash()), 1<<20)
	tw := tar.NewWriter(bw)
	if err := tw.WriteHeader(&tar.Header{Name: "data.txt", Mode: 0o644, Size: size, ModTime: time.Unix(1, 0)}); err != nil {
		b.Fatal(err)
	}
	enc := base64.NewEncoder(base64.StdEncoding, tw)
	raw := make([]byte, 3<<16)
	for left := size / 4 * 3; left > 0; left -= int64(len(raw)) {
		for i := range raw {
			raw[i] = byte(r.Uint32())
		}
		if _, err := enc.Write(raw[:min(int64(len(raw)), left)]); err != nil {
			b.Fatal(err)
		}
	}
	closeAll(b, enc, tw)
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	closeAll(b, f)
	return d.Digest()
}

// closeAll closes each writer in order, innermost first: each Close
// flushes into the next.
func closeAll(b *testing.B, cs ...io.Closer) {
	b.Helper()
	for _, c := range cs {
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func addFile(b *testing.B, tw *tar.Writer, name, path string) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: st.Size(), ModTime: time.Unix(1, 0)}); err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(tw, f); err != nil {
		b.Fatal(err)
	}
}

func addBytes(b *testing.B, tw *tar.Writer, name string, data []byte) {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(1, 0)}); err != nil {
		b.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		b.Fatal(err)
	}
}

// peakRSS is the process's peak resident set (VmHWM), in bytes.
func peakRSS(b *testing.B) int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
