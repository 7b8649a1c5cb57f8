package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const mib = 1 << 20

// layer is one COPY of a file of random (incompressible) bytes. The same
// seed and size give the same file, hence the same layer, in every image.
type layer struct {
	seed uint64
	size int64
}

func (l layer) file() string { return fmt.Sprintf("r%03d-%dm.bin", l.seed, l.size/mib) }

// imageSpec is an image the bench generates: an optional busybox base
// layer, then one layer per random file.
type imageSpec struct {
	name, title string
	base        bool
	layers      []layer
}

// image is a build context with its Dockerfile.
type image struct {
	name, title, dir string
	bytes            int64
}

func (i *image) dockerfile() string { return filepath.Join(i.dir, "Dockerfile") }

func layers(seed uint64, n int, size int64) []layer {
	out := make([]layer, n)
	for i := range out {
		out[i] = layer{seed: seed + uint64(i), size: size}
	}
	return out
}

// matrixImages share the base and two 32 MiB layers and differ in the last.
const matrixImages = 4

func matrixSpec(i int) imageSpec {
	return imageSpec{
		name: fmt.Sprintf("m%d", i), title: "matrix image (busybox + 2 × 32 MiB shared + 1 × 32 MiB own)", base: true,
		layers: append(layers(50, 2, 32*mib), layers(60+uint64(i), 1, 32*mib)...),
	}
}

var imageSpecs = append([]imageSpec{
	{name: "x8", title: "8 × 32 MiB + busybox", base: true, layers: layers(1, 8, 32*mib)},
	{name: "x1", title: "1 × 32 MiB", layers: layers(20, 1, 32*mib)},
	{name: "big", title: "16 × 64 MiB + busybox (1 GiB)", base: true, layers: layers(100, 16, 64*mib)},
}, matrixSpecs()...)

func matrixSpecs() []imageSpec {
	out := make([]imageSpec, matrixImages)
	for i := range out {
		out[i] = matrixSpec(i)
	}
	return out
}

// fixedTime is every generated file's mtime, so equal files give equal
// layers whichever context they are copied from.
var fixedTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// makeImages generates each random file once into a pool and hard-links
// it into the build contexts that use it; testdata/hello is used as is.
func (b *bench) makeImages(context.Context) error {
	pool := filepath.Join(b.work, "pool")
	if err := os.MkdirAll(pool, 0o755); err != nil {
		return fmt.Errorf("pool: %w", err)
	}
	start := time.Now()
	for _, spec := range imageSpecs {
		img, err := b.makeImage(pool, spec)
		if err != nil {
			return fmt.Errorf("image %s: %w", spec.name, err)
		}
		b.images[spec.name] = img
	}
	logf("generated the build contexts in %s", time.Since(start).Round(time.Millisecond))
	b.images["hello"] = &image{name: "hello", title: "testdata/hello", dir: filepath.Join(b.root, "testdata", "hello")}
	return nil
}

func (b *bench) makeImage(pool string, spec imageSpec) (*image, error) {
	img := &image{name: spec.name, title: spec.title, dir: filepath.Join(b.work, "ctx", spec.name)}
	if err := os.MkdirAll(img.dir, 0o755); err != nil {
		return nil, err
	}
	var df strings.Builder
	df.WriteString("FROM scratch\n")
	if spec.base {
		if err := linkPooled(pool, img.dir, "busybox", copyBusybox); err != nil {
			return nil, err
		}
		df.WriteString("COPY busybox /bin/busybox\n")
	}
	for _, l := range spec.layers {
		if err := linkPooled(pool, img.dir, l.file(), l.generate); err != nil {
			return nil, err
		}
		fmt.Fprintf(&df, "COPY %s /data/%s\n", l.file(), l.file())
		img.bytes += l.size
	}
	return img, os.WriteFile(img.dockerfile(), []byte(df.String()), 0o644)
}

// linkPooled makes pool/name with create unless it exists, and links it
// into dir.
func linkPooled(pool, dir, name string, create func(io.Writer) error) error {
	src := filepath.Join(pool, name)
	if _, err := os.Stat(src); os.IsNotExist(err) {
		if err := writeWith(src, create); err != nil {
			return err
		}
	}
	return os.Link(src, filepath.Join(dir, name))
}

func writeWith(path string, create func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, mib)
	err = create(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Chtimes(path, fixedTime, fixedTime)
}

// generate writes the layer's bytes from ChaCha8, which runs at GB/s.
func (l layer) generate(w io.Writer) error {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], l.seed)
	_, err := io.CopyN(w, rand.NewChaCha8(seed), l.size)
	return err
}

func copyBusybox(w io.Writer) error {
	f, err := os.Open("/bin/busybox")
	if err != nil {
		return fmt.Errorf("busybox (apt-get install busybox-static): %w", err)
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}
