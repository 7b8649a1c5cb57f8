package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"regexp"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

// The signing case (issue 24): what signing-key adds to a publish, side
// by side with the same push unsigned. The signature is a few hundred
// bytes; what it costs is the signing itself, three small uploads, the
// referrers look-ups and the read-back, and, with cosign's encrypted key,
// decrypting it (scrypt, as cosign sign itself does).

// signingKeys are a PKCS#8 P-256 key and the same key encrypted as cosign
// generate-key-pair writes it (the library cosign uses, its defaults).
func signingKeys() (plain, sealed string, password string, err error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", "", "", err
	}
	password = randomHex(16)
	enc, err := encrypted.Encrypt(der, []byte(password))
	if err != nil {
		return "", "", "", err
	}
	plain = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	sealed = string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: enc}))
	return plain, sealed, password, nil
}

// signedWith is the action's archive push with a signing key.
func signedWith(name, title string, env ...string) archiveTool {
	return archiveTool{name, title, func(ctx context.Context, b *bench, j archiveJob) (sample, error) {
		j.env = append(j.env, env...)
		return runArchiveAction(ctx, b, j)
	}}
}

// signedLine is the action's line for the signature it stored, with the
// step's own time.
var signedLine = regexp.MustCompile(`^Signed .* before its tags in (\S+)$`)

// signingStep is the signature step's time from the action's own line.
func signingStep(s sample) (time.Duration, error) {
	for _, l := range s.lines {
		if m := signedLine.FindStringSubmatch(l.text); m != nil {
			return time.ParseDuration(m[1])
		}
	}
	return 0, fmt.Errorf("no %q line in the action's output", signedLine)
}

// caseSigning (10): a small archive (2 × 4 MiB) pushed unsigned, signed
// with a PKCS#8 key and signed with cosign's encrypted key, in rotating
// order, each to a fresh repository. Goal: the signature step (signing,
// storing, reading back; the action's own timing) ≤ 50 ms, median. The
// whole job's difference per round, signed minus unsigned, is shown
// beside it: on a busy machine its noise is larger than the step.
func caseSigning(ctx context.Context, b *bench) error {
	plain, sealed, password, err := signingKeys()
	if err != nil {
		return err
	}
	img := archiveImage("s2", "archive, 2 × 4 MiB")
	tools := []archiveTool{
		toolArchive,
		signedWith("signed-pkcs8", "build-push-image archive:, signing-key (PKCS#8 P-256)", "INPUT_SIGNING_KEY="+plain),
		signedWith("signed-cosign", "build-push-image archive:, signing-key (cosign.key, scrypt)", "INPUT_SIGNING_KEY="+sealed, "INPUT_SIGNING_KEY_PASSWORD="+password),
	}
	adds := func(t archiveTool) string { return "whole job, signed minus unsigned · " + t.title }
	step := func(t archiveTool) string { return "signature step (sign, store, read back) · " + t.title }
	b.res.goal(goal{caseID: "10", label: "signing adds to a publish: the signature step, " + tools[1].title, num: step(tools[1]), limit: 50})
	for _, t := range tools[1:] {
		b.res.goal(goal{caseID: "10", label: "the whole job, signed minus unsigned (median of per-round differences), " + t.title, num: adds(t)})
	}
	path, _, err := b.newArchive(nil, 2, 4*mib)
	if err != nil {
		return err
	}
	return b.eachRound(3*b.rounds, func(round int) error {
		took := map[string]float64{}
		for _, t := range rotateArchive(tools, round) {
			j := archiveJob{archive: path, repo: b.repo("signing", t.name, fmt.Sprint(round)), version: "v1.0.0"}
			s, err := b.timedArchive(ctx, "10", "signed push", img, t, j)
			if err != nil {
				return err
			}
			took[t.name] = s.total.Seconds()
			if t.name != toolArchive.name {
				d, err := signingStep(s)
				if err != nil {
					return err
				}
				b.res.add("10", step(t), "ms", float64(d.Microseconds())/1000)
			}
		}
		for _, t := range tools[1:] {
			b.res.add("10", adds(t), "ms", 1000*(took[t.name]-took[toolArchive.name]))
		}
		return nil
	})
}
