package writer

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/compression"
	"github.com/blumeops/build-push-image/internal/source"
)

func TestBadAndHostileArchives(t *testing.T) {
	l := layer(t, "a")
	other := layer(t, "b")
	good := nixArchive(t, "a:1", l)
	cfg := configOf(t, l)
	manifest := func(cfgName string, layers ...string) entry {
		return entry{Name: "manifest.json", Data: jsonOf(t, []dockerEntry{{Config: cfgName, Layers: layers}})}
	}
	es, _ := ociLayout(t, nil, l)
	badBlob := append([]entry{}, es...)
	badBlob[1] = entry{Name: badBlob[1].Name, Data: compress(t, compression.Compression{}, other)}
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	indexOutside := writeDir(t, es)
	if err := os.WriteFile(filepath.Join(outside, "index.json"), es[len(es)-2].Data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(indexOutside, "index.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "index.json"), filepath.Join(indexOutside, "index.json")); err != nil {
		t.Fatal(err)
	}
	escapingDir := writeDir(t, es)
	blob := filepath.Join(escapingDir, es[1].Name)
	if err := os.Remove(blob); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), blob); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		path string
		kind error
		says string
	}{
		{"not a tar", writeFile(t, "x", []byte("just some text, not an archive at all\n")), source.ErrBad, "not a tar"},
		{"empty file", writeFile(t, "x", nil), source.ErrBad, "not a tar"},
		{"truncated", writeFile(t, "x", good[:len(good)/2]), source.ErrBad, "truncated"},
		{"truncated gzip", writeFile(t, "x", compress(t, compression.Compression{}, good)[:600]), source.ErrBad, "gzip"},
		{"compressed non-image", writeFile(t, "x", compress(t, compression.Compression{}, []byte(strings.Repeat("hello\n", 1000)))), source.ErrBad, "gzip-compressed"},
		{"a tar of no image", writeFile(t, "x", tarOf(t, entry{Name: "README", Data: []byte("hi")})), source.ErrBad, "neither manifest.json nor index.json"},
		{"diff ID mismatch", writeFile(t, "x", tarOf(t, entry{Name: "l.tar", Data: other}, entry{Name: "c.json", Data: cfg}, manifest("c.json", "l.tar"))), source.ErrBad, "diff ID"},
		{"missing layer", writeFile(t, "x", tarOf(t, entry{Name: "c.json", Data: cfg}, manifest("c.json", "l.tar"))), source.ErrBad, "does not hold"},
		{"missing config", writeFile(t, "x", tarOf(t, entry{Name: "l.tar", Data: l}, manifest("c.json", "l.tar"))), source.ErrBad, "does not hold"},
		{"OCI blob digest mismatch", writeFile(t, "x", tarOf(t, badBlob...)), source.ErrBad, "does not match its digest"},
		{"OCI blob missing", writeFile(t, "x", tarOf(t, append(es[:1:1], es[2:]...)...)), source.ErrBad, "missing"},
		{"directory not a layout", t.TempDir(), source.ErrBad, "oci-layout"},
		{"does not exist", filepath.Join(t.TempDir(), "result"), source.ErrBad, "does not exist"},
		{"entry with ..", writeFile(t, "x", tarOf(t, entry{Name: "../../etc/evil", Data: []byte("x")})), source.ErrHostile, ".."},
		{"absolute entry", writeFile(t, "x", tarOf(t, entry{Name: "/etc/evil", Data: []byte("x")})), source.ErrHostile, "absolute"},
		{"symlink leaving", writeFile(t, "x", tarOf(t, entry{Name: "l.tar", Typeflag: tar.TypeSymlink, Link: "../../../etc/passwd"}, entry{Name: "c.json", Data: cfg}, manifest("c.json", "l.tar"))), source.ErrHostile, "outside"},
		{"absolute symlink", writeFile(t, "x", tarOf(t, entry{Name: "l.tar", Typeflag: tar.TypeSymlink, Link: "/etc/passwd"})), source.ErrHostile, "outside"},
		{"hardlink leaving", writeFile(t, "x", tarOf(t, entry{Name: "l.tar", Typeflag: tar.TypeLink, Link: "../x"})), source.ErrHostile, "outside"},
		{"manifest naming outside", writeFile(t, "x", tarOf(t, entry{Name: "c.json", Data: cfg}, manifest("c.json", "../../../etc/passwd"))), source.ErrHostile, "outside"},
		{"layout blob linking outside", escapingDir, source.ErrHostile, "outside the layout"},
		{"layout index.json linking outside", indexOutside, source.ErrHostile, "index.json leads outside the layout"},
		{"index naming a path", writeDir(t, indexNaming(t, es, "sha256:../../../../etc/passwd")), source.ErrHostile, "outside its blobs"},
		{"device entry", writeFile(t, "x", tarOf(t, entry{Name: "dev", Typeflag: tar.TypeChar})), source.ErrBad, "neither a file"},
		{"entry twice", writeFile(t, "x", tarOf(t, entry{Name: "c.json", Data: cfg}, entry{Name: "c.json", Data: cfg})), source.ErrBad, "twice"},
	} {
		reg := newMem()
		_, _, err := publish(t, tc.path, Options{}, reg)
		var ae *source.Error
		if !errors.Is(err, tc.kind) || !errors.Is(err, source.ErrBad) || !errors.As(err, &ae) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want %v saying %q", tc.name, err, tc.kind, tc.says)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: more than one line: %q", tc.name, err)
		}
		if len(reg.manifests) != 0 {
			t.Errorf("%s: a manifest was put", tc.name)
		}
	}
}

// indexNaming is the layout es with index.json naming d.
func indexNaming(t *testing.T, es []entry, d string) []entry {
	out := append([]entry{}, es...)
	for i, e := range out {
		if e.Name == "index.json" {
			out[i].Data = []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d + `","size":10}]}`)
		}
	}
	return out
}
