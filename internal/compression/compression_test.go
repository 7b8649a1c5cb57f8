package compression

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"runtime"
	"strings"
	"testing"
)

func TestParseAlgorithm(t *testing.T) {
	for in, want := range map[string]Algorithm{"": Gzip, "gzip": Gzip, "zstd": Zstd, "uncompressed": Uncompressed} {
		if got, err := ParseAlgorithm(in); err != nil || got != want {
			t.Errorf("ParseAlgorithm(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"GZIP", "xz", "estargz", " gzip"} {
		if _, err := ParseAlgorithm(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseAlgorithm(%q): %v, want ErrInvalid", in, err)
		}
	}
}

func TestParseLevel(t *testing.T) {
	for _, tc := range []struct {
		a    Algorithm
		in   string
		want int
		ok   bool
	}{
		{Gzip, "", 0, true}, {Gzip, "1", 1, true}, {Gzip, "9", 9, true},
		{Gzip, "0", 0, false}, {Gzip, "10", 0, false}, {Gzip, "-1", 0, false}, {Gzip, "fast", 0, false},
		{Zstd, "", 0, true}, {Zstd, "1", 1, true}, {Zstd, "22", 22, true}, {Zstd, "23", 0, false},
		{Uncompressed, "", 0, true}, {Uncompressed, "1", 0, false},
	} {
		got, err := ParseLevel(tc.a, tc.in)
		if tc.ok != (err == nil) || got != tc.want || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("ParseLevel(%s, %q) = %d, %v; want %d, ok %v", tc.a, tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestMediaTypesAndExporterAttrs(t *testing.T) {
	for _, tc := range []struct {
		c     Compression
		media string
		attrs string
	}{
		{Compression{}, "application/vnd.oci.image.layer.v1.tar+gzip", "map[compression:gzip oci-mediatypes:true]"},
		{Compression{Algorithm: Zstd, Level: 3, Force: true}, "application/vnd.oci.image.layer.v1.tar+zstd",
			"map[compression:zstd compression-level:3 force-compression:true oci-mediatypes:true]"},
		{Compression{Algorithm: Uncompressed}, "application/vnd.oci.image.layer.v1.tar", "map[compression:uncompressed oci-mediatypes:true]"},
	} {
		if got := tc.c.MediaType(); got != tc.media {
			t.Errorf("%+v: media type %s, want %s", tc.c, got, tc.media)
		}
		if got := fmt.Sprint(tc.c.ExporterAttrs()); got != tc.attrs {
			t.Errorf("%+v: attrs %s, want %s", tc.c, got, tc.attrs)
		}
	}
}

// An empty level is gzip's BestSpeed for the layers the action compresses
// (the writer, the log) and no level at all for BuildKit (tested above:
// its attrs carry no compression-level).
func TestDefaultLevels(t *testing.T) {
	for c, want := range map[Compression]struct {
		level int
		name  string
	}{
		{}:                          {1, "gzip level 1"},
		{Level: 6}:                  {6, "gzip level 6"},
		{Algorithm: Zstd}:           {0, "zstd"},
		{Algorithm: Zstd, Level: 9}: {9, "zstd level 9"},
		{Algorithm: Uncompressed}:   {0, "uncompressed"},
	} {
		if got := c.EffectiveLevel(); got != want.level || c.String() != want.name {
			t.Errorf("%#v: level %d, %q; want %d, %q", c, got, c.String(), want.level, want.name)
		}
	}
}

func TestNewWriterRefusesWhatTheParsersRefuse(t *testing.T) {
	for _, c := range []Compression{{Algorithm: Gzip, Level: 10}, {Algorithm: Uncompressed, Level: 1}, {Algorithm: 7}} {
		if _, err := c.NewWriter(io.Discard); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", c, err)
		}
	}
}

// layer is 3.5 MiB of text-like bytes: several gzip blocks, some repeats.
func layer() []byte {
	r := rand.New(rand.NewSource(17))
	words := strings.Fields("the quick brown fox jumps over a lazy dog nix store path lib bin share")
	var b bytes.Buffer
	for b.Len() < 7<<19 {
		b.WriteString(words[r.Intn(len(words))])
		b.WriteByte(" \n"[r.Intn(2)])
		if r.Intn(50) == 0 {
			fmt.Fprintf(&b, "%x", r.Uint64())
		}
	}
	return b.Bytes()
}

// compress writes in through c in writes of chunk bytes with procs cores.
func compress(t *testing.T, c Compression, in []byte, chunk, procs int) []byte {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	var out bytes.Buffer
	w, err := c.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	for rest := in; len(rest) > 0; {
		n := min(chunk, len(rest))
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// The same bytes give the same output however they are written and on
// however many cores, and the output is what these library versions
// always wrote: a change of it (a klauspost/compress upgrade) changes the
// digest of every image pushed from an archive, so it must be seen.
// `go test -tags noasm` passes with the same digests: the pure-Go paths
// that CPUs without klauspost's amd64 assembly take write the same bytes.
func TestWritersAreDeterministic(t *testing.T) {
	in := layer()
	golden := map[Compression]string{
		{}:                          "8235c02b12cbf505c8aa990ac4b7fad53d94d08b0407327c5cdf04ed0122a65e", // = level 1
		{Level: 1}:                  "8235c02b12cbf505c8aa990ac4b7fad53d94d08b0407327c5cdf04ed0122a65e",
		{Level: 5}:                  "ac3d7553e160854c336558782e7e5087f26e5a0e95cab11073c111476bc33599", // klauspost's default, ours before DefaultGzipLevel
		{Algorithm: Zstd}:           "a79bf3ac0c1a9cbdcdefa0f3966a31776872260e76de883a8163ec7bb2e014ec",
		{Algorithm: Zstd, Level: 9}: "6dce4230b158f243f677e9218c64ed923f106b5129278a23bf7a2272ff636a54",
		{Algorithm: Uncompressed}:   fmt.Sprintf("%x", sha256.Sum256(in)),
	}
	for c, want := range golden {
		first := compress(t, c, in, 1<<20, 1)
		for _, run := range []struct{ chunk, procs int }{{4096, 2}, {1000003, 4}, {32 << 10, 8}} {
			if again := compress(t, c, in, run.chunk, run.procs); !bytes.Equal(first, again) {
				t.Errorf("%+v: %d-byte writes on %d cores gave other bytes", c, run.chunk, run.procs)
			}
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(first)); got != want {
			t.Errorf("%+v: sha256 %s, want %s", c, got, want)
		}
		var again bytes.Buffer
		w, err := c.NewWriter(io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("another layer first")); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		w.Reset(&again)
		if _, err := w.Write(in); err != nil || w.Close() != nil || !bytes.Equal(again.Bytes(), first) {
			t.Errorf("%+v: a Reset writer gave other bytes (%v)", c, err)
		}
		back := decompress(t, first)
		if !bytes.Equal(back, in) {
			t.Errorf("%+v: round trip lost bytes (%d of %d)", c, len(back), len(in))
		}
	}
}

func decompress(t *testing.T, b []byte) []byte {
	t.Helper()
	r, _, err := NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNewReaderDetectsFromContent(t *testing.T) {
	in := []byte("plain tar bytes, or anything else")
	for _, c := range []Compression{{}, {Algorithm: Zstd}, {Algorithm: Uncompressed}} {
		packed := compress(t, c, in, 7, 2)
		r, got, err := NewReader(bytes.NewReader(packed))
		if err != nil || got != c.Algorithm {
			t.Fatalf("%+v: detected %v, %v", c, got, err)
		}
		out, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(out, in) {
			t.Errorf("%+v: read %q, %v", c, out, err)
		}
	}
	if _, a, err := NewReader(bytes.NewReader(nil)); err != nil || a != Uncompressed {
		t.Errorf("empty stream: %v, %v", a, err)
	}
	r, _, err := NewReader(bytes.NewReader(append(append([]byte{}, gzipMagic...), "not gzip"...)))
	if err == nil {
		_, err = io.ReadAll(r)
	}
	if err == nil {
		t.Error("a broken gzip stream read without error")
	}
}
