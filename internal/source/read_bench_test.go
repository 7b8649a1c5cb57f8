package source

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/blumeops/build-push-image/internal/source/sourcetest"
)

// The benchmarks read a nix-like stream (8 layers of 24 MiB, each of
// files of some 46 KiB) through a pipe, as the action reads a program's
// output: the action's own CPU on the stream path, for a profile
// (-cpuprofile).
//
//	go test ./internal/source -run '^$' -bench ReadStream -benchtime 3x -cpuprofile cpu.out

func BenchmarkReadStreamFirstRelease(b *testing.B) { benchReadStream(b, nil) }
func BenchmarkReadStreamNextRelease(b *testing.B)  { benchReadStream(b, reuseAll{}) }

// reuseAll holds every layer, proven: a next release with the proof store
// warm.
type reuseAll struct{}

func (reuseAll) Claimed(digest.Digest) bool { return true }
func (reuseAll) Reuse(digest.Digest) bool   { return true }
func (reuseAll) Proven(digest.Digest) bool  { return true }

// pipeStream is a pipe's read end, finished at once.
type pipeStream struct{ *os.File }

func (pipeStream) Finish(error) error { return nil }

func benchReadStream(b *testing.B, reuser Reuser) {
	archive := nixLikeArchive(b, 8, 24<<20)
	b.SetBytes(int64(len(archive)))
	b.ResetTimer()
	for range b.N {
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			_, _ = io.Copy(w, bytes.NewReader(archive))
			_ = w.Close()
		}()
		img, err := Open(context.Background(), Options{Path: "result", Stream: pipeStream{r}, Dir: b.TempDir(), Reuser: reuser})
		_ = r.Close()
		if err != nil {
			b.Fatal(err)
		}
		if len(img.Layers) != 8 {
			b.Fatalf("%d layers", len(img.Layers))
		}
	}
}

// nixLikeArchive is a nix-like docker-archive of layers of compressible
// files (base64 of random bytes) of 1 to 92 KiB.
func nixLikeArchive(b *testing.B, layers, size int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var ls [][]byte
	for i := range layers {
		var es []sourcetest.Entry
		for n, total := 0, 0; total < size; n++ {
			raw := make([]byte, 768+rng.IntN(69<<10))
			for j := range raw {
				raw[j] = byte(rng.Uint32())
			}
			data := []byte(base64.StdEncoding.EncodeToString(raw))
			es = append(es, sourcetest.Entry{Name: fmt.Sprintf("nix/store/path-%d/lib/file-%d", i, n), Data: data})
			total += len(data)
		}
		ls = append(ls, sourcetest.Tar(b, es...))
	}
	return sourcetest.NixArchive(b, "app:1", ls...)
}
