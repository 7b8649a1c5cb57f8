package sign

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	digest "github.com/opencontainers/go-digest"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"google.golang.org/protobuf/encoding/protojson"
)

// What cosign v3 signs for an image (cmd/cosign/cli/sign, signDigestBundle):
// an in-toto statement naming the digest, with cosign's predicate type,
// in a DSSE envelope.
const (
	// BundleMediaType is the Sigstore bundle's media type: the referrer's
	// artifactType and its one layer's media type.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	payloadType     = "application/vnd.in-toto+json"
	statementType   = "https://in-toto.io/Statement/v1"
	predicateType   = "https://sigstore.dev/cosign/sign/v1"
)

// ErrNotOurs: a bundle that is not a signature of the digest by this key
// (another key's, another image's, damaged).
var ErrNotOurs = errors.New("not a signature of the image by the signing key")

// statement is the in-toto statement cosign signs: the image's digest
// as its one subject, an empty predicate.
type statement struct {
	Type          string    `json:"_type"`
	Subject       []subject `json:"subject"`
	PredicateType string    `json:"predicateType"`
	Predicate     struct{}  `json:"predicate"`
}

type subject struct {
	Digest map[string]string `json:"digest"`
}

// Bundle signs the image d: the Sigstore bundle's JSON, with the public
// key's hint as verification material, no log entry, no timestamp.
func (k *Key) Bundle(d digest.Digest) ([]byte, error) {
	payload, err := json.Marshal(statement{
		Type:          statementType,
		Subject:       []subject{{Digest: map[string]string{d.Algorithm().String(): d.Encoded()}}},
		PredicateType: predicateType,
	})
	if err != nil {
		return nil, err
	}
	sig, err := k.sv.SignMessage(bytes.NewReader(pae(payload)))
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", d, err)
	}
	return protojson.Marshal(&protobundle.Bundle{
		MediaType: BundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: k.hint}},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: payload, PayloadType: payloadType, Signatures: []*protodsse.Signature{{Sig: sig}},
		}},
	})
}

// Verify says whether bundle is a signature of the image d by this key,
// checked as cosign verify --key checks it: the envelope's signature over
// its payload, and a statement of cosign's type whose subject is d. A
// caller may trust what it names (a blob of a manifest so signed) as its
// own run's. The error wraps ErrNotOurs.
func (k *Key) Verify(bundle []byte, d digest.Digest) error {
	var b protobundle.Bundle
	if err := protojson.Unmarshal(bundle, &b); err != nil {
		return fmt.Errorf("%w: the bundle does not parse: %w", ErrNotOurs, err)
	}
	env := b.GetDsseEnvelope()
	switch {
	case b.GetMediaType() != BundleMediaType:
		return fmt.Errorf("%w: a bundle of media type %q", ErrNotOurs, b.GetMediaType())
	case env == nil || env.GetPayloadType() != payloadType:
		return fmt.Errorf("%w: no in-toto envelope", ErrNotOurs)
	}
	if !k.signed(env) {
		return fmt.Errorf("%w: no signature by the key", ErrNotOurs)
	}
	var st statement
	if err := json.Unmarshal(env.GetPayload(), &st); err != nil {
		return fmt.Errorf("%w: the statement does not parse: %w", ErrNotOurs, err)
	}
	if st.Type != statementType || st.PredicateType != predicateType || len(st.Subject) != 1 ||
		st.Subject[0].Digest[d.Algorithm().String()] != d.Encoded() {
		return fmt.Errorf("%w: the statement names another image or is not cosign's", ErrNotOurs)
	}
	return nil
}

// signed says whether one of env's signatures is the key's over env's
// pre-authentication encoding.
func (k *Key) signed(env *protodsse.Envelope) bool {
	for _, s := range env.GetSignatures() {
		if k.sv.VerifySignature(bytes.NewReader(s.GetSig()), bytes.NewReader(pae(env.GetPayload()))) == nil {
			return true
		}
	}
	return false
}

// pae is DSSE's pre-authentication encoding of an in-toto payload: what
// is actually signed.
func pae(payload []byte) []byte { return dsse.PAE(payloadType, payload) }
