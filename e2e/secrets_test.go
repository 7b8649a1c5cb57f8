package e2e

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
	"github.com/blumeops/build-push-image/internal/testrig"
)

// loginHanded starts the line telling that buildkitd got the login.
const loginHanded = "buildkitd asked for the login to "

// TestByHandEchoesNoSecret: a whole push run by hand (no runner in the
// environment) prints no ::add-mask:: command, so the key appears in no
// form on the terminal, in stderr or in the outputs. The build pulls
// nothing from the registry, so buildkitd is not handed the login either.
func TestByHandEchoesNoSecret(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	env := r.inputs(randomName("it/byhand"), "v1.0.0", "testdata/hello")
	env["INPUT_PUSH-VIA"] = "action"
	res := runAction(t, env, nil)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout, "::add-mask::") {
		t.Errorf("::add-mask:: echoed outside a runner:\n%s", res.stdout)
	}
	// FROM scratch, push-via: action: buildkitd never needs the login.
	if strings.Contains(res.stdout, loginHanded) {
		t.Errorf("buildkitd was handed the login although it neither pulls from nor pushes to the registry:\n%s", res.stdout)
	}
	testcheck.NoSecret(t, r.key, res.all()...)
}

// TestSecretsStayInTheStep: the action starts its own buildkitd, which
// pulls a private base image with the key (Basic auth: buildkitd is handed
// the key itself) and mounts a build secret; git reads the commit time.
// While the upload of the image manifest is held, the started buildkitd's
// /proc/<pid>/environ and every file under RUNNER_TEMP (buildkitd's log
// and state, the OCI layout) hold neither the key nor the build secret in
// any form; after the run, neither do git's environment, what is left in
// RUNNER_TEMP, the output, nor the pushed image.
func TestSecretsStayInTheStep(t *testing.T) {
	r := requireRig(t)
	baseImage(t, r) // pushed to the registry, pulled through the proxy
	t.Parallel()
	row(t, "secrets", "the action starts its own buildkitd, which pulls a private base with the key and mounts a build secret",
		"while the version tag PUT is held: the buildkitd's /proc environ, RUNNER_TEMP (its log and state, the OCI layout, gzip unpacked); after: git's environ, RUNNER_TEMP, outputs, the image")
	fp := newFaultProxy(t, r)
	buildSecret := randomName("build-secret") + randomName("")
	dir := contextDir(t, map[string]string{
		"Dockerfile": "FROM " + fp.addr + "/base/busybox:1\nRUN --mount=type=secret,id=tok,required=true test -s /run/secrets/tok\nCOPY note /\n",
		"note":       randomName("note"),
	})
	sha := testcheck.Commit(t, dir)
	gitBin, gitEnviron := testcheck.Recorder(t, "git")
	tmp := t.TempDir()
	image := randomName("it/children")
	env := fp.inputs(r, image, "v1.0.0", dir)
	delete(env, "INPUT_BUILDKIT-ADDRESS") // nothing answers: the action starts buildkitd
	env["INPUT_SHA"] = sha
	env["INPUT_SECRETS"] = "tok=" + buildSecret
	env["INPUT_PUSH-VIA"] = "action" // an OCI layout in RUNNER_TEMP, to scan
	env["RUNNER_TEMP"] = tmp
	env["PATH"] = gitBin + ":" + os.Getenv(testrig.EnvTools) + ":" + os.Getenv("PATH")
	secrets := []string{r.key, buildSecret}

	var inspected atomic.Bool
	fp.fail(kindManifestPut, 1, fault{inspect: func() {
		inspected.Store(true)
		pids := processesMentioning(t, tmp)
		if len(pids) == 0 {
			t.Errorf("no buildkitd of the action's running under %s", tmp)
		}
		for _, pid := range pids {
			environ, err := os.ReadFile("/proc/" + pid + "/environ")
			if err != nil {
				t.Errorf("read environ of pid %s: %v", pid, err)
				continue
			}
			testcheck.CleanEnviron(t, "buildkitd (pid "+pid+")", environ, secrets...)
		}
		texts := fileTexts(t, tmp)
		for _, want := range []string{"buildkitd.log", "index.json"} {
			if !hasFile(t, tmp, want) {
				t.Errorf("no %s under RUNNER_TEMP while the manifest is uploaded: the scan would miss it", want)
			}
		}
		for _, s := range secrets {
			testcheck.NoSecret(t, s, texts...)
		}
	}})
	res := runAction(t, env, nil)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if !inspected.Load() {
		t.Fatal("the manifest upload never came through the proxy")
	}
	if !strings.Contains(res.stdout, "started ") {
		t.Errorf("the action did not start its own buildkitd:\n%s", res.stdout)
	}
	if !strings.Contains(res.stdout, loginHanded+fp.addr) {
		t.Errorf("no word that buildkitd was handed the login to pull the base image:\n%s", res.stdout)
	}
	environ, err := os.ReadFile(gitEnviron)
	if err != nil {
		t.Fatalf("git did not run: %v", err)
	}
	testcheck.CleanEnviron(t, "git", environ, secrets...)
	for _, leftover := range []string{"buildkitd.log", "index.json"} {
		if hasFile(t, tmp, leftover) {
			t.Errorf("%s left in RUNNER_TEMP after the run", leftover)
		}
	}
	texts := append(res.all(), r.verifyImage(t, image, res.outputs["digest"])...)
	for _, s := range secrets {
		testcheck.NoSecret(t, s, texts...)
	}
}

// fileTexts reads root, a file or every regular file under it, for secret
// scans; gzip files (image layers) are unpacked. A missing root has none.
func fileTexts(t *testing.T, root string) []string {
	t.Helper()
	var texts []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil // gone meanwhile, or not a file: nothing to read
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		texts = append(texts, string(b))
		if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
			unpacked, _ := io.ReadAll(zr) // as much as unpacks
			texts = append(texts, string(unpacked))
		}
		return nil
	})
	if err != nil {
		t.Errorf("scan %s: %v", root, err)
	}
	return texts
}

// hasFile is true when a file named name is anywhere under root.
func hasFile(t *testing.T, root, name string) bool {
	t.Helper()
	found := false
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		found = found || (err == nil && d.Name() == name)
		return nil
	})
	return found
}
