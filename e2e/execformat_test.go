package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// TestExecFormatError: a RUN step of another architecture, on a machine
// without emulation for it (this test machine has no binfmt handlers), is
// one line saying to add emulation or use platforms.
func TestExecFormatError(t *testing.T) {
	r := requireRig(t)
	if _, err := os.Stat("/proc/sys/fs/binfmt_misc/qemu-aarch64"); err == nil {
		t.Fatal("this machine runs arm64 programs through binfmt_misc (qemu-aarch64); the test needs a machine that cannot")
	}
	dir := contextDir(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY hello /hello\nRUN [\"/hello\"]\n",
		"main.go":    "package main\n\nfunc main() {}\n",
		"go.mod":     "module hello\n",
	})
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "hello"), ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build an arm64 program: %v\n%s", err, out)
	}
	env := r.inputs(randomName("it/execformat"), "v1.0.0", dir)
	env["INPUT_PLATFORMS"] = "linux/arm64"
	res := runAction(t, env, nil)
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
	}
	testcheck.OneErrorLine(t, res.stdout, "platforms: a RUN step's program is for a platform buildkitd's machine cannot run without emulation (building linux/arm64); add emulation there (binfmt/QEMU")
	wantLine(t, res.stdout, `; exec format error: build failed: failed to solve: process "/hello" did not complete successfully: exit code: 1`)
}
