// Command build-push-image builds a Dockerfile with BuildKit and pushes the
// image to an OCI registry under an immutable version tag and the commit SHA
// tag. It runs as a Forgejo/GitHub Actions step (inputs from INPUT_*) or by
// hand (the same inputs as flags).
//
// main reads the environment once into a config and wires three packages:
// internal/build produces an OCI layout, internal/guard decides which tags
// may be written, internal/push publishes. None of them reads the
// environment.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sethvargo/go-githubactions"
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// realMain is main with its dependencies injected, so tests can run the
// whole program in-process.
func realMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	action := githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(stdout))
	// Mask the key before anything else is printed, even a usage error.
	for _, name := range []string{"INPUT_API-KEY", "INPUT_API_KEY"} {
		if key := getenv(name); strings.TrimSpace(key) != "" {
			maskSecret(action, key)
		}
	}
	cfg, err := loadConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		action.Errorf("%s", oneLine(err.Error()))
		return 2
	}
	for _, v := range cfg.Secrets {
		maskSecret(action, string(v))
	}
	if cfg.BuildkitTLS != nil && len(cfg.BuildkitTLS.Key) > 0 {
		maskSecret(action, string(cfg.BuildkitTLS.Key))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := &pipeline{cfg: cfg, action: action, progress: stdout, log: debugLog(cfg, stderr)}
	if err := p.run(ctx); err != nil {
		action.Errorf("%s", oneLine(p.explain(ctx, err)))
		return 1
	}
	return 0
}

// maskSecret asks the runner to mask the secret and each of its lines: a
// runner masks line by line, so a multi-line value needs every line masked.
func maskSecret(action *githubactions.Action, secret string) {
	action.AddMask(secret)
	for _, line := range strings.Split(secret, "\n") {
		if line = strings.TrimSpace(line); line != "" && line != secret {
			action.AddMask(line)
		}
	}
}

// debugLog is regclient's log: on stderr at debug level when the runner
// asks for debug output (RUNNER_DEBUG=1), else nil (discarded).
func debugLog(cfg config, w io.Writer) *slog.Logger {
	if !cfg.Debug {
		return nil
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// oneLine keeps an error to a single line: a runner shows only the first
// line of an ::error:: annotation, and a stack trace helps no one.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
