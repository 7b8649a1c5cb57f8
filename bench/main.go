// Command bench measures build-push-image (its default, push-via: auto, and
// its fallback path, push-via: action) side by side with the pipeline it
// replaces (BuildKit's OCI tar exporter, then skopeo copy) and with BuildKit
// pushing by itself, and its archive input (a nix-style gzipped
// docker-archive) side by side with what its users run today (gunzip, then
// skopeo copy docker-archive:), against the registry and buildkitd of the
// test rig:
//
//	make bench    # = .tools/bin/rig -tools .tools/bin -- go run ./bench
//
// Progress goes to stderr; the result table goes to stdout and to
// bench/out/results.md. docs/benchmarks.md explains the cases and numbers.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run())
}

func run() int {
	rounds := flag.Int("rounds", 5, "rounds per case (the 1 GiB case: at most 2); the table shows medians")
	only := flag.String("cases", "", "comma-separated case ids to run, e.g. 1,4 (default: all)")
	out := flag.String("out", filepath.Join("bench", "out", "results.md"), "where the table is written")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	b, err := setup(ctx, *rounds)
	if err != nil {
		logf("bench: setup: %v", err)
		return 1
	}
	defer b.cleanup()
	failed := false
	for _, c := range selectCases(*only) {
		logf("== case %s: %s", c.id, c.title)
		caseStart := time.Now()
		if err := c.run(ctx, b); err != nil {
			logf("bench: case %s: %v", c.id, err)
			b.res.failures = append(b.res.failures, fmt.Sprintf("case %s: %v", c.id, err))
			failed = true
		}
		logf("== case %s done in %s", c.id, time.Since(caseStart).Round(time.Second))
	}
	table := b.res.markdown(b.machine(ctx), *rounds, time.Since(start))
	fmt.Print(table)
	if err := writeFile(*out, table); err != nil {
		logf("bench: %v", err)
		return 1
	}
	logf("bench: wrote %s; total %s", *out, time.Since(start).Round(time.Second))
	if failed {
		return 1
	}
	return 0
}

func selectCases(only string) []benchCase {
	if only == "" {
		return cases
	}
	want := map[string]bool{}
	for _, id := range strings.Split(only, ",") {
		want[strings.TrimSpace(id)] = true
	}
	var out []benchCase
	for _, c := range cases {
		if want[c.id] {
			out = append(out, c)
		}
	}
	return out
}

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("results dir: %w", err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// logf prints progress to stderr, with the time since the bench started.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(processStart).Seconds(), fmt.Sprintf(format, args...))
}

var processStart = time.Now()
