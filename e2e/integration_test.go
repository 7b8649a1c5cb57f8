package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blumeops/build-push-image/internal/testcheck"
	"github.com/blumeops/build-push-image/internal/testrig"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// rig is the environment make test provides.
type rig struct {
	registry, user, key, buildkit string
}

// requireRig returns the rig (TestMain checked that it is there).
// `go test -short` runs the unit tests alone.
func requireRig(t *testing.T) rig {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs the registry and buildkitd of make test")
	}
	return rig{
		registry: os.Getenv(testrig.EnvRegistry),
		user:     os.Getenv(testrig.EnvUser),
		key:      os.Getenv(testrig.EnvKey),
		buildkit: os.Getenv(testrig.EnvBuildkit),
	}
}

// binary builds the program once per test run.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bpi-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "build-push-image")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// result is everything one run of the program emitted.
type result struct {
	code           int
	stdout, stderr string
	outputs        map[string]string
	outputFile     string
	summary        string
	runnerTemp     string // $RUNNER_TEMP of the run
	// leftovers are the files left in $RUNNER_TEMP after the run, and the
	// rig buildkitd's log as it stood then (see fileTexts).
	leftovers []string
}

// all is every text the run emitted or left behind, for secret scans.
func (r result) all() []string {
	return append([]string{r.stdout, r.stderr, r.outputFile, r.summary}, r.leftovers...)
}

// inputs returns the inputs for pushing image:version from context dir.
func (r rig) inputs(image, version, dir string) map[string]string {
	return map[string]string{
		"INPUT_IMAGE":            r.registry + "/" + image,
		"INPUT_VERSION":          version,
		"INPUT_SHA":              testcheck.SHA,
		"INPUT_CONTEXT":          dir,
		"INPUT_USERNAME":         r.user,
		"INPUT_API-KEY":          r.key,
		"INPUT_REGISTRY-TLS":     "disabled",
		"INPUT_BUILDKIT-ADDRESS": r.buildkit,
	}
}

// runAction runs the program with env as its whole environment (plus
// PATH and HOME) and a fresh $GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY.
// onLine, if set, sees every stdout line as it is printed.
func runAction(t *testing.T, env map[string]string, onLine func(string)) result {
	t.Helper()
	return runCommand(t, actionCommand(t, context.Background(), env), onLine)
}

// runCommand runs the program as cmd says (its environment names the
// $GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY and $RUNNER_TEMP of the run).
func runCommand(t *testing.T, cmd *exec.Cmd, onLine func(string)) result {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if onLine != nil {
			onLine(sc.Text())
		}
	}
	return collect(t, cmd, cmd.Wait(), out.String(), stderr.String())
}

// running is the program started by startAction, not yet waited for.
type running struct {
	cmd            *exec.Cmd
	stdout, stderr strings.Builder
}

// startAction starts the program as runAction does, and returns at once:
// several runs at the same moment, as the legs of a matrix.
func startAction(t *testing.T, env map[string]string) *running {
	t.Helper()
	return startCommand(t, actionCommand(t, context.Background(), env))
}

// startCommand starts the program as cmd says, as startAction does.
func startCommand(t *testing.T, cmd *exec.Cmd) *running {
	t.Helper()
	r := &running{cmd: cmd}
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return r
}

// wait waits for the program and returns what runAction would have.
func (r *running) wait(t *testing.T) result {
	t.Helper()
	err := r.cmd.Wait()
	return collect(t, r.cmd, err, r.stdout.String(), r.stderr.String())
}

// collect reads what a finished run left: its exit, outputs and files.
func collect(t *testing.T, cmd *exec.Cmd, err error, stdout, stderr string) result {
	t.Helper()
	res := result{code: exitCode(t, err), stdout: stdout, stderr: stderr}
	res.outputFile = readFile(t, cmd.Env, "GITHUB_OUTPUT")
	res.summary = readFile(t, cmd.Env, "GITHUB_STEP_SUMMARY")
	res.outputs = parseOutputs(t, res.outputFile)
	res.runnerTemp = envValue(cmd.Env, "RUNNER_TEMP")
	res.leftovers = append(fileTexts(t, res.runnerTemp), fileTexts(t, filepath.Join(os.Getenv(testrig.EnvRigDir), "buildkitd.log"))...)
	return res
}

func actionCommand(t *testing.T, ctx context.Context, env map[string]string) *exec.Cmd {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, binary(t))
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"GITHUB_OUTPUT=" + filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY=" + filepath.Join(dir, "summary"),
		"RUNNER_TEMP=" + dir,
		// A proof store of the run's own (a cold start): a test that
		// wants one shared between runs sets RUNNER_TOOL_CACHE itself.
		"RUNNER_TOOL_CACHE=" + t.TempDir(),
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	if exit, ok := err.(*exec.ExitError); ok {
		return exit.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// readFile reads the file named by the environment variable name.
func readFile(t *testing.T, env []string, name string) string {
	t.Helper()
	b, err := os.ReadFile(envValue(env, name))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// envValue is name's value in env: the last one, as exec.Cmd uses.
func envValue(env []string, name string) string {
	val := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			val = v
		}
	}
	return val
}

// parseOutputs reads the name<<DELIM ... DELIM blocks of $GITHUB_OUTPUT.
func parseOutputs(t *testing.T, text string) map[string]string {
	t.Helper()
	out := map[string]string{}
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] == "" {
			continue
		}
		name, delim, ok := strings.Cut(lines[i], "<<")
		if !ok {
			t.Fatalf("GITHUB_OUTPUT line %q is not name<<delimiter", lines[i])
		}
		var val []string
		for i++; i < len(lines) && lines[i] != delim; i++ {
			val = append(val, lines[i])
		}
		out[name] = strings.Join(val, "\n")
	}
	return out
}

// contextDir writes files into a fresh build context.
func contextDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func randomName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// headDigest asks the registry directly (plain net/http, not regclient)
// what a tag points at: an independent check of what the program claims.
func (r rig) headDigest(t *testing.T, image, tag string) (string, int) {
	t.Helper()
	resp := r.request(t, http.MethodHead, "/v2/"+image+"/manifests/"+tag, nil, "")
	_ = resp.Body.Close()
	return resp.Header.Get("Docker-Content-Digest"), resp.StatusCode
}

var manifestTypes = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"

func (r rig) request(t *testing.T, method, path string, body io.Reader, contentType string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+r.registry+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(r.user, r.key)
	req.Header.Set("Accept", manifestTypes)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// copyTag points tag at the manifest from tag src, as another job would.
func (r rig) copyTag(t *testing.T, image, src, tag string) {
	t.Helper()
	resp := r.request(t, http.MethodGet, "/v2/"+image+"/manifests/"+src, nil, "")
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET manifest %s: %s", src, resp.Status)
	}
	put := r.request(t, http.MethodPut, "/v2/"+image+"/manifests/"+tag, strings.NewReader(string(body)), resp.Header.Get("Content-Type"))
	_ = put.Body.Close()
	if put.StatusCode != http.StatusCreated {
		t.Fatalf("PUT manifest %s: %s", tag, put.Status)
	}
}

var (
	baseOnce sync.Once
	baseRef  string
)

// baseImage pushes a busybox base image to the test registry once, for
// Dockerfiles that RUN something (there is no Docker Hub here).
func baseImage(t *testing.T, r rig) string {
	t.Helper()
	baseOnce.Do(func() {
		pushBusybox(t, r, "base/busybox", "1")
		baseRef = r.registry + "/base/busybox:1"
	})
	if baseRef == "" {
		t.Fatal("base image was not pushed")
	}
	return baseRef
}

// pushBusybox pushes an image of the host's static busybox (its applets
// installed in /bin) to r as image:tag.
func pushBusybox(t *testing.T, r rig, image, tag string) {
	t.Helper()
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static is missing (make tools installs it): %v", err)
	}
	dir := contextDir(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
		"busybox":    string(busybox),
	})
	if err := os.Chmod(filepath.Join(dir, "busybox"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := r.inputs(image, tag, dir)
	env["INPUT_BUILDKIT-ADDRESS"] = os.Getenv(testrig.EnvBuildkit) // the rig's, whatever r's
	if res := runAction(t, env, nil); res.code != 0 {
		t.Fatalf("push %s:%s: exit %d\n%s", image, tag, res.code, res.stdout)
	}
}

func TestPushNewVersion(t *testing.T) {
	r := requireRig(t)
	image := randomName("it/hello")
	env := r.inputs(image, "v1.0.0", "testdata/hello")
	env["GITHUB_ACTIONS"] = "true" // as a runner does: the key is masked
	res := runAction(t, env, nil)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	digest := res.outputs["digest"]
	if !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("digest output %q", digest)
	}
	for _, tag := range []string{"v1.0.0", testcheck.SHA} {
		got, status := r.headDigest(t, image, tag)
		if status != http.StatusOK || got != digest {
			t.Errorf("tag %s: status %d digest %q, want 200 %s", tag, status, got, digest)
		}
	}
	want := map[string]string{
		"image":       r.registry + "/" + image + "@" + digest,
		"tags":        r.registry + "/" + image + ":v1.0.0\n" + r.registry + "/" + image + ":" + testcheck.SHA,
		"version-tag": r.registry + "/" + image + ":v1.0.0",
		"sha-tag":     r.registry + "/" + image + ":" + testcheck.SHA,
	}
	for k, v := range want {
		if res.outputs[k] != v {
			t.Errorf("output %s = %q, want %q", k, res.outputs[k], v)
		}
	}
	if !strings.Contains(res.outputs["metadata"], `"digest":"`+digest+`"`) {
		t.Errorf("metadata %q lacks the digest", res.outputs["metadata"])
	}
	if !strings.Contains(res.stdout, "::notice::no commit time for sha "+testcheck.SHA) {
		t.Errorf("no notice that a sha outside any checkout makes the build unreproducible:\n%s", res.stdout)
	}
	if !strings.Contains(res.summary, digest) || !strings.Contains(res.summary, "| tag |") {
		t.Errorf("step summary lacks the digest or tags:\n%s", res.summary)
	}
	if !strings.Contains(res.stdout, "\nsummary: digest "+digest+"\n") {
		t.Errorf("the log lacks the summary as plain lines (for runners that do not render it):\n%s", res.stdout)
	}
	if !strings.HasPrefix(res.stdout, "::add-mask::"+r.key+"\n") {
		t.Errorf("the key is not masked first thing; output starts %q", firstLine(res.stdout))
	}
	testcheck.NoSecret(t, r.key, res.all()...)
}

func TestExistingVersionFailsBeforeBuild(t *testing.T) {
	r := requireRig(t)
	image := randomName("it/again")
	if res := runAction(t, r.inputs(image, "v1.0.0", "testdata/hello"), nil); res.code != 0 {
		t.Fatalf("first push: exit %d\n%s", res.code, res.stdout)
	}
	digest, _ := r.headDigest(t, image, "v1.0.0")
	res := runAction(t, r.inputs(image, "v1.0.0", "testdata/hello"), nil)
	if res.code != 1 {
		t.Fatalf("second push: exit %d, want 1\n%s", res.code, res.stdout)
	}
	testcheck.OneErrorLine(t, res.stdout, fmt.Sprintf("version tag v1.0.0 already exists in %s/%s (%s); version tags are immutable: bump the version", r.registry, image, digest))
	if strings.Contains(res.stdout, "#1 ") || strings.Contains(res.stdout, "::group::Build") {
		t.Errorf("a build step ran before the guard refused:\n%s", res.stdout)
	}
	if res.outputFile != "" {
		t.Errorf("a failed run wrote outputs: %q", res.outputFile)
	}
	testcheck.NoSecret(t, r.key, res.all()...)
}

func TestRunOnPushedBaseImage(t *testing.T) {
	r := requireRig(t)
	base := baseImage(t, r)
	dir := contextDir(t, map[string]string{
		"Dockerfile": "FROM " + base + "\nARG GREETING\nRUN echo \"$GREETING\" > /greeting && cat /greeting\n",
	})
	image := randomName("it/run")
	env := r.inputs(image, "v0.1.0", dir)
	env["INPUT_BUILD-ARGS"] = "GREETING=hello from RUN"
	env["INPUT_LABELS"] = "org.example.team=platform"
	res := runAction(t, env, nil)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	if !strings.Contains(res.stdout, "hello from RUN") {
		t.Errorf("RUN output missing from the build log:\n%s", res.stdout)
	}
	if got, status := r.headDigest(t, image, "v0.1.0"); status != http.StatusOK || got != res.outputs["digest"] {
		t.Errorf("version tag: %d %q, want %s", status, got, res.outputs["digest"])
	}
	testcheck.NoSecret(t, r.key, res.all()...)
}

func TestBuildOnly(t *testing.T) {
	r := requireRig(t)
	image := randomName("it/pr")
	env := r.inputs(image, "v1.0.0", "testdata/hello")
	env["INPUT_PUSH"] = "false"
	delete(env, "INPUT_USERNAME")
	delete(env, "INPUT_API-KEY")
	res := runAction(t, env, nil)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	if !strings.HasPrefix(res.outputs["digest"], "sha256:") || res.outputs["tags"] != "" {
		t.Errorf("outputs digest %q tags %q, want a digest and no tags", res.outputs["digest"], res.outputs["tags"])
	}
	if _, status := r.headDigest(t, image, "v1.0.0"); status != http.StatusNotFound {
		t.Errorf("push: false pushed the version tag (HEAD %d)", status)
	}
}

func TestWrongKey(t *testing.T) {
	r := requireRig(t)
	image := randomName("it/wrongkey")
	env := r.inputs(image, "v1.0.0", "testdata/hello")
	wrong := testcheck.ZotKey()
	env["INPUT_API-KEY"] = wrong
	res := runAction(t, env, nil)
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
	}
	testcheck.OneErrorLine(t, res.stdout, "api-key: credentials rejected by "+r.registry+` for username "ci"`)
	if strings.Contains(res.stdout, "#1 ") {
		t.Error("the build ran with credentials the registry rejected")
	}
	testcheck.NoSecret(t, wrong, res.all()...)
	testcheck.NoSecret(t, r.key, res.all()...)
}

func TestVersionAppearsDuringBuild(t *testing.T) {
	r := requireRig(t)
	for _, via := range []string{"action", "buildkit"} {
		t.Run("push-via "+via, func(t *testing.T) { versionAppearsDuringBuild(t, r, via) })
	}
}

func versionAppearsDuringBuild(t *testing.T, r rig, via string) {
	base := baseImage(t, r)
	image := randomName("it/race")
	seed := runAction(t, r.inputs(image, "seed", "testdata/hello"), nil)
	if seed.code != 0 {
		t.Fatalf("seed push: exit %d\n%s", seed.code, seed.stdout)
	}
	// The build's RUN step fetches this URL; the handler pushes the version
	// tag (as a racing job would) before it answers, so the tag appears
	// after the first guard check and before the second, every time.
	var once sync.Once
	gate := &http.Server{Addr: "127.0.0.1:0", Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		once.Do(func() { r.copyTag(t, image, "seed", "v2.0.0") })
		fmt.Fprintln(w, "go")
	})}
	url := serve(t, gate)
	dir := contextDir(t, map[string]string{
		"Dockerfile": "FROM " + base + "\nARG GATE\nRUN wget -q -O /gate \"$GATE\"\nCOPY Dockerfile /\n",
	})
	env := r.inputs(image, "v2.0.0", dir)
	env["INPUT_BUILD-ARGS"] = "GATE=" + url
	env["INPUT_PUSH-VIA"] = via
	res := runAction(t, env, nil)
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
	}
	testcheck.OneErrorLine(t, res.stdout, "version tag v2.0.0 already exists in "+r.registry+"/"+image+" ("+seed.outputs["digest"]+")")
	if got, _ := r.headDigest(t, image, "v2.0.0"); got != seed.outputs["digest"] {
		t.Errorf("version tag moved to %s; the racing job's %s must stay", got, seed.outputs["digest"])
	}
	if d, status := r.headDigest(t, image, testcheck.SHA); d != seed.outputs["digest"] || status != http.StatusOK {
		// The SHA tag is the seed's: the losing run must not have moved it.
		t.Errorf("SHA tag %d %q, want the seed's %s", status, d, seed.outputs["digest"])
	}
}

// serve runs srv on a free port until the test ends and returns its URL.
func serve(t *testing.T, srv *http.Server) string {
	t.Helper()
	// Listen before returning: with a port picked first and listened on
	// later, another process may take it meanwhile, or a client come early.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return "http://" + srv.Addr + "/"
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
