// Package sign signs a published image by digest with the user's own key
// pair, the way `cosign sign --key … --tlog-upload=false` does in cosign
// v3: a Sigstore bundle (v0.3) holding a DSSE envelope over an in-toto
// statement whose subject is the digest, with no transparency-log entry
// and no timestamp, attached to the image as an OCI 1.1 referrer. A
// consumer checks it offline with the public key alone:
// `cosign verify --key cosign.pub --insecure-ignore-tlog`. The private key
// stays in memory: it is parsed here once and never leaves the process.
package sign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/signature"
)

// The PEM types of the encrypted keys `cosign generate-key-pair` writes
// (the older spelling first) and of an unencrypted PKCS#8 key.
const (
	cosignPEM   = "ENCRYPTED COSIGN PRIVATE KEY"
	sigstorePEM = "ENCRYPTED SIGSTORE PRIVATE KEY"
	pkcs8PEM    = "PRIVATE KEY"
)

// Typed reasons a key is refused, so that the caller can say which input
// to fix and how.
var (
	// ErrNotKey: the value is not a private key in PEM (a public key, a
	// certificate, a file path, garbage).
	ErrNotKey = errors.New("is not a private key in PEM")
	// ErrPassword: the encrypted key does not open with the password.
	ErrPassword = errors.New("does not open with signing-key-password")
	// ErrUnsupported: a private key of a kind cosign's default
	// verification does not take (RSA, another curve).
	ErrUnsupported = errors.New("is of a kind not supported")
)

// Key is the signing key, parsed once: what signs, and the public half
// that checks a signature already in the registry.
type Key struct {
	sv signature.SignerVerifier
	// hint is cosign's: base64 of SHA-256 of the public key's DER, so a
	// verifier holding several keys knows which one to try.
	hint string
}

// ParseKey reads pemKey: cosign's encrypted key (with password) or an
// unencrypted PKCS#8 ECDSA P-256 or Ed25519 key. Its errors wrap ErrNotKey,
// ErrPassword or ErrUnsupported and never quote the key.
func ParseKey(pemKey, password []byte) (*Key, error) {
	block, _ := pem.Decode(pemKey)
	if block == nil {
		return nil, fmt.Errorf("%w: give the content of cosign.key (-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----), not its path", ErrNotKey)
	}
	der := block.Bytes
	switch block.Type {
	case cosignPEM, sigstorePEM:
		if !json.Valid(der) {
			return nil, fmt.Errorf("%w: its %s block is damaged; give cosign.key as cosign generate-key-pair wrote it", ErrNotKey, block.Type)
		}
		if len(password) == 0 {
			return nil, fmt.Errorf("%w: the key is encrypted and signing-key-password is empty; pass the password from a secret", ErrPassword)
		}
		plain, err := encrypted.Decrypt(der, password)
		if err != nil {
			return nil, fmt.Errorf("%w: check the password that cosign generate-key-pair was given", ErrPassword)
		}
		der = plain
	case pkcs8PEM:
	default:
		return nil, fmt.Errorf("%w: it is a %q block; give a private key (cosign generate-key-pair's cosign.key, or PKCS#8 -----BEGIN PRIVATE KEY-----)", ErrNotKey, block.Type)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: its PKCS#8 content does not parse; give cosign.key as cosign generate-key-pair wrote it", ErrNotKey)
	}
	if err := supported(priv); err != nil {
		return nil, err
	}
	// Ed25519 signs the DSSE encoding itself (pure Ed25519, not the
	// Ed25519ph cosign uses for log entries): that is what cosign verify
	// --key checks a bundle's envelope with.
	sv, err := signature.LoadDefaultSignerVerifier(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	return newKey(sv)
}

// supported refuses what cosign's default verification of a key pair
// does not take, naming the kind found.
func supported(priv crypto.PrivateKey) error {
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P256() {
			return nil
		}
		return fmt.Errorf("%w: ECDSA on %s; make an ECDSA P-256 key with cosign generate-key-pair", ErrUnsupported, k.Curve.Params().Name)
	case ed25519.PrivateKey:
		return nil
	case *rsa.PrivateKey:
		return fmt.Errorf("%w: RSA-%d; make an ECDSA P-256 key with cosign generate-key-pair", ErrUnsupported, k.N.BitLen())
	}
	return fmt.Errorf("%w: %T; make an ECDSA P-256 key with cosign generate-key-pair", ErrUnsupported, priv)
}

func newKey(sv signature.SignerVerifier) (*Key, error) {
	pub, err := sv.PublicKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return &Key{sv: sv, hint: base64.StdEncoding.EncodeToString(sum[:])}, nil
}

// PublicKeyPEM is the public half, as cosign.pub holds it.
func (k *Key) PublicKeyPEM() ([]byte, error) {
	pub, err := k.sv.PublicKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
