package source

import (
	"testing"

	digest "github.com/opencontainers/go-digest"
)

func TestClaimedDigest(t *testing.T) {
	d := digest.FromBytes([]byte("x"))
	for name, want := range map[string]string{
		d.Encoded() + "/layer.tar":    d.String(),
		d.Encoded() + ".tar":          d.String(),
		"blobs/sha256/" + d.Encoded(): d.String(),
		"0123/layer.tar":              "",
		"blobs/sha512/" + d.Encoded(): "",
		d.Encoded() + ".json":         "",
	} {
		if got := claimedDigest(name); string(got) != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
}
