package sign

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

const image = digest.Digest("sha256:1111111111111111111111111111111111111111111111111111111111111111")

func pkcs8(t *testing.T, priv any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// cosignKey is a key as cosign generate-key-pair writes it: PKCS#8,
// encrypted with the library cosign uses, in a SIGSTORE PEM block.
func cosignKey(t *testing.T, password string) []byte {
	t.Helper()
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sealed, err := encrypted.Encrypt(pkcs8(t, priv), []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: sigstorePEM, Bytes: sealed})
}

func plainKey(t *testing.T, priv any) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pkcs8PEM, Bytes: pkcs8(t, priv)})
}

func TestParseKey(t *testing.T) {
	const password = "correct horse"
	sealed := cosignKey(t, password)
	if _, err := ParseKey(sealed, []byte(password)); err != nil {
		t.Fatalf("cosign's encrypted key: %v", err)
	}
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := ParseKey(plainKey(t, edPriv), nil); err != nil {
		t.Fatalf("PKCS#8 Ed25519: %v", err)
	}
	rsaPriv, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	pub, _ := x509.MarshalPKIXPublicKey(p384.Public())
	for name, c := range map[string]struct {
		key, password string
		want          error
		says          string
	}{
		"wrong password": {string(sealed), "wrong", ErrPassword, "check the password"},
		"no password":    {string(sealed), "", ErrPassword, "signing-key-password is empty"},
		"a path":         {"/home/me/cosign.key", "", ErrNotKey, "not its path"},
		"a public key":   {string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})), "", ErrNotKey, `"PUBLIC KEY"`},
		"RSA-1024":       {string(plainKey(t, rsaPriv)), "", ErrUnsupported, "RSA-1024"},
		"P-384":          {string(plainKey(t, p384)), "", ErrUnsupported, "P-384"},
	} {
		_, err := ParseKey([]byte(c.key), []byte(c.password))
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v; want %v saying %q", name, err, c.want, c.says)
		}
		if err != nil && strings.Contains(err.Error(), strings.Split(c.key, "\n")[min(1, strings.Count(c.key, "\n"))]) {
			t.Errorf("%s: the error quotes the key: %v", name, err)
		}
	}
}

func TestBundleVerifies(t *testing.T) {
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ParseKey(plainKey(t, must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))), nil)
	for name, priv := range map[string]any{"ECDSA P-256": ecPriv, "Ed25519": edPriv} {
		k, err := ParseKey(plainKey(t, priv), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := k.Bundle(image)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Verify(b, image); err != nil {
			t.Errorf("%s: its own signature: %v", name, err)
		}
		if err := k.Verify(b, digest.FromString("another image")); !errors.Is(err, ErrNotOurs) {
			t.Errorf("%s: another image's digest: %v, want ErrNotOurs", name, err)
		}
		if err := other.Verify(b, image); !errors.Is(err, ErrNotOurs) {
			t.Errorf("%s: another key: %v, want ErrNotOurs", name, err)
		}
		tampered := strings.Replace(string(b), `"sig":"`, `"sig":"AA`, 1)
		if err := k.Verify([]byte(tampered), image); !errors.Is(err, ErrNotOurs) {
			t.Errorf("%s: a tampered signature: %v, want ErrNotOurs", name, err)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestReferrerLayout pins what cosign v3 looks for: artifactType, the
// empty config, one bundle layer, the subject and cosign's annotations.
func TestReferrerLayout(t *testing.T) {
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: image, Size: 512}
	r, err := newReferrer(subject, []byte(`{"bundle":1}`), time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(r.raw, &m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m.MediaType != ocispec.MediaTypeImageManifest || m.ArtifactType != BundleMediaType:
		t.Errorf("media type %s, artifactType %s", m.MediaType, m.ArtifactType)
	case m.Config.MediaType != ocispec.MediaTypeEmptyJSON || m.Config.Digest != ocispec.DescriptorEmptyJSON.Digest:
		t.Errorf("config %+v, want the empty descriptor", m.Config)
	case len(m.Layers) != 1 || m.Layers[0].MediaType != BundleMediaType || m.Layers[0].Digest != digest.FromString(`{"bundle":1}`):
		t.Errorf("layers %+v, want the bundle", m.Layers)
	case m.Subject == nil || m.Subject.Digest != image || m.Subject.MediaType != subject.MediaType || m.Subject.Size != 512:
		t.Errorf("subject %+v, want the image", m.Subject)
	case m.Annotations[predicateTypeAnnotation] != predicateType || m.Annotations[contentAnnotation] != "dsse-envelope" || m.Annotations[ocispec.AnnotationCreated] != "1970-01-01T00:00:00Z":
		t.Errorf("annotations %v", m.Annotations)
	}
}
