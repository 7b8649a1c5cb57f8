package writer

import (
	"archive/tar"
	"context"
	"fmt"
	"slices"
	"testing"
)

func TestNewest(t *testing.T) {
	all := []string{"latest", "1111111", "v2", "v3.1", "v1.2.0", "v1.10.0", "v1.9.0-nix", "v1.10.0-nix", "v2.0.0-rc.1-nix", "v1.2.0-abc1234-nix", "sha-nix", "-nix", "1.11.0-nix"}
	if got := newest(all, "-nix", 3); !slices.Equal(got, []string{"v2.0.0-rc.1-nix", "1.11.0-nix", "v1.10.0-nix"}) {
		t.Errorf("-nix: %v", got)
	}
	if got := newest(all, "", 2); !slices.Equal(got, []string{"v2.0.0-rc.1-nix", "1.11.0-nix"}) {
		t.Errorf("no suffix: %v", got)
	}
}

// TestLast: without semantic versions, the last tags as the registry
// lists them, without signatures' and attestations' tags.
func TestLast(t *testing.T) {
	all := []string{"2026.11.30", "2026.12.01-nix", "2026.12.07", "2026.12.07-nix", "sha256-abc.sig", "sha256-abc", "x.att", "y.sbom"}
	if got := last(all, "", 2); !slices.Equal(got, []string{"2026.12.07-nix", "2026.12.07"}) {
		t.Errorf("no suffix: %v", got)
	}
	if got := last(all, "-nix", 3); !slices.Equal(got, []string{"2026.12.07-nix", "2026.12.01-nix"}) {
		t.Errorf("-nix: %v", got)
	}
}

func TestSecondReleaseReusesLayersInEveryRepository(t *testing.T) {
	var layers [][]byte
	for i := range 4 {
		layers = append(layers, layer(t, fmt.Sprintf("nix/store/%d", i)))
	}
	first := writeFile(t, "1.tar.gz", compressDefault(t, nixArchive(t, "app:1", layers[:3]...)))
	second := writeFile(t, "2.tar.gz", compressDefault(t, nixArchive(t, "app:2", layers[0], layers[1], layers[3])))
	a, b := newMem(), newMem()
	d1, _, err := publish(t, first, Options{}, a)
	if err != nil {
		t.Fatal(err)
	}
	a.tag(d1, "v1.0.0")
	ctx := context.Background()
	known, err := Learn(ctx, []Registry{a, b}, []string{"v1.1.0", "sha-1"}, "", t.Logf)
	if err != nil || known.Len() != 3 || !slices.Equal(known.From, []string{"v1.0.0"}) {
		t.Fatalf("learnt %d layers from %v (%v), want 3 from the newest release", known.Len(), known.From, err)
	}
	a.puts = 0
	d2, stats, err := publish(t, second, Options{Known: known}, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Compressed != 1 || stats.Reused != 2 || a.puts != 2 {
		t.Errorf("stats %+v, %d uploads to the first repository; want 1 layer compressed and uploaded with the config", stats, a.puts)
	}
	for _, reg := range []*memRegistry{a, b} {
		pushed(t, reg, d2, configOf(t, layers[0], layers[1], layers[3]), layers[0], layers[1], layers[3])
	}
	// a re-run reproduces the digest from what the first run pushed
	a.tag(d2, "v1.1.0")
	again, err := Learn(ctx, []Registry{a, b}, []string{"v1.1.0"}, "", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	d3, stats, err := publish(t, second, Options{Known: again, CompareOnly: true}, a, b)
	if err != nil || d3 != d2 || stats.Compressed != 0 {
		t.Errorf("re-run: %s %+v %v, want %s with nothing compressed", d3, stats, err, d2)
	}
	// and a fresh runner without the first release's layers known
	// compresses to the same bytes
	d4, _, err := publish(t, second, Options{CompareOnly: true})
	if err != nil || d4 != d2 {
		t.Errorf("fresh: %s %v, want %s", d4, err, d2)
	}
}

func compressDefault(t *testing.T, b []byte) []byte {
	return compress(t, defaultCompression, b)
}

// skopeo's docker-archive links <id>/layer.tar to ../<diff ID>.tar; a
// layer the repository holds is only hashed, never compressed.
func TestSkopeoLayoutKnownLayerOnlyHashed(t *testing.T) {
	l1, l2 := layer(t, "a"), layer(t, "b")
	cfg := configOf(t, l1, l2)
	es := []entry{{Name: sha(l1).Encoded() + ".tar", Data: l1}, {Name: sha(l2).Encoded() + ".tar", Data: l2}}
	var names []string
	for i, l := range [][]byte{l1, l2} {
		name := fmt.Sprintf("%064d/layer.tar", i)
		es = append(es, entry{Name: name, Typeflag: tar.TypeSymlink, Link: "../" + sha(l).Encoded() + ".tar"})
		names = append(names, name)
	}
	es = append(es, entry{Name: "c.json", Data: cfg}, entry{Name: "manifest.json", Data: jsonOf(t, []dockerEntry{{Config: "c.json", Layers: names}})})
	file := writeFile(t, "skopeo.tar", tarOf(t, es...))
	reg := newMem()
	d1, _, err := publish(t, writeFile(t, "first.tar", nixArchive(t, "a:1", l1)), Options{}, reg)
	if err != nil {
		t.Fatal(err)
	}
	reg.tag(d1, "v1")
	known, err := Learn(context.Background(), []Registry{reg}, []string{"v1"}, "", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	reg.puts = 0
	d, stats, err := publish(t, file, Options{Known: known}, reg)
	if err != nil || stats.Reused != 1 || stats.Compressed != 1 || reg.puts != 2 {
		t.Fatalf("%v, %+v, %d uploads: want the new layer and the config", err, stats, reg.puts)
	}
	pushed(t, reg, d, cfg, l1, l2)
}
