package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"

	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/testcheck"
)

func TestAPIKeyFlagRefused(t *testing.T) {
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	var stdout, stderr bytes.Buffer
	code := realMain([]string{"--api-key", "zak_on_the_command_line"}, testcheck.Lookup(env), &stdout, &stderr)
	if code == 0 {
		t.Fatal("exit 0 with --api-key on the command line")
	}
	testcheck.OneErrorLine(t, stdout.String(), "api-key: not accepted as a flag")
	testcheck.NoSecret(t, "zak_on_the_command_line", stdout.String(), stderr.String())
}

func TestHelpListsEveryInput(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"--help"}, testcheck.Lookup(nil), &stdout, &stderr); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, in := range inputs {
		// The secret inputs are refused as flags (TestAPIKeyFlagRefused,
		// TestSigningKeyMaskedFirst), so not listed.
		if listed := strings.Contains(stderr.String(), "-"+in.Name+" "); listed != !slices.Contains(config.SecretInputs, in.Name) {
			t.Errorf("--help lists %s: %t", in.Name, listed)
		}
	}
}

func TestUnreachableBuildkit(t *testing.T) {
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	var stdout, stderr bytes.Buffer
	if code := realMain(nil, testcheck.Lookup(env), &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	testcheck.OneErrorLine(t, stdout.String(), "buildkit-address: no buildkitd answers at unix:///nonexistent/buildkitd.sock")
}

func TestOutputDelimiterCannotCollide(t *testing.T) {
	d := randomDelimiter("x")
	if !strings.HasPrefix(d, "ghadelimiter_") || len(d) < 40 {
		t.Fatalf("delimiter %q is not random enough", d)
	}
	if randomDelimiter("x") == d {
		t.Fatal("two delimiters are equal")
	}
}

// TestEveryBadInputReported: several bad inputs at once are each reported
// on an ::error:: line of their own, naming the input, in one run.
func TestEveryBadInputReported(t *testing.T) {
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	env["INPUT_VERSION"] = "v1+x"
	env["INPUT_PUSH"] = "yes"
	env["INPUT_LABELS"] = "=a\nok=1\nb"
	env["INPUT_CACHE-FROM"] = "ref=x\ntype=registry,ref=ok\ntype=local,\"dest=a"
	env["INPUT_PROVENANCE"] = "full"
	env["INPUT_REGISTRY-TLS"] = "off"
	env["INPUT_SECRETS"] = "a=env:UNSET_1\nb=file:/nonexistent/x"
	var stdout, stderr bytes.Buffer
	if code := realMain(nil, testcheck.Lookup(env), &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	var lines []string
	for _, l := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(l, "::error::") {
			lines = append(lines, strings.TrimPrefix(l, "::error::"))
		}
	}
	want := []string{
		`push: "yes" is not a boolean`,
		`version: "v1+x" contains '+'`,
		"labels: line 1 is not KEY=VALUE",
		"labels: line 3 is not KEY=VALUE",
		`registry-tls: "off" is not one of`,
		"secrets: a: environment variable UNSET_1 is empty or unset",
		"secrets: b: cannot read /nonexistent/x",
		"cache-from: line 1: no type=",
		"cache-from: line 3: not comma-separated key=value",
		`provenance: "full" is not one of`,
	}
	for _, w := range want {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, w) }) {
			t.Errorf("no error line starting %q in:\n%s", w, strings.Join(lines, "\n"))
		}
	}
	if len(lines) != len(want) {
		t.Errorf("%d error lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
}

// TestSigningKeyMaskedFirst: under a runner the signing key (each of its
// lines) and its password are masked before anything else is printed, a
// wrong password is one line naming signing-key, and neither is a flag.
func TestSigningKeyMaskedFirst(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	sealed, err := encrypted.Encrypt(der, []byte("right password"))
	if err != nil {
		t.Fatal(err)
	}
	key := string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: sealed}))
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	env["GITHUB_ACTIONS"] = "true"
	env["INPUT_SIGNING-KEY"], env["INPUT_SIGNING-KEY-PASSWORD"] = key, "wrong password"
	var stdout, stderr bytes.Buffer
	if code := realMain(nil, testcheck.Lookup(env), &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2 (bad input)\n%s", code, stdout.String())
	}
	testcheck.OneErrorLine(t, stdout.String(), "signing-key: does not open with signing-key-password")
	before, _, _ := strings.Cut(stdout.String(), "::error::")
	lines := strings.Split(strings.TrimSpace(key), "\n")
	for _, want := range append([]string{"wrong password"}, lines[1:len(lines)-1]...) {
		if !strings.Contains(before, "::add-mask::"+want+"\n") {
			t.Errorf("%q is not masked before the error line:\n%s", want, before)
		}
	}
	for _, flag := range []string{"--signing-key", "--signing-key-password"} {
		stdout.Reset()
		if code := realMain([]string{flag, "secret_on_the_command_line"}, testcheck.Lookup(env), &stdout, &stderr); code == 0 {
			t.Fatalf("exit 0 with %s on the command line", flag)
		}
		testcheck.OneErrorLine(t, stdout.String(), flag[2:]+": not accepted as a flag")
		testcheck.NoSecret(t, "secret_on_the_command_line", stdout.String())
	}
}
