package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// bench is one benchmark run: the rig it talks to, its scratch space, the
// images it pushes and the numbers it collects.
type bench struct {
	registry, user, key, buildkit, tools string

	root         string // repository root: where the action is built from
	work         string // scratch directory, removed at the end
	bin          string // the action, freshly built
	dockerConfig string // DOCKER_CONFIG for buildctl's own push
	authFile     string // skopeo's --dest-authfile
	runID        string // keeps repositories of different runs apart
	rounds       int

	images map[string]*image
	warmed map[string]bool
	res    *results
}

// rigEnv names the variables the rig sets (internal/testrig).
var rigEnv = []string{"BPI_TEST_REGISTRY", "BPI_TEST_USER", "BPI_TEST_KEY", "BUILDKIT_HOST", "BPI_TEST_TOOLS"}

func setup(ctx context.Context, rounds int) (*bench, error) {
	vals := make([]string, len(rigEnv))
	for i, name := range rigEnv {
		if vals[i] = os.Getenv(name); vals[i] == "" {
			return nil, fmt.Errorf("%s is not set: run under the test rig (make bench)", name)
		}
	}
	b := &bench{
		registry: vals[0], user: vals[1], key: vals[2], buildkit: vals[3], tools: vals[4],
		runID: randomHex(4), rounds: max(rounds, 1), images: map[string]*image{}, warmed: map[string]bool{}, res: newResults(),
	}
	steps := []func(context.Context) error{b.dirs, b.buildAction, b.writeCredentials, b.makeImages}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			b.cleanup()
			return nil, err
		}
	}
	return b, nil
}

func (b *bench) cleanup() {
	if b.work != "" {
		_ = os.RemoveAll(b.work)
	}
}

func (b *bench) dirs(context.Context) error {
	var err error
	if b.root, err = os.Getwd(); err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	if _, err := os.Stat(filepath.Join(b.root, "go.mod")); err != nil {
		return fmt.Errorf("run from the repository root: %w", err)
	}
	if b.work, err = os.MkdirTemp("", "bpi-bench-"); err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	return nil
}

// buildAction builds the action the way a runner would use it: one binary.
func (b *bench) buildAction(ctx context.Context) error {
	b.bin = filepath.Join(b.work, "build-push-image")
	logf("building the action: go build -o %s .", b.bin)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", b.bin, ".")
	cmd.Dir = b.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// writeCredentials writes the one auth file format both docker (buildctl)
// and containers/image (skopeo) read, into the scratch directory only.
func (b *bench) writeCredentials(context.Context) error {
	auth := base64.StdEncoding.EncodeToString([]byte(b.user + ":" + b.key))
	data, err := json.Marshal(map[string]any{"auths": map[string]any{b.registry: map[string]string{"auth": auth}}})
	if err != nil {
		return err
	}
	b.dockerConfig = filepath.Join(b.work, "docker")
	b.authFile = filepath.Join(b.dockerConfig, "config.json")
	if err := os.MkdirAll(b.dockerConfig, 0o700); err != nil {
		return fmt.Errorf("docker config dir: %w", err)
	}
	if err := os.WriteFile(b.authFile, data, 0o600); err != nil {
		return fmt.Errorf("auth file: %w", err)
	}
	return nil
}

// warm builds each image once, the first time a case asks for it (see
// resync): every tool then starts from the same warm cache, compressed
// layers included, unless a case says otherwise.
func (b *bench) warm(ctx context.Context, names ...string) ([]*image, error) {
	imgs := make([]*image, len(names))
	for i, name := range names {
		img := b.images[name]
		imgs[i] = img
		if b.warmed[name] {
			continue
		}
		logf("warm-up build of %s (%s)", img.name, img.title)
		if err := b.resync(ctx, img); err != nil {
			return nil, fmt.Errorf("warm-up %s: %w", img.name, err)
		}
		b.warmed[name] = true
	}
	return imgs, nil
}

// resync builds img with buildctl into buildkitd's image store, untimed,
// pushing nothing (the image exporter compresses the layers). After a build of another image, the first build of
// this one paid 1–2 s more in its solve (256 MiB), whichever tool ran it:
// buildkitd re-reads the context it keeps one copy of per local name. A
// case calls it before it times a series of runs of one image.
func (b *bench) resync(ctx context.Context, img *image) error {
	_, err := execTimed(ctx, command{argv: b.buildctl(img, "type=image,name="+b.repo("warmup", img.name)+",push=false")})
	return err
}

// repo is a repository of this run; parts make it unique per case and
// round, so that every push is a fresh one unless a case reuses it.
func (b *bench) repo(parts ...string) string {
	return b.registry + "/bench-" + b.runID + "/" + strings.Join(parts, "-")
}

// machine describes where the numbers come from.
func (b *bench) machine(ctx context.Context) []string {
	version := func(name string, args ...string) string {
		out, err := exec.CommandContext(ctx, name, args...).Output()
		if err != nil {
			return "unknown"
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	return []string{
		fmt.Sprintf("CPU: %d cores, %s", runtime.NumCPU(), cpuModel()),
		"kernel: " + version("uname", "-sr"),
		"Go: " + runtime.Version(),
		"BuildKit: " + version(filepath.Join(b.tools, "buildctl"), "--version"),
		"registry: " + version(filepath.Join(b.tools, "registry"), "--version"),
		"skopeo: " + version("skopeo", "--version"),
	}
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown model"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown model"
}

func randomHex(n int) string {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return hex.EncodeToString(p)
}
