package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// benchCase is one numbered case of docs/benchmarks.md.
type benchCase struct {
	id, title string
	run       func(ctx context.Context, b *bench) error
}

// cases run in this order: the cold-cache case 6 and the slow cold
// go build come last.
var cases = []benchCase{
	{"4", "version tag exists: time to failure, no build step", caseVersionExists},
	{"1", "fresh push (1) and no-op re-push (2)", caseFreshPush},
	{"3", "matrix: 4 images sharing a base, concurrent vs sequential", caseMatrix},
	{"5", "peak RSS pushing a 1 GiB image", casePeakRSS},
	{"6", "whole job, cold and warm BuildKit cache", caseWholeJob},
	{"7", "action start: prebuilt binary vs cold go build", caseStart},
}

// pushTools are the ways to push compared side by side.
func (b *bench) pushTools() []tool {
	return append([]tool{toolAction, toolViaBK, toolOld, toolBuildkit}, prototypeTools()...)
}

func label(what string, img *image, t tool, metric string) string {
	return fmt.Sprintf("%s · %s · %s · %s", what, img.title, t.title, metric)
}

// timed runs j with t and records its whole time and, when the tool shows
// it, its push part.
func (b *bench) timed(ctx context.Context, caseID, what string, t tool, j job) (sample, error) {
	s, err := t.run(ctx, b, j)
	if err != nil {
		return s, fmt.Errorf("%s, %s, %s: %w", what, j.img.name, t.name, err)
	}
	b.res.addDuration(caseID, label(what, j.img, t, "whole"), s.total)
	if s.push > 0 {
		b.res.addDuration(caseID, label(what, j.img, t, "push part"), s.push)
	}
	logf("  %-9s %-4s %-8s whole %6.2fs  push %6.2fs  rss %4d MiB", what, j.img.name, t.name, s.total.Seconds(), s.push.Seconds(), s.rssKiB/1024)
	return s, nil
}

func (b *bench) eachRound(rounds int, f func(round int) error) error {
	for r := range rounds {
		logf(" round %d/%d", r+1, rounds)
		if err := f(r); err != nil {
			return err
		}
	}
	return nil
}

// rotate changes which tool goes first from round to round, so that none
// always runs on the coldest or warmest machine.
func rotate(tools []tool, k int) []tool {
	k %= len(tools)
	return append(append([]tool{}, tools[k:]...), tools[:k]...)
}

func caseFreshPush(ctx context.Context, b *bench) error {
	imgs, err := b.warm(ctx, "x8", "x1")
	if err != nil {
		return err
	}
	for _, img := range imgs {
		b.ratioGoals("1", "fresh push", img, "push part", toolOld, 0.5)
		b.ratioGoals("1", "fresh push", img, "whole", toolOld, 0)
		b.ratioGoals("1", "fresh push", img, "whole", toolBuildkit, 1.1)
	}
	for _, m := range []string{"whole", "push part"} {
		b.res.goal(goal{caseID: "2", label: "no-op re-push / fresh push, build-push-image, " + m + ", " + imgs[0].title,
			num: label("no-op re-push", imgs[0], toolAction, m), den: label("fresh push", imgs[0], toolAction, m), limit: 0.1})
	}
	return b.eachRound(b.rounds, func(round int) error {
		for _, img := range imgs {
			for _, t := range rotate(b.pushTools(), round) {
				if err := b.freshThenNoop(ctx, t, img, round); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// ratioGoals registers, for the action and each prototype, the ratio of
// its metric to the baseline tool's.
func (b *bench) ratioGoals(caseID, what string, img *image, metric string, base tool, limit float64) {
	for _, t := range b.pushTools() {
		if t.name == toolOld.name || t.name == toolBuildkit.name || (metric == "push part" && !t.pushPart) {
			continue
		}
		b.res.goal(goal{
			caseID: caseID, label: fmt.Sprintf("%s / %s, %s, %s", t.title, base.title, metric, img.title),
			num: label(what, img, t, metric), den: label(what, img, base, metric), limit: limit,
		})
	}
}

// freshThenNoop pushes img to a new repository, then (case 2) pushes it
// again under a new version tag: every blob is already there.
func (b *bench) freshThenNoop(ctx context.Context, t tool, img *image, round int) error {
	repo := b.repo("fresh", img.name, t.name, fmt.Sprint(round))
	if _, err := b.timed(ctx, "1", "fresh push", t, job{img: img, repo: repo, version: "v1.0.0"}); err != nil {
		return err
	}
	if img.name == "x8" {
		if _, err := b.timed(ctx, "2", "no-op re-push", t, job{img: img, repo: repo, version: "v1.0.1"}); err != nil {
			return err
		}
	}
	return b.forget(ctx, repo, "v1.0.0")
}

func caseVersionExists(ctx context.Context, b *bench) error {
	repo := b.repo("exists")
	if _, err := runAction(ctx, b, job{img: b.images["hello"], repo: repo, version: "v1.0.0"}); err != nil {
		return fmt.Errorf("first push: %w", err)
	}
	img := b.images["x8"]
	timeLabel := "version tag exists · " + img.title + " · build-push-image · start to failure"
	stepsLabel := "version tag exists · runs whose output has a BuildKit step (`#1 `)"
	b.res.goal(goal{caseID: "4", label: "time to failure (worst round)", num: timeLabel, limit: 1, worst: true})
	b.res.goal(goal{caseID: "4", label: "runs that started a build (must be 0)", num: stepsLabel, limit: 0.5, worst: true})
	// The check must see a build step when there is one.
	control, err := runAction(ctx, b, job{img: b.images["x1"], repo: repo, version: "v9", buildOnly: true})
	if err != nil || !hasBuildStep(control.out) {
		return fmt.Errorf("control build shows no BuildKit step (%v):\n%s", err, tail(control.out, 5))
	}
	return b.eachRound(max(b.rounds, 5), func(int) error {
		s, err := runAction(ctx, b, job{img: img, repo: repo, version: "v1.0.0", wantFail: true})
		if err != nil {
			return err
		}
		built := 0.0
		if hasBuildStep(s.out) {
			built = 1
		}
		b.res.addDuration("4", timeLabel, s.total)
		b.res.add("4", stepsLabel, "runs", built)
		logf("  failed after %.3fs: %s", s.total.Seconds(), tail(s.out, 1))
		return nil
	})
}

// hasBuildStep tells whether BuildKit's plain progress shows its first step.
func hasBuildStep(out string) bool {
	return strings.HasPrefix(out, "#1 ") || strings.Contains(out, "\n#1 ")
}

func caseMatrix(ctx context.Context, b *bench) error {
	names := make([]string, matrixImages)
	for i := range names {
		names[i] = fmt.Sprintf("m%d", i)
	}
	imgs, err := b.warm(ctx, names...)
	if err != nil {
		return err
	}
	tools := []tool{toolAction, toolViaBK}
	for _, t := range tools {
		b.res.goal(goal{caseID: "3", label: "concurrent / sequential, " + t.title,
			num: matrixLabel(t, "concurrent"), den: matrixLabel(t, "sequential")})
	}
	return b.eachRound(b.rounds, func(round int) error {
		for _, t := range tools {
			for _, mode := range rotateModes(round) {
				d, err := b.matrix(ctx, t, imgs, mode, round)
				if err != nil {
					return err
				}
				b.res.addDuration("3", matrixLabel(t, mode), d)
				logf("  matrix %-10s %-8s %6.2fs", mode, t.name, d.Seconds())
			}
		}
		return nil
	})
}

func rotateModes(round int) []string {
	if round%2 == 1 {
		return []string{"concurrent", "sequential"}
	}
	return []string{"sequential", "concurrent"}
}

func matrixLabel(t tool, mode string) string {
	return fmt.Sprintf("matrix of %d images sharing busybox + 2 × 32 MiB · %s · %s, wall time", matrixImages, t.title, mode)
}

// matrix pushes every image to its own new repository, all at once or one
// after another, and returns the wall time.
func (b *bench) matrix(ctx context.Context, t tool, imgs []*image, mode string, round int) (time.Duration, error) {
	start := time.Now()
	errs := make([]error, len(imgs))
	var wg sync.WaitGroup
	for i, img := range imgs {
		j := job{img: img, repo: b.repo("matrix", mode, t.name, img.name, fmt.Sprint(round)), version: "v1.0.0"}
		if mode == "sequential" {
			_, errs[i] = t.run(ctx, b, j)
			continue
		}
		wg.Go(func() { _, errs[i] = t.run(ctx, b, j) })
	}
	wg.Wait()
	took := time.Since(start)
	for i, img := range imgs {
		if errs[i] == nil {
			errs[i] = b.forget(ctx, b.repo("matrix", mode, t.name, img.name, fmt.Sprint(round)), "v1.0.0")
		}
	}
	return took, errors.Join(errs...)
}

func casePeakRSS(ctx context.Context, b *bench) error {
	imgs, err := b.warm(ctx, "big")
	if err != nil {
		return err
	}
	img := imgs[0]
	rssLabel := func(t tool) string { return label("fresh push", img, t, "peak RSS") }
	b.res.goal(goal{caseID: "5", label: "peak RSS of build-push-image (worst round)", num: rssLabel(toolAction), limit: 100, worst: true})
	tools := []tool{toolAction, toolOld}
	return b.eachRound(min(b.rounds, 2), func(round int) error {
		for _, t := range rotate(tools, round) {
			j := job{img: img, repo: b.repo("big", t.name, fmt.Sprint(round)), version: "v1.0.0"}
			s, err := b.timed(ctx, "5", "fresh push", t, j)
			if err != nil {
				return err
			}
			b.res.add("5", rssLabel(t), "MiB", float64(s.rssKiB)/1024)
			if err := b.forget(ctx, j.repo, j.version); err != nil {
				return err
			}
		}
		return nil
	})
}

func caseWholeJob(ctx context.Context, b *bench) error {
	imgs := []*image{b.images["hello"], b.images["x8"]}
	tools := []tool{toolAction, toolOld} // cold builds are slow: the two the case compares
	for _, img := range imgs {
		for _, cache := range []string{"cold", "warm"} {
			b.res.goal(goal{caseID: "6", label: fmt.Sprintf("build-push-image / old pipeline, %s cache, %s", cache, img.title),
				num: label("whole job, "+cache, img, toolAction, "whole"), den: label("whole job, "+cache, img, toolOld, "whole")})
		}
	}
	return b.eachRound(b.rounds, func(round int) error {
		for _, img := range imgs {
			for _, t := range rotate(tools, round) {
				if err := b.coldThenWarm(ctx, t, img, round); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// coldThenWarm empties BuildKit's cache, builds and pushes, then builds and
// pushes again (warm cache) to another new repository.
func (b *bench) coldThenWarm(ctx context.Context, t tool, img *image, round int) error {
	prune := exec.CommandContext(ctx, filepath.Join(b.tools, "buildctl"), "--addr", b.buildkit, "prune", "--all")
	if out, err := prune.CombinedOutput(); err != nil {
		return fmt.Errorf("buildctl prune: %w\n%s", err, out)
	}
	for _, cache := range []string{"cold", "warm"} {
		j := job{img: img, repo: b.repo("job", cache, img.name, t.name, fmt.Sprint(round)), version: "v1.0.0"}
		if _, err := b.timed(ctx, "6", "whole job, "+cache, t, j); err != nil {
			return err
		}
		if err := b.forget(ctx, j.repo, j.version); err != nil {
			return err
		}
	}
	return nil
}

func caseStart(ctx context.Context, b *bench) error {
	helpLabel := "start · `build-push-image --help`, prebuilt binary"
	err := b.eachRound(max(b.rounds, 5), func(int) error {
		s, err := execTimed(ctx, command{argv: []string{b.bin, "--help"}})
		b.res.addDuration("7", helpLabel, s.total)
		return err
	})
	if err != nil {
		return err
	}
	return b.coldGoBuild(ctx)
}

// coldGoBuild builds the action with an empty build cache, as a job that
// runs `go run` or `go build` on a fresh runner would (the module cache is
// warm: downloads are not measured).
func (b *bench) coldGoBuild(ctx context.Context) error {
	cache, err := os.MkdirTemp(b.work, "gocache-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	logf("  cold go build (empty GOCACHE), one round")
	c := command{
		argv: []string{"go", "build", "-C", b.root, "-trimpath", "-o", filepath.Join(b.work, "bpi-cold"), "."},
		env:  []string{"GOCACHE=" + cache},
	}
	s, err := execTimed(ctx, c)
	if err != nil {
		return err
	}
	b.res.addDuration("7", "start · cold `go build` (empty GOCACHE, warm module cache), one round", s.total)
	logf("  cold go build took %.1fs", s.total.Seconds())
	return nil
}
