package writer

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/regclient/regclient/types/ref"

	"github.com/blumeops/build-push-image/internal/compression"
	"github.com/blumeops/build-push-image/internal/push"
	"github.com/blumeops/build-push-image/internal/testrig"
)

// BenchmarkPublishOCILayout256MiB is the cold first release of an OCI
// layout of 4 fresh gzip layers of 64 MiB each unpacked, to the rig's
// registry: what the diff-ID check (each layer unpacked while it is read)
// costs there. BPI_BENCH_OCI=archive pushes the same as an OCI archive.
//
//	rig -- go test ./internal/writer -run '^$' -bench OCILayout -benchtime 1x -count 3
func BenchmarkPublishOCILayout256MiB(b *testing.B) { benchOCI(b, 4, 64<<20) }

func benchOCI(b *testing.B, layers int, size int64) {
	reg := os.Getenv(testrig.EnvRegistry)
	if reg == "" {
		b.Fatalf("needs the test rig's registry (%s)", testrig.EnvRegistry)
	}
	dir := b.TempDir()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		path := benchLayout(b, filepath.Join(dir, fmt.Sprint(i)), uint64(time.Now().UnixNano()), layers, size)
		if os.Getenv("BPI_BENCH_OCI") == "archive" {
			path = tarLayout(b, path)
		}
		repo, err := ref.New(fmt.Sprintf("%s/bench-oci-%d/app", reg, time.Now().UnixNano()))
		if err != nil {
			b.Fatal(err)
		}
		r := push.New(repo, push.WithCredentials(os.Getenv(testrig.EnvUser), os.Getenv(testrig.EnvKey)), push.WithTLS(push.TLSDisabled))
		b.StartTimer()
		start, cpu := time.Now(), cpuTime(b)
		_, s, err := Publish(context.Background(), []Registry{r}, Options{Path: path, TempDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.Logf("%s: total %s, read %s, upload after read %s, CPU %s", s.Format, time.Since(start).Round(time.Millisecond), s.Read.Round(time.Millisecond), s.Upload.Round(time.Millisecond), (cpuTime(b) - cpu).Round(time.Millisecond))
		_ = r.Close()
		_ = os.RemoveAll(filepath.Join(dir, fmt.Sprint(i)))
	}
}

// benchLayout writes an OCI layout directory of fresh gzip layers.
func benchLayout(b *testing.B, dir string, seed uint64, layers int, size int64) string {
	blobs := filepath.Join(dir, "layout", "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		b.Fatal(err)
	}
	var ids []digest.Digest
	var descs []ocispec.Descriptor
	for i := range layers {
		lt := filepath.Join(dir, "layer.tar")
		ids = append(ids, writeLayer(b, lt, rand.New(rand.NewPCG(seed, uint64(i))), size))
		descs = append(descs, gzipBlob(b, lt, blobs))
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": ids}})
	m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: writeBlob(b, blobs, ocispec.MediaTypeImageConfig, cfg), Layers: descs})
	idx, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{writeBlob(b, blobs, ocispec.MediaTypeImageManifest, m)}})
	layout := filepath.Join(dir, "layout")
	for name, data := range map[string][]byte{"index.json": idx, "oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`)} {
		if err := os.WriteFile(filepath.Join(layout, name), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return layout
}

// gzipBlob compresses the layer tar at name into blobs, by digest.
func gzipBlob(b *testing.B, name, blobs string) ocispec.Descriptor {
	in, err := os.Open(name)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	tmp := filepath.Join(blobs, "tmp")
	out, err := os.Create(tmp)
	if err != nil {
		b.Fatal(err)
	}
	d, n := digest.SHA256.Digester(), &counting{ctx: context.Background()}
	zw, err := compression.Compression{}.NewWriter(io.MultiWriter(out, d.Hash(), n))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(zw, in); err != nil {
		b.Fatal(err)
	}
	closeAll(b, zw, out)
	if err := os.Rename(tmp, filepath.Join(blobs, d.Digest().Encoded())); err != nil {
		b.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d.Digest(), Size: n.n}
}

func writeBlob(b *testing.B, blobs, mediaType string, data []byte) ocispec.Descriptor {
	d := digest.FromBytes(data)
	if err := os.WriteFile(filepath.Join(blobs, d.Encoded()), data, 0o644); err != nil {
		b.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
}

// tarLayout writes the layout as one tar beside it (an OCI archive).
func tarLayout(b *testing.B, layout string) string {
	name := layout + ".tar"
	out, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	tw := tar.NewWriter(out)
	err = filepath.Walk(layout, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(layout, p)
		addFile(b, tw, filepath.ToSlash(rel), p)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	closeAll(b, tw, out)
	return name
}

// cpuTime is the CPU time (user and system) the process used so far:
// what the action's own work costs, whatever else the machine runs.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
