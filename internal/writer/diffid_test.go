package writer

import (
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/blumeops/build-push-image/internal/compression"
)

// TestOCILayerNotItsDiffID: an OCI archive or layout whose manifest
// names a blob that does not unpack to its config's diff ID fails in one
// line naming the layer (index, blob, expected diff ID), nothing put;
// also when it is only compared (skip-identical).
func TestOCILayerNotItsDiffID(t *testing.T) {
	l1, l2, other := layer(t, "a"), layer(t, "b"), layer(t, "evil")
	cfg := configOf(t, l1, l2)
	es, _ := ociLayoutWith(t, cfg, nil, l1, other)
	bad := sha(compress(t, compression.Compression{Level: 1}, other))
	want := "layer 2 of 2 (" + bad.String() + ") of manifest "
	for name, path := range map[string]string{
		"OCI archive":      writeFile(t, "oci.tar", tarOf(t, es...)),
		"gzip OCI archive": writeFile(t, "oci.tar.gz", compress(t, compression.Compression{}, tarOf(t, es...))),
		"OCI layout":       writeDir(t, es),
	} {
		for _, compareOnly := range []bool{false, true} {
			reg := newMem()
			_, _, err := publish(t, path, Options{CompareOnly: compareOnly}, reg)
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "its config says its diff ID is "+sha(l2).String()) {
				t.Errorf("%s (compare only %t): %v, want the layer named: %s…", name, compareOnly, err, want)
			}
			if len(reg.manifests) != 0 {
				t.Errorf("%s: manifests put: %d", name, len(reg.manifests))
			}
		}
	}
}

// TestOCILayerLabelledWrongly: a gzip layer whose descriptor says zstd
// unpacks to its diff ID, but a client would unpack it as zstd: refused,
// naming the layer and both.
func TestOCILayerLabelledWrongly(t *testing.T) {
	l1 := layer(t, "a")
	es, _ := ociLayoutTyped(t, configOf(t, l1), ocispec.MediaTypeImageLayerZstd, nil, l1)
	for name, path := range map[string]string{"OCI archive": writeFile(t, "oci.tar", tarOf(t, es...)), "OCI layout": writeDir(t, es)} {
		_, _, err := publish(t, path, Options{}, newMem())
		if err == nil || !strings.Contains(err.Error(), "layer 1 of 1 (") || !strings.Contains(err.Error(), "is labelled "+ocispec.MediaTypeImageLayerZstd+" but its bytes are gzip") {
			t.Errorf("%s: %v, want the layer named as labelled wrongly", name, err)
		}
	}
}
