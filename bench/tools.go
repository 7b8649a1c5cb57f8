package main

import (
	"bufio"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// job is one build and push of an image to repo:version.
type job struct {
	img       *image
	repo      string
	version   string
	buildOnly bool // build without pushing (the action's --push false)
	wantFail  bool // the run is expected to fail (case 4)
}

// sha is the job's commit SHA: 40 hex digits, different per job.
func (j job) sha() string { return fmt.Sprintf("%x", sha1.Sum([]byte(j.repo+":"+j.version))) }

// sample is what one timed run measured.
type sample struct {
	total  time.Duration // start to exit of every process of the tool
	push   time.Duration // the push part alone; 0 when it cannot be told apart
	rssKiB int64         // peak RSS of the tool's largest process
	out    string        // combined output, for checks and error messages
}

// tool is one way to build and push an image.
type tool struct {
	name     string // short, part of repository names
	title    string
	run      func(ctx context.Context, b *bench, j job) (sample, error)
	pushPart bool // the tool's output tells the push apart from the build
}

var (
	toolAction   = tool{"action", "build-push-image", runAction, true}
	toolViaBK    = tool{"viabk", "build-push-image, push-via: buildkit", runActionViaBuildkit, false}
	toolOld      = tool{"skopeo", "old: BuildKit OCI tar + skopeo copy", runOldPipeline, true}
	toolBuildkit = tool{"buildkit", "BuildKit's own push (buildctl)", runBuildkitPush, false}
)

// pushMark is the line the action prints when the build is done and the
// push starts.
const pushMark = "Pushing "

func runAction(ctx context.Context, b *bench, j job) (sample, error) {
	return runActionLike(ctx, b, j, []string{b.bin})
}

// runActionViaBuildkit runs the action with buildkitd pushing by digest:
// there is no separate push part, the upload happens inside the build.
func runActionViaBuildkit(ctx context.Context, b *bench, j job) (sample, error) {
	return runActionLike(ctx, b, j, []string{b.bin, "--push-via", "buildkit"})
}

// runActionLike runs the action, or a prototype taking the same flags.
func runActionLike(ctx context.Context, b *bench, j job, argv []string) (sample, error) {
	args := []string{
		"--image", j.repo, "--version", j.version, "--sha", j.sha(),
		"--context", j.img.dir, "--file", j.img.dockerfile(),
		"--username", b.user, "--registry-tls", "disabled", "--buildkit-address", b.buildkit,
	}
	if j.buildOnly {
		args = append(args, "--push", "false")
	}
	return execTimed(ctx, command{
		argv: append(argv, args...), env: []string{"INPUT_API_KEY=" + b.key, "RUNNER_TEMP=" + b.work},
		mark: pushMark, wantFail: j.wantFail,
	})
}

// runOldPipeline is the pipeline the action replaces: BuildKit exports an
// OCI tar, skopeo copies it to the registry.
func runOldPipeline(ctx context.Context, b *bench, j job) (sample, error) {
	tar := filepath.Join(b.work, "old-"+randomHex(4)+".tar")
	defer os.Remove(tar)
	built, err := execTimed(ctx, command{argv: b.buildctl(j.img, "type=oci,dest="+tar)})
	if err != nil {
		return sample{}, err
	}
	pushed, err := execTimed(ctx, command{argv: []string{
		"skopeo", "copy", "--quiet", "--dest-authfile", b.authFile, "--dest-tls-verify=false",
		"oci-archive:" + tar, "docker://" + j.repo + ":" + j.version,
	}})
	if err != nil {
		return sample{}, err
	}
	return sample{
		total: built.total + pushed.total, push: pushed.total,
		rssKiB: max(built.rssKiB, pushed.rssKiB), out: built.out + pushed.out,
	}, nil
}

// runBuildkitPush lets buildkitd push the image itself, with the
// credentials from a docker config in the scratch directory.
func runBuildkitPush(ctx context.Context, b *bench, j job) (sample, error) {
	out := "type=image,name=" + j.repo + ":" + j.version + ",push=true,oci-mediatypes=true"
	return execTimed(ctx, command{argv: b.buildctl(j.img, out), env: []string{"DOCKER_CONFIG=" + b.dockerConfig}})
}

func (b *bench) buildctl(img *image, output string) []string {
	return []string{
		filepath.Join(b.tools, "buildctl"), "--addr", b.buildkit, "build", "--progress", "plain",
		"--frontend", "dockerfile.v0", "--local", "context=" + img.dir, "--local", "dockerfile=" + img.dir,
		"--output", output,
	}
}

// command is one process to time.
type command struct {
	argv     []string
	env      []string // added to the bench's own environment
	mark     string   // when a line starts with it, push is timed from there
	wantFail bool
}

// execTimed runs c with stdout and stderr merged, timestamps the mark
// line, and reads the peak RSS from the process's rusage.
func execTimed(ctx context.Context, c command) (sample, error) {
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.Env = append(os.Environ(), c.env...)
	pr, pw, err := os.Pipe()
	if err != nil {
		return sample{}, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	start := time.Now()
	if err := cmd.Start(); err != nil {
		_ = pr.Close()
		_ = pw.Close()
		return sample{}, fmt.Errorf("start %s: %w", c.argv[0], err)
	}
	_ = pw.Close()
	out, marked := readLines(pr, c.mark)
	waitErr := cmd.Wait()
	end := time.Now()
	_ = pr.Close()
	s := sample{total: end.Sub(start), out: out}
	if !marked.IsZero() {
		s.push = end.Sub(marked)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.rssKiB = ru.Maxrss
	}
	return s, checkExit(c, waitErr, out)
}

// readLines collects the output and the time the mark line arrived.
func readLines(r *os.File, mark string) (string, time.Time) {
	var out strings.Builder
	var marked time.Time
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*mib)
	for sc.Scan() {
		line := sc.Text()
		if mark != "" && marked.IsZero() && strings.HasPrefix(line, mark) {
			marked = time.Now()
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	return out.String(), marked
}

func checkExit(c command, err error, out string) error {
	var exit *exec.ExitError
	switch {
	case err == nil && c.wantFail:
		return fmt.Errorf("%s succeeded, expected a failure:\n%s", filepath.Base(c.argv[0]), tail(out, 20))
	case err == nil, c.wantFail && errors.As(err, &exit):
		return nil
	}
	return fmt.Errorf("%s: %w:\n%s", filepath.Base(c.argv[0]), err, tail(out, 20))
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
