package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/blumeops/build-push-image/internal/testcheck"
	"github.com/blumeops/build-push-image/internal/testrig"
)

// buildOnly is the environment of a push: false build of testdata/hello.
func buildOnly(r rig) map[string]string {
	env := r.inputs(randomName("it/bk"), "v1.0.0", "testdata/hello")
	env["INPUT_PUSH"] = "false"
	delete(env, "INPUT_BUILDKIT-ADDRESS")
	return env
}

func TestAutoStartBuildkitd(t *testing.T) {
	r := requireRig(t)
	env := buildOnly(r)
	env["PATH"] = os.Getenv(testrig.EnvTools) + ":" + os.Getenv("PATH")
	env["INPUT_NETWORK"] = "host" // the started daemon allows what the job asks
	res := runAction(t, env, nil)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	if !strings.Contains(res.stdout, "No buildkitd at unix:///run/buildkit/buildkitd.sock: started ") {
		t.Errorf("no word of starting a buildkitd:\n%s", res.stdout)
	}
	if !strings.HasPrefix(res.outputs["digest"], "sha256:") {
		t.Errorf("digest output %q", res.outputs["digest"])
	}
	if pids := processesMentioning(t, res.runnerTemp); len(pids) > 0 {
		t.Errorf("the started buildkitd is still running: pids %v", pids)
	}
}

func TestNoBuildkitAnywhere(t *testing.T) {
	r := requireRig(t)
	env := buildOnly(r)
	env["PATH"] = "/usr/bin:/bin"                          // no buildkitd here
	env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock" // nor a Docker daemon
	res := runAction(t, env, nil)
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
	}
	testcheck.OneErrorLine(t, res.stdout, "buildkit-address: no buildkitd: nothing answers at unix:///run/buildkit/buildkitd.sock, there is no buildkitd on PATH to start, and no Docker daemon to run a BuildKit container in (")
}

func TestRemoteBuildkitdMutualTLS(t *testing.T) {
	r := requireRig(t)
	dir := t.TempDir()
	pki := newPKI(t, dir)
	port, err := testrig.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	startTLSBuildkitd(t, dir, addr, pki)

	env := buildOnly(r)
	env["INPUT_BUILDKIT-ADDRESS"] = addr
	env["INPUT_BUILDKIT-TLS-CA"] = string(pki.caPEM) // contents, as from a secret
	env["INPUT_BUILDKIT-TLS-CERT"] = pki.clientCert  // a path
	env["INPUT_BUILDKIT-TLS-KEY"] = pki.clientKey
	if res := runAction(t, env, nil); res.code != 0 || !strings.HasPrefix(res.outputs["digest"], "sha256:") {
		t.Fatalf("build over mTLS: exit %d\n%s", res.code, res.stdout)
	}

	delete(env, "INPUT_BUILDKIT-TLS-CERT")
	delete(env, "INPUT_BUILDKIT-TLS-KEY")
	res := runAction(t, env, nil)
	if res.code != 1 {
		t.Fatalf("without a client certificate: exit %d, want 1", res.code)
	}
	testcheck.OneErrorLine(t, res.stdout, "buildkit-address: no buildkitd answers at "+addr)
}

// startTLSBuildkitd runs a second buildkitd that only speaks mTLS on addr.
func startTLSBuildkitd(t *testing.T, dir, addr string, p pki) {
	t.Helper()
	startBuildkitd(t, dir, addr, "--tlscacert", p.caFile, "--tlscert", p.serverCert, "--tlskey", p.serverKey)
}

// startBuildkitd runs a buildkitd of the test's own, with an empty cache
// and the rig's configuration (plain HTTP to the test registry), on addr.
func startBuildkitd(t *testing.T, dir, addr string, args ...string) {
	t.Helper()
	args = append([]string{"--addr", addr, "--root", filepath.Join(dir, "state"),
		"--config", filepath.Join(os.Getenv(testrig.EnvRigDir), "buildkitd.toml")}, args...)
	cmd := exec.Command(filepath.Join(os.Getenv(testrig.EnvTools), "buildkitd"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log, err := os.Create(filepath.Join(dir, "buildkitd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testrig.StopProcess(cmd); _ = log.Close() })
	network, where := "tcp", strings.TrimPrefix(addr, "tcp://")
	if strings.HasPrefix(addr, "unix://") {
		network, where = "unix", strings.TrimPrefix(addr, "unix://")
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial(network, where); err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("buildkitd did not listen on %s; see %s", addr, log.Name())
		}
	}
}

// pki is a throwaway CA with a server and a client certificate.
type pki struct {
	caPEM                                                []byte
	caFile, serverCert, serverKey, clientCert, clientKey string
}

func newPKI(t *testing.T, dir string) pki {
	t.Helper()
	caKey, caCert := newCert(t, nil, nil, &x509.Certificate{
		Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign,
	})
	write := func(name string, block *pem.Block) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	p := pki{caPEM: pem.EncodeToMemory(certBlock(caCert)), caFile: write("ca.pem", certBlock(caCert))}
	for _, leaf := range []struct {
		name      string
		usage     x509.ExtKeyUsage
		cert, key *string
	}{
		{"server", x509.ExtKeyUsageServerAuth, &p.serverCert, &p.serverKey},
		{"client", x509.ExtKeyUsageClientAuth, &p.clientCert, &p.clientKey},
	} {
		key, cert := newCert(t, caKey, caCert, &x509.Certificate{
			Subject: pkix.Name{CommonName: leaf.name}, ExtKeyUsage: []x509.ExtKeyUsage{leaf.usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		})
		der, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		*leaf.cert = write(leaf.name+".pem", certBlock(cert))
		*leaf.key = write(leaf.name+"-key.pem", &pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	}
	return p
}

// newCert makes a key and a certificate from tmpl, signed by the parent
// (self-signed when parent is nil).
func newCert(t *testing.T, parentKey *ecdsa.PrivateKey, parent, tmpl *x509.Certificate) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func certBlock(c *x509.Certificate) *pem.Block {
	return &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}
}

// processesMentioning lists the PIDs whose command line contains s.
func processesMentioning(t *testing.T, s string) []string {
	t.Helper()
	cmdlines, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), s) {
			pids = append(pids, filepath.Base(filepath.Dir(f)))
		}
	}
	return pids
}
