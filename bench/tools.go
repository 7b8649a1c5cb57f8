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
	img           *image
	repo          string
	version       string
	buildOnly     bool // build without pushing (the action's --push false)
	skipIdentical bool // on-existing-version: skip-identical (a re-run)
	wantFail      bool // the run is expected to fail (case 4)
}

// sha is the job's commit SHA: 40 hex digits, different per job.
func (j job) sha() string { return fmt.Sprintf("%x", sha1.Sum([]byte(j.repo+":"+j.version))) }

// sample is what one timed run measured.
type sample struct {
	total  time.Duration // start to exit of every process of the tool
	push   time.Duration // the upload alone; 0 when BuildKit pushes during its export
	rssKiB int64         // peak RSS of the tool's largest process
	cpu    time.Duration // user + system time of the process and the children it waited for
	lines  []line        // the output, each line timestamped
	phases []phase       // where the time went
}

// out is the output as one string, for checks and error messages.
func (s sample) out() string {
	var b strings.Builder
	for _, l := range s.lines {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.String()
}

// tool is one way to build and push an image.
type tool struct {
	name  string // short, part of repository names
	title string
	run   func(ctx context.Context, b *bench, j job) (sample, error)
}

var (
	toolDefault  = tool{"default", "build-push-image (default: push-via auto)", runDefault}
	toolFallback = tool{"fallback", "build-push-image, push-via: action (the fallback path)", runFallback}
	toolOld      = tool{"skopeo", "seed: BuildKit OCI tar + skopeo copy", runOldPipeline}
	toolBuildkit = tool{"buildkit", "BuildKit's own push (buildctl)", runBuildkitPush}
)

func runDefault(ctx context.Context, b *bench, j job) (sample, error) {
	return runAction(ctx, b, j)
}

// runFallback runs the action's own upload from an OCI layout, the path
// the default falls back to when BuildKit's push fails.
func runFallback(ctx context.Context, b *bench, j job) (sample, error) {
	return runAction(ctx, b, j, "--push-via", "action")
}

// runAction runs the action as a runner would, with extra flags.
func runAction(ctx context.Context, b *bench, j job, extra ...string) (sample, error) {
	args := []string{
		b.bin, "--image", j.repo, "--version", j.version, "--sha", j.sha(),
		"--context", j.img.dir, "--file", j.img.dockerfile(),
		"--username", b.user, "--registry-tls", "disabled", "--buildkit-address", b.buildkit,
	}
	if j.buildOnly {
		args = append(args, "--push", "false")
	}
	if j.skipIdentical {
		args = append(args, "--on-existing-version", "skip-identical")
	}
	s, err := execTimed(ctx, command{
		argv: append(args, extra...), env: []string{"INPUT_API_KEY=" + b.key, "RUNNER_TEMP=" + b.work},
		wantFail: j.wantFail,
	})
	s.phases = actionPhases(s.lines, s.total)
	s.push, _ = uploadTime(s.lines)
	return s, err
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
	pushed, err := b.skopeoCopy(ctx, "oci-archive:"+tar, j.repo, j.version)
	if err != nil {
		return sample{}, err
	}
	return thenSkopeo(built, buildctlPhases(built.lines, built.total), pushed), nil
}

// skopeoCopy copies src (a skopeo source reference) to repo:tag.
func (b *bench) skopeoCopy(ctx context.Context, src, repo, tag string) (sample, error) {
	return execTimed(ctx, command{argv: []string{
		"skopeo", "copy", "--quiet", "--dest-authfile", b.authFile, "--dest-tls-verify=false", src, "docker://" + repo + ":" + tag,
	}})
}

// thenSkopeo is one run of two processes: one that prepares (with its
// phases), then skopeo copy.
func thenSkopeo(prep sample, phases []phase, copied sample) sample {
	return sample{
		total: prep.total + copied.total, push: copied.total, cpu: prep.cpu + copied.cpu,
		rssKiB: max(prep.rssKiB, copied.rssKiB), lines: append(prep.lines, copied.lines...),
		phases: append(phases, phase{phaseSkopeo, copied.total}),
	}
}

// runBuildkitPush lets buildkitd push the image itself, with the
// credentials from a docker config in the scratch directory.
func runBuildkitPush(ctx context.Context, b *bench, j job) (sample, error) {
	out := "type=image,name=" + j.repo + ":" + j.version + ",push=true,oci-mediatypes=true"
	s, err := execTimed(ctx, command{argv: b.buildctl(j.img, out), env: []string{"DOCKER_CONFIG=" + b.dockerConfig}})
	s.phases = buildctlPhases(s.lines, s.total)
	return s, err
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
	stdout   string   // a file stdout goes to, instead of the lines
	wantFail bool
}

// execTimed runs c with stdout and stderr merged, timestamps every line,
// and reads the peak RSS from the process's rusage.
func execTimed(ctx context.Context, c command) (sample, error) {
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.Env = append(os.Environ(), c.env...)
	pr, pw, err := os.Pipe()
	if err != nil {
		return sample{}, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if c.stdout != "" {
		out, err := os.Create(c.stdout)
		if err != nil {
			_ = pr.Close()
			_ = pw.Close()
			return sample{}, err
		}
		defer out.Close()
		cmd.Stdout = out
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		_ = pr.Close()
		_ = pw.Close()
		return sample{}, fmt.Errorf("start %s: %w", c.argv[0], err)
	}
	_ = pw.Close()
	stop := make(chan struct{})
	peak := peakRSS(cmd.Process.Pid, stop)
	lines := readLines(pr, start)
	waitErr := cmd.Wait()
	close(stop)
	_ = pr.Close()
	s := sample{total: time.Since(start), lines: lines, rssKiB: <-peak}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		if s.rssKiB == 0 {
			s.rssKiB = ru.Maxrss // exited before the first look: an upper bound
		}
	}
	return s, checkExit(c, waitErr, s.out())
}

// peakRSS follows the high-water mark of pid's resident memory (VmHWM)
// until stop, every 10 ms. The rusage of the child is no measure: Go
// starts it from a vfork sharing this process's memory, and the kernel
// counts that memory's peak, the bench's own, as the child's.
func peakRSS(pid int, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
				peak = max(peak, statusKiB(string(b), "VmHWM:"))
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// statusKiB reads a "Name:   1234 kB" line of /proc/<pid>/status.
func statusKiB(status, name string) int64 {
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, name); ok {
			var kib int64
			_, _ = fmt.Sscanf(strings.TrimSpace(v), "%d", &kib)
			return kib
		}
	}
	return 0
}

// readLines collects the output, each line with its arrival time.
func readLines(r *os.File, start time.Time) []line {
	var out []line
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*mib)
	for sc.Scan() {
		out = append(out, line{at: time.Since(start), text: sc.Text()})
	}
	return out
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
