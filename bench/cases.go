package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// benchCase is one numbered case of docs/benchmarks.md.
type benchCase struct {
	id, title string
	run       func(ctx context.Context, b *bench) error
}

// cases run in this order; the build cases' 1 GiB image comes after the
// other builds, the archive cases last.
var cases = []benchCase{
	{"4", "version tag exists: time to failure, no build step", caseVersionExists},
	{"1", "fresh push (1) and no-op re-run (2)", caseFreshPush},
	{"3", "matrix: 4 concurrent legs vs 4 concurrent BuildKit pushes", caseMatrix},
	{"5", "the fallback path pushing a 1 GiB image: time and peak RSS", casePeakRSS},
	{"6", "archive push vs gunzip + skopeo copy docker-archive: (8 × 32 MiB, 1 GiB)", caseArchiveVsSkopeo},
	{"7", "second release of an 8-layer archive, 1 layer changed, vs skopeo with its cache warm", caseSecondRelease},
	{"8", "cold archive push (every layer new): gzip, zstd, BuildKit's own push", caseColdArchive},
	{"9", "plan of 200 images vs the hand-written detect loop (sed + curl -I)", casePlan},
	{"10", "signing-key: the same archive push signed and unsigned", caseSigning},
	{"11", "nix stream, first release: users' pigz + gunzip + skopeo vs archive: vs the stream (8 × 24 MiB; RSS at 1 GiB)", caseStream},
	{"12", "nix stream, next release with one store path changed: the same three", caseStreamNext},
	{"13", "text-like archive push (base64 layers, pigz -6) vs gunzip + skopeo copy docker-archive: (8 × 32 MiB)", caseTextArchive},
	{"14", "warm build with registry-immutable-tags (no pause) vs BuildKit's own push (1 × 32 MiB, 8 × 32 MiB)", caseImmutableBuild},
	{"15", "nix stream, 1 GiB (16 × 64 MiB): first, next with one path changed, re-run; users' pipeline, the stream (store warm), the floor", caseStreamBig},
}

// pushTools are the ways to push compared side by side.
var pushTools = []tool{toolDefault, toolFallback, toolOld, toolBuildkit}

func label(what string, img *image, t tool, metric string) string {
	return fmt.Sprintf("%s · %s · %s · %s", what, img.title, t.title, metric)
}

// ratio registers the goal num ≤ limit × den for one metric of two tools.
func (b *bench) ratio(caseID, what string, img *image, metric string, num, den tool, limit float64) {
	b.res.goal(goal{
		caseID: caseID, label: fmt.Sprintf("%s / %s, %s, %s", num.title, den.title, metric, img.title),
		num: label(what, img, num, metric), den: label(what, img, den, metric), limit: limit,
	})
}

// timed runs j with t and records its whole time, its upload when the
// tool shows it, and its phases.
func (b *bench) timed(ctx context.Context, caseID, what string, t tool, j job) (sample, error) {
	s, err := t.run(ctx, b, j)
	if err != nil {
		return s, fmt.Errorf("%s, %s, %s: %w", what, j.img.name, t.name, err)
	}
	b.record(caseID, what, j.img, t, s)
	logf("  %-13s %-4s %-8s whole %6.2fs  upload %6.2fs  rss %4d MiB", what, j.img.name, t.name, s.total.Seconds(), s.push.Seconds(), s.rssKiB/1024)
	return s, nil
}

func (b *bench) record(caseID, what string, img *image, t tool, s sample) {
	b.res.addDuration(caseID, label(what, img, t, "whole"), s.total)
	if s.push > 0 {
		b.res.addDuration(caseID, label(what, img, t, "upload"), s.push)
	}
	for _, p := range s.phases {
		b.res.addPhase(caseID, label(what, img, t, p.name), p.took)
	}
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
		b.ratio("1", "fresh push", img, "whole", toolDefault, toolBuildkit, 1.15)
		b.ratio("1", "fresh push", img, "whole", toolDefault, toolOld, 0.5)
		b.ratio("1", "fresh push", img, "whole", toolFallback, toolOld, 0.6)
		b.ratio("1", "fresh push", img, "upload", toolFallback, toolOld, 0)
		for _, t := range []tool{toolDefault, toolFallback} {
			b.res.goal(goal{caseID: "2", label: fmt.Sprintf("no-op re-run / fresh push, %s, %s", t.title, img.title),
				num: label("no-op re-run", img, t, "whole"), den: label("fresh push", img, t, "whole"), limit: noopLimit(t)})
		}
	}
	return b.eachRound(b.rounds, func(round int) error {
		for _, img := range imgs {
			if err := b.resync(ctx, img); err != nil {
				return err
			}
			for _, t := range rotate(pushTools, round) {
				if err := b.freshThenNoop(ctx, t, img, round); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// noopLimit is the no-op re-run's goal: the default's (issue 11); the
// fallback's is shown without one.
func noopLimit(t tool) float64 {
	if t.name == toolDefault.name {
		return 0.2
	}
	return 0
}

// freshThenNoop pushes img to a new repository, then (case 2, the action
// only) runs the same job again with on-existing-version: skip-identical,
// as a re-run of a job whose later step failed: the image is published.
func (b *bench) freshThenNoop(ctx context.Context, t tool, img *image, round int) error {
	j := job{img: img, repo: b.repo("fresh", img.name, t.name, fmt.Sprint(round)), version: "v1.0.0"}
	if _, err := b.timed(ctx, "1", "fresh push", t, j); err != nil {
		return err
	}
	if t.name == toolDefault.name || t.name == toolFallback.name {
		j.skipIdentical = true
		if _, err := b.timed(ctx, "2", "no-op re-run", t, j); err != nil {
			return err
		}
	}
	return b.forget(ctx, j.repo, j.version)
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
	if err != nil || !hasBuildStep(control.out()) {
		return fmt.Errorf("control build shows no BuildKit step (%v):\n%s", err, tail(control.out(), 5))
	}
	return b.eachRound(max(b.rounds, 5), func(int) error {
		s, err := runAction(ctx, b, job{img: img, repo: repo, version: "v1.0.0", wantFail: true})
		if err != nil {
			return err
		}
		built := 0.0
		if hasBuildStep(s.out()) {
			built = 1
		}
		b.res.addDuration("4", timeLabel, s.total)
		b.res.add("4", stepsLabel, "runs", built)
		logf("  failed after %.3fs: %s", s.total.Seconds(), tail(s.out(), 1))
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
	tools := []tool{toolDefault, toolBuildkit}
	b.res.goal(goal{caseID: "3", label: "4 concurrent legs: " + toolDefault.title + " / " + toolBuildkit.title,
		num: matrixLabel(toolDefault), den: matrixLabel(toolBuildkit), limit: 1.3})
	return b.eachRound(b.rounds, func(round int) error {
		for _, t := range rotate(tools, round) {
			d, err := b.matrix(ctx, t, imgs, round)
			if err != nil {
				return err
			}
			b.res.addDuration("3", matrixLabel(t), d)
			logf("  matrix %-8s %6.2fs", t.name, d.Seconds())
		}
		return nil
	})
}

func matrixLabel(t tool) string {
	return fmt.Sprintf("matrix of %d concurrent legs, images sharing busybox + 2 × 32 MiB · %s · wall time", matrixImages, t.title)
}

// matrix pushes every image to its own new repository, all at once, and
// returns the wall time; each leg's phases are recorded.
func (b *bench) matrix(ctx context.Context, t tool, imgs []*image, round int) (time.Duration, error) {
	start := time.Now()
	errs := make([]error, len(imgs))
	samples := make([]sample, len(imgs))
	var wg sync.WaitGroup
	for i, img := range imgs {
		j := job{img: img, repo: b.repo("matrix", t.name, img.name, fmt.Sprint(round)), version: "v1.0.0"}
		wg.Go(func() { samples[i], errs[i] = t.run(ctx, b, j) })
	}
	wg.Wait()
	took := time.Since(start)
	for i, img := range imgs {
		if errs[i] == nil {
			b.record("3", "matrix leg", imgs[0], t, samples[i])
			errs[i] = b.forget(ctx, b.repo("matrix", t.name, img.name, fmt.Sprint(round)), "v1.0.0")
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
	b.res.goal(goal{caseID: "5", label: "peak RSS of " + toolFallback.title + " (worst round)", num: rssLabel(toolFallback), limit: 100, worst: true})
	b.res.goal(goal{caseID: "5", label: "peak RSS of " + toolDefault.title + " (worst round)", num: rssLabel(toolDefault), limit: 100, worst: true})
	b.ratio("5", "fresh push", img, "whole", toolFallback, toolOld, 0.6)
	b.ratio("5", "fresh push", img, "upload", toolFallback, toolOld, 0)
	b.ratio("5", "fresh push", img, "whole", toolDefault, toolOld, 0.5)
	tools := []tool{toolFallback, toolDefault, toolOld}
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
