package e2e

import (
	"archive/tar"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/blumeops/build-push-image/internal/testcheck"
	"github.com/blumeops/build-push-image/internal/testrig"
)

// secondRegistry starts another registry with htpasswd auth and its own
// user and key, and returns it as a rig sharing the first one's buildkitd.
func secondRegistry(t *testing.T, r rig) rig {
	t.Helper()
	reg, err := testrig.StartRegistry(context.Background(), os.Getenv(testrig.EnvTools), t.TempDir(), "puller")
	if err != nil {
		t.Fatalf("second registry: %v", err)
	}
	t.Cleanup(reg.Stop)
	return rig{registry: reg.Addr, user: reg.User, key: reg.Key, buildkit: r.buildkit}
}

// privateBase pushes a one-file base image to r2 and returns its reference.
func privateBase(t *testing.T, r2 rig, marker string) string {
	t.Helper()
	dir := contextDir(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY marker /marker\n", "marker": marker})
	mustDigest(t, runAction(t, r2.inputs("private/base", "1", dir), nil))
	return r2.registry + "/private/base:1"
}

func TestBaseImageFromRegistryWithCredentials(t *testing.T) {
	r := requireRig(t)
	r2 := secondRegistry(t, r)
	marker := randomName("from-the-second-registry")
	dir := contextDir(t, map[string]string{"Dockerfile": "FROM " + privateBase(t, r2, marker) + "\nCOPY Dockerfile /\n"})
	image := randomName("it/creds")
	env := r.inputs(image, "v1.0.0", dir)

	without := runAction(t, env, nil)
	if without.code == 0 || !strings.Contains(without.stdout, "401 Unauthorized") {
		t.Fatalf("without its credentials, the private base image: exit %d, want a 401 refusal:\n%s", without.code, without.stdout)
	}

	env["INPUT_REGISTRY-CREDENTIALS"] = "other.example=someone:unused\n" + r2.registry + "=" + r2.user + ":" + r2.key
	withInput := runAction(t, env, nil)
	assertHasFile(t, r, image, mustDigest(t, withInput), marker)
	testcheck.NoSecret(t, r2.key, withInput.all()...)

	// The same login from the runner's Docker config instead of the input.
	delete(env, "INPUT_REGISTRY-CREDENTIALS")
	env["DOCKER_CONFIG"] = dockerConfig(t, r2)
	env["INPUT_VERSION"] = "v1.0.1"
	fromConfig := runAction(t, env, nil)
	assertHasFile(t, r, image, mustDigest(t, fromConfig), marker)
	testcheck.NoSecret(t, r2.key, fromConfig.all()...)
}

// dockerConfig writes a Docker config with r's login, as docker login does.
func dockerConfig(t *testing.T, r rig) string {
	t.Helper()
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(r.user + ":" + r.key))
	cfg := `{"auths": {"` + r.registry + `": {"auth": "` + auth + `"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// assertHasFile checks that a layer of the pushed image holds want.
func assertHasFile(t *testing.T, r rig, image, digest, want string) {
	t.Helper()
	for _, l := range r.manifest(t, image, digest).Layers {
		if slices.ContainsFunc(layerFiles(t, r.get(t, image, "blobs", l.Digest)), func(f string) bool { return strings.Contains(f, want) }) {
			return
		}
	}
	t.Errorf("%s@%s holds no file with %q", image, digest, want)
}

func TestNamedBuildContexts(t *testing.T) {
	r := requireRig(t)
	greeting := randomName("from-a-named-context")
	assets := contextDir(t, map[string]string{"greeting.txt": greeting})
	dir := contextDir(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY --from=assets greeting.txt /greeting.txt\nCOPY --from=tools /bin/busybox /busybox\n",
	})
	image := randomName("it/contexts")
	env := r.inputs(image, "v1.0.0", dir)
	env["INPUT_BUILD-CONTEXTS"] = "assets=" + assets + "\ntools=docker-image://" + baseImage(t, r)
	digest := mustDigest(t, runAction(t, env, nil))
	assertHasFile(t, r, image, digest, greeting)
	assertHasFile(t, r, image, digest, "busybox")
}

func TestNoCacheRerunsCachedStep(t *testing.T) {
	r := requireRig(t)
	dir := contextDir(t, map[string]string{
		// The step prints "step-executed" only when it runs; its title
		// (printf 'step-%s') never matches.
		"Dockerfile": "FROM " + baseImage(t, r) + "\nRUN printf 'step-%s\\n' executed && echo " + randomName("step") + " > /step\n",
	})
	env := r.inputs(randomName("it/nocache"), "v1.0.0", dir)
	env["INPUT_PUSH"] = "false"
	for _, run := range []struct {
		noCache string
		runs    bool
	}{{"false", true}, {"false", false}, {"true", true}} {
		env["INPUT_NO-CACHE"] = run.noCache
		res := runAction(t, env, nil)
		mustDigest(t, res)
		if ran := strings.Contains(res.stdout, "step-executed"); ran != run.runs {
			t.Fatalf("no-cache %s: step ran %t, want %t:\n%s", run.noCache, ran, run.runs, res.stdout)
		}
	}
}

func TestOCIArchiveHoldsPushedDigest(t *testing.T) {
	r := requireRig(t)
	// push: false is the scanner-instead-of-push case: the archive is all
	// there is.
	for _, run := range []struct{ push, via string }{{"true", "action"}, {"true", "buildkit"}, {"false", "action"}} {
		t.Run("push "+run.push+" via "+run.via, func(t *testing.T) {
			archive := filepath.Join(t.TempDir(), "out", "image.tar")
			env := r.inputs(randomName("it/archive"), "v1.0.0", "testdata/hello")
			env["INPUT_OUTPUT"], env["INPUT_PUSH-VIA"], env["INPUT_PUSH"] = archive, run.via, run.push
			digest := mustDigest(t, runAction(t, env, nil))
			index, blobs := readArchive(t, archive)
			if len(index.Manifests) != 1 || index.Manifests[0].Digest != digest {
				t.Fatalf("archive index.json %+v, want the pushed %s", index.Manifests, digest)
			}
			if !blobs[strings.Replace(digest, ":", "/", 1)] {
				t.Errorf("archive lacks the blob of %s", digest)
			}
		})
	}
}

// readArchive returns an OCI archive's index.json and its blob names
// (sha256/<hex>).
func readArchive(t *testing.T, path string) (ociManifest, map[string]bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no OCI archive at output: %v", err)
	}
	defer f.Close()
	var index ociManifest
	blobs := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return index, blobs
		}
		if err != nil {
			t.Fatalf("%s is not a tar: %v", path, err)
		}
		switch name := strings.TrimPrefix(h.Name, "./"); {
		case name == "index.json":
			if err := json.NewDecoder(tr).Decode(&index); err != nil {
				t.Fatalf("index.json: %v", err)
			}
		case strings.HasPrefix(name, "blobs/"):
			blobs[strings.TrimPrefix(name, "blobs/")] = true
		}
	}
}

func TestAttestationsAsReferrers(t *testing.T) {
	r := requireRig(t)
	for _, asReferrers := range []string{"false", "true"} {
		t.Run(asReferrers, func(t *testing.T) {
			image := randomName("it/referrers")
			env := r.inputs(image, "v1.0.0", "testdata/hello")
			env["INPUT_PROVENANCE"], env["INPUT_ATTESTATIONS-AS-REFERRERS"] = "true", asReferrers
			digest := mustDigest(t, runAction(t, env, nil))
			var subjects, images []string
			for _, m := range r.manifest(t, image, digest).Manifests {
				images = append(images, m.Digest)
				if m.Annotations["vnd.docker.reference.type"] != "attestation-manifest" {
					continue
				}
				var att struct {
					ArtifactType string `json:"artifactType"`
					Subject      *struct{ Digest string }
				}
				if err := json.Unmarshal(r.get(t, image, "manifests", m.Digest), &att); err != nil {
					t.Fatal(err)
				}
				if att.Subject != nil {
					subjects = append(subjects, att.Subject.Digest)
				}
			}
			want := 0
			if asReferrers == "true" {
				want = 1
			}
			if len(subjects) != want || (want == 1 && !slices.Contains(images, subjects[0])) {
				t.Errorf("attestations-as-referrers %s: attestation subjects %v, want %d naming one of the index's images %v", asReferrers, subjects, want, images)
			}
		})
	}
}

// TestRunStepOptions: RUN steps see the extra hosts, /dev/shm size, ulimit,
// network and SSH agent the inputs ask for. Each RUN checks one and fails
// the build otherwise: a run without any one of the inputs fails.
func TestRunStepOptions(t *testing.T) {
	r := requireRig(t)
	dir := contextDir(t, map[string]string{"Dockerfile": "FROM " + baseImage(t, r) + `
RUN grep -q '^10.1.2.3[[:space:]]*db.internal' /etc/hosts
RUN [ "$(df -k /dev/shm | awk 'NR==2 {print $2}')" = 131072 ]
RUN [ "$(ulimit -n)" = 1234 ]
RUN [ "$(grep -c : /proc/net/dev)" = 1 ]
RUN --mount=type=ssh,id=deploy [ -S "$SSH_AUTH_SOCK" ]
`})
	options := map[string]string{
		"INPUT_ADD-HOSTS": "db.internal:10.1.2.3",
		"INPUT_SHM-SIZE":  "128m",
		"INPUT_ULIMIT":    "nofile=1234:2345",
		"INPUT_NETWORK":   "none",
		"INPUT_SSH":       "deploy=" + sshKey(t),
	}
	env := r.inputs(randomName("it/runopts"), "v1.0.0", dir)
	env["INPUT_PUSH"] = "false"
	maps.Copy(env, options)
	for name := range options {
		without := maps.Clone(env)
		delete(without, name)
		if res := runAction(t, without, nil); res.code == 0 {
			t.Errorf("the RUN checks passed without %s: it is not tested", name)
		}
	}
	mustDigest(t, runAction(t, env, nil))
}

// sshKey writes a fresh ed25519 private key in OpenSSH format.
func sshKey(t *testing.T) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
