package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestActReadmeSigning runs the README's signing section as written: its
// cosign generate-key-pair command makes the key pair, its signing step
// (changed only where a test must: the registry, the user, plain HTTP)
// builds, pushes and signs as the job of a workflow under act (after a
// checkout, as every job of the README has), with the
// key and its password as the step's secrets, and its cosign verify
// command (plus --allow-http-registry for the rig's plain-HTTP registry)
// passes for v1.2.0.
func TestActReadmeSigning(t *testing.T) {
	r := newActRig(t)
	rr := requireRig(t)
	prefix, _ := unique(t)
	keys := t.TempDir()
	generate := docBlock(t, "docs/signing.md", "sh", "cosign generate-key-pair")
	gen := exec.Command("bash", "-euo", "pipefail", "-c", generate)
	gen.Dir = keys
	gen.Env = []string{"HOME=" + keys, "PATH=" + filepath.Dir(cosignBin(t)) + ":" + os.Getenv("PATH")}
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", generate, err, out)
	}
	password := regexp.MustCompile(`COSIGN_PASSWORD='([^']*)'`).FindStringSubmatch(generate)
	private, err := os.ReadFile(filepath.Join(keys, "cosign.key"))
	if err != nil || password == nil {
		t.Fatalf("the README's command left no cosign.key (%v) or sets no COSIGN_PASSWORD", err)
	}

	step := editReadme(t, docBlock(t, "docs/signing.md", "yaml", "signing-key: ${{ secrets.COSIGN_PRIVATE_KEY }}"),
		readmeEdit{"registry.example/team/", rr.registry + "/" + prefix + "/", 1},
		readmeEdit{"username: ci\n", "username: " + rr.user + "\n", 1},
		readmeEdit{"api-key: ${{ secrets.REGISTRY_API_KEY }}\n", "api-key: ${{ secrets.REGISTRY_API_KEY }}\n          registry-tls: disabled\n", 1})
	app := actRepo(t, r, map[string]string{
		".forgejo/workflows/image.yml": "on: push\njobs:\n  image:\n    runs-on: linux\n    steps:\n      - uses: actions/checkout@v4\n" + step,
		"Dockerfile":                   "FROM scratch\nCOPY hello.txt /hello.txt\n",
		"hello.txt":                    "hello from the README's signing section\n",
	})
	// act reads .secrets as dotenv: a double-quoted value keeps the PEM's
	// newlines as \n.
	secrets, err := os.OpenFile(filepath.Join(app, ".secrets"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = secrets.WriteString("COSIGN_PRIVATE_KEY=" + strconv.Quote(string(private)) + "\nCOSIGN_PASSWORD=" + strconv.Quote(password[1]) + "\n")
	if cerr := secrets.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	out := runActCommand(t, r, app, `act push -W .forgejo/workflows/image.yml -P linux=-self-hosted --secret-file .secrets \
		--local-repository "blumeops/build-push-image@v2=$PWD/../build-push-image" \
		--action-offline-mode --env BUILD_PUSH_IMAGE_DOWNLOAD=false --env BUILDKIT_HOST="$1"`, []string{r.buildkit})
	for _, line := range strings.Split(string(private), "\n") {
		if len(line) > 16 && strings.Contains(out, line) {
			t.Errorf("a line of the signing key appears in act's output")
		}
	}

	verify := editReadme(t, docBlock(t, "docs/signing.md", "sh", "cosign verify --key cosign.pub"),
		readmeEdit{"registry.example/team/", rr.registry + "/" + prefix + "/", 1},
		readmeEdit{"--insecure-ignore-tlog ", "--insecure-ignore-tlog --allow-http-registry ", 1})
	auth := skopeoAuth(t, rr)
	if err := os.Rename(auth, filepath.Join(filepath.Dir(auth), "config.json")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", verify)
	cmd.Dir = keys
	cmd.Env = []string{"HOME=" + keys, "DOCKER_CONFIG=" + filepath.Dir(auth), "PATH=" + filepath.Dir(cosignBin(t)) + ":" + os.Getenv("PATH")}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s: %v\n%s", verify, err, out)
	}
}
