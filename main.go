// Command build-push-image builds a Dockerfile with BuildKit and pushes the
// image to an OCI registry under an immutable version tag and the commit SHA
// tag. It runs as a Forgejo/GitHub Actions step (inputs from INPUT_*) or by
// hand (the same inputs as flags).
//
// main wires the packages and prints the lines a user reads:
// internal/config reads the environment once into a Config, internal/run
// runs either command with it. In the run, internal/buildkitd finds
// buildkitd, internal/publish builds and gets the image into the registry
// by digest (internal/build, internal/push) or, for the archive input,
// pushes a pre-built image without BuildKit (internal/source, internal/writer),
// internal/tags writes its tags as one transaction, deciding with
// internal/guard. "build-push-image plan" (plan/action.yml) is the second
// command: internal/plan says which image directories need publishing.
// After internal/config none of them reads the environment;
// docs/architecture.md has the map.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/blumeops/build-push-image/internal/config"
	// Imported first for its init: this process is closed to the other
	// processes of its user before anything reads an input.
	"github.com/blumeops/build-push-image/internal/harden"
	"github.com/blumeops/build-push-image/internal/oidc"
	"github.com/blumeops/build-push-image/internal/plan"
	"github.com/blumeops/build-push-image/internal/procenv"
	"github.com/blumeops/build-push-image/internal/redact"
	"github.com/blumeops/build-push-image/internal/run"
	"github.com/blumeops/build-push-image/internal/zotkey"
)

func main() {
	code := realMain(os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	letTerminalDrain(os.Stdout, code)
	os.Exit(code)
}

// realMain is main with its dependencies injected, so tests can run the
// whole program in-process. lookupEnv is os.LookupEnv: an input not set
// at all takes its default (config.LookupEnv).
func realMain(args []string, lookupEnv config.LookupEnv, stdout, stderr io.Writer) int {
	if harden.Err != nil { // the key would be readable through /proc: read no input
		printError(stdout, harden.Err.Error())
		return 1
	}
	getenv := lookupEnv.Getenv
	if isVersionFlag(args) {
		fmt.Fprintln(stdout, versionLine())
		return 0
	}
	action := githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(stdout))
	s := newSecrets(action, getenv)
	// Mask the keys before anything else is printed, even a usage error;
	// the api-key's Basic-auth header with the username too, and the
	// bearer token a zot that combines hands back for a zot key (it holds
	// the key).
	user := getenv("INPUT_USERNAME")
	for _, input := range config.SecretInputs {
		upper := "INPUT_" + strings.ToUpper(input)
		for _, name := range []string{upper, strings.ReplaceAll(upper, "-", "_")} {
			s.Add(getenv(name), user)
			if key := strings.TrimSpace(getenv(name)); zotkey.IsAPIKey(key) {
				s.Add(zotkey.Wrapped(user, key))
			}
		}
	}
	s.Add(getenv(oidc.EnvRequestToken)) // the job's, whether oidc-audience asks for it or not
	if len(args) > 0 && args[0] == "plan" {
		return planMain(args[1:], lookupEnv, action, s, stdout, stderr)
	}
	cfg, err := config.Load(inputs, args, lookupEnv, stderr)
	if err != nil {
		return inputFailure(stdout, s, err)
	}
	for _, c := range cfg.RegistryCredentials() {
		s.Add(c.Password, c.Username)
	}
	for _, v := range cfg.SecretValues() {
		s.Add(v)
	}
	// What starts a process with os.Environ() (BuildKit's connection
	// helpers do: docker, kubectl, ssh) then passes on no input and no
	// secret either.
	procenv.Scrub(cfg.SecretValues()...)
	if h := cfg.BuildOpts.Helpers; len(h) > 0 {
		action.Infof("The Docker config names credential helpers (%s); they are not run: give those registries' logins in registry-credentials", strings.Join(h, ", "))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logVersion(action, cfg.VersionFrom)
	p := &run.Pipeline{Cfg: cfg, Progress: stdout, Env: newEnv(action, cfg.Access, cfg.Debug, s, stderr)}
	out, err := p.Run(ctx)
	if err != nil {
		printError(stdout, s.Redact(explain(ctx, p, err)))
		return 1
	}
	report(action, out)
	return 0
}

// newSecrets are the run's secrets (redact.Masker): under a runner each
// is masked as soon as it is known; by hand nothing is masked, since
// there is no runner to read the command and it would echo the secret to
// the terminal, its scrollback and any log of a non-Actions CI.
func newSecrets(action *githubactions.Action, getenv func(string) string) *redact.Masker {
	if config.UnderRunner(getenv) {
		return redact.NewMasker(action.AddMask)
	}
	return redact.NewMasker(nil)
}

// planMain is the plan command (plan/action.yml): which images need
// publishing, as outputs for the build job's matrix. The key is masked
// already.
func planMain(args []string, lookupEnv config.LookupEnv, action *githubactions.Action, s *redact.Masker, stdout, stderr io.Writer) int {
	cfg, err := config.LoadPlan(planInputs, args, lookupEnv, stderr)
	if err != nil {
		return inputFailure(stdout, s, err)
	}
	procenv.Scrub(cfg.APIKey, requestToken(cfg.Access))
	images, err := plan.Find(cfg)
	if err != nil {
		return inputFailure(stdout, s, err)
	}
	for _, img := range images {
		if img.From != nil { // nil: left out, it names no version
			versionNotice(action, *img.From) // the version itself is in its plan line
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	env := newEnv(action, cfg.Access, cfg.Debug, s, stderr)
	res, err := run.Plan(ctx, cfg, images, env)
	if err != nil {
		printError(stdout, s.Redact(err.Error())) // the plan tells its failure: its line
		return 1
	}
	setOutputs(action, res.Outputs())
	logPlan(action, res, time.Since(start))
	return 0
}

// newEnv is what both commands' runs are given: the action's lines,
// regclient's log when debugging, and the job's identity, each ID token masked as soon as it is fetched.
func newEnv(action *githubactions.Action, a config.Access, debug bool, s *redact.Masker, stderr io.Writer) run.Env {
	env := run.Env{Action: action, Log: debugLog(debug, stderr)}
	if a.IDToken != nil {
		env.IDs = oidc.NewSource(*a.IDToken, oidc.WithOnToken(func(token string) { s.Add(token) }))
	}
	return env
}

// requestToken is the job's token for asking for ID tokens, "" without
// oidc-audience.
func requestToken(a config.Access) string {
	if a.IDToken == nil {
		return ""
	}
	return a.IDToken.RequestToken
}

// inputFailure prints every bad input, one ::error:: line each: exit 2.
// --help is no failure.
func inputFailure(stdout io.Writer, s *redact.Masker, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	for _, e := range config.ErrorList(err) {
		printError(stdout, s.Redact(e.Error()))
	}
	return 2
}

// debugLog is regclient's log: on stderr at debug level when the runner
// asks for debug output (RUNNER_DEBUG=1), else nil (discarded).
func debugLog(debug bool, w io.Writer) *slog.Logger {
	if !debug {
		return nil
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
