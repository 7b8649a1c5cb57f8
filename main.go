// Command build-push-image builds a Dockerfile with BuildKit and pushes the
// image to an OCI registry under an immutable version tag and the commit SHA
// tag. It runs as a Forgejo/GitHub Actions step (inputs from INPUT_*) or by
// hand (the same inputs as flags).
//
// main wires the packages: internal/config reads the environment once
// into a Config, internal/buildkitd finds buildkitd, internal/publish builds
// and gets the image into the registry by digest (internal/build,
// internal/push) or, for the archive input, pushes a pre-built image
// without BuildKit (internal/source, internal/writer), internal/tags writes its tags as
// one transaction, deciding with internal/guard. "build-push-image plan"
// (plan/action.yml) is the second command: internal/plan says which image
// directories need publishing. After internal/config none of them reads
// the environment; docs/architecture.md has the map.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"github.com/sethvargo/go-githubactions"

	"github.com/blumeops/build-push-image/internal/config"
	// Imported first for its init: this process is closed to the other
	// processes of its user before anything reads an input.
	"github.com/blumeops/build-push-image/internal/harden"
	"github.com/blumeops/build-push-image/internal/oidc"
	"github.com/blumeops/build-push-image/internal/plan"
	"github.com/blumeops/build-push-image/internal/procenv"
	"github.com/blumeops/build-push-image/internal/redact"
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
			s.add(getenv(name), user)
			if key := strings.TrimSpace(getenv(name)); zotkey.IsAPIKey(key) {
				s.add(zotkey.Wrapped(user, key))
			}
		}
	}
	s.add(getenv(oidc.EnvRequestToken)) // the job's, whether oidc-audience asks for it or not
	if len(args) > 0 && args[0] == "plan" {
		return planMain(args[1:], lookupEnv, action, s, stdout, stderr)
	}
	cfg, err := config.Load(inputs, args, lookupEnv, stderr)
	if err != nil {
		return inputFailure(stdout, s, err)
	}
	for _, c := range cfg.RegistryCredentials() {
		s.add(c.Password, c.Username)
	}
	for _, v := range cfg.SecretValues() {
		s.add(v)
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
	p := &pipeline{cfg: cfg, action: action, progress: stdout, log: debugLog(cfg.Debug, stderr), ids: idTokens(cfg.Access, s)}
	if err := p.run(ctx); err != nil {
		printError(stdout, s.redact(p.explain(ctx, err)))
		return 1
	}
	return 0
}

// planMain is the plan command (plan/action.yml): which images need
// publishing, as outputs for the build job's matrix. The key is masked
// already.
func planMain(args []string, lookupEnv config.LookupEnv, action *githubactions.Action, s *secrets, stdout, stderr io.Writer) int {
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
	ids := idTokens(cfg.Access, s)
	if err := startIdentity(ctx, action, cfg.Access, ids); err != nil {
		line, ok := identityLine(cfg.Access, ids, cfg.Image, "read", err)
		if !ok {
			line = fmt.Sprintf("plan: %v", err)
		}
		printError(stdout, s.redact(line))
		return 1
	}
	regs := plan.NewRegistries(cfg.Access, debugLog(cfg.Debug, stderr), idLogin(ids)...)
	res, err := plan.Check(ctx, images, regs.Lookup)
	if err != nil {
		printError(stdout, s.redact(planLine(ctx, cfg, ids, err)))
		return 1
	}
	hosts := regs.Hosts()
	// The key is proven before any tag is adopted: a plan writes nothing
	// with a key the registry refuses.
	if err := checkPlanPush(ctx, action, cfg, res, hosts); err != nil {
		printError(stdout, s.redact(planPushLine(ctx, cfg, err)))
		return 1
	}
	if err := adoptTags(ctx, cfg, action, regs, res); err != nil {
		printError(stdout, s.redact(adoptLine(ctx, cfg, ids, err)))
		return 1
	}
	var logins []login
	for _, host := range slices.Sorted(maps.Keys(hosts)) {
		logins = append(logins, login{host: host, user: cfg.Username, key: cfg.APIKey, reg: hosts[host]})
	}
	warnKeyExpiry(ctx, action, cfg.Access, logins, time.Since(start))
	if err := markChanged(ctx, cfg.Changed, action, res); err != nil {
		printError(stdout, s.redact(err.Error()))
		return 1
	}
	setOutputs(action, plan.Result(res).Outputs())
	logPlan(action, plan.Result(res), time.Since(start))
	return 0
}

// inputFailure prints every bad input, one ::error:: line each: exit 2.
// --help is no failure.
func inputFailure(stdout io.Writer, s *secrets, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	for _, e := range config.ErrorList(err) {
		printError(stdout, s.redact(e.Error()))
	}
	return 2
}

// secrets are the run's secrets. Under a runner each is masked as soon
// as it is known, in every form (see maskValues); by hand nothing is
// masked, since there is no runner to read the command and it would echo
// the secret to the terminal, its scrollback and any log of a non-Actions
// CI. Runner or not, every error line has every form cut out (redact):
// a line may quote what the program did not write (a registry's answer).
type secrets struct {
	mu     sync.Mutex // a renewed ID token is added while the run goes on
	set    redact.Set
	action *githubactions.Action // nil by hand
	masked map[string]bool
}

func newSecrets(action *githubactions.Action, getenv func(string) string) *secrets {
	s := &secrets{masked: map[string]bool{}}
	if config.UnderRunner(getenv) {
		s.action = action
	}
	return s
}

// add keeps secret, and masks it under a runner; users are those it is
// the password of (its Basic-auth header is masked whole).
func (s *secrets) add(secret string, users ...string) {
	if strings.TrimSpace(secret) == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range maskValues(secret) {
		s.set.Add(v, users...)
		for _, form := range redact.Forms(v, users...) {
			if s.action != nil && !s.masked[form] {
				s.masked[form] = true
				s.action.AddMask(form)
			}
		}
	}
}

// redact cuts every form of every secret out of line.
func (s *secrets) redact(line string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set.Redact(line)
}

// minMaskedLine is how many letters and digits a line of a multi-line
// secret needs to be masked on its own: shorter lines ("{", "},", "a: 1")
// carry nothing secret, and masking them would blank them in every log.
const minMaskedLine = 4

// maskValues is what to mask for secret (each in every form, see
// secrets.add): the whole value and, since a
// runner masks line by line, each of its meaningful lines, trimmed. A
// line is meaningful when it holds at least minMaskedLine letters or
// digits and is not a PEM armor line (-----BEGIN ...-----), which is the
// same in every key and would blank public certificates too.
func maskValues(secret string) []string {
	out := []string{secret}
	for _, line := range strings.Split(secret, "\n") {
		line = strings.TrimSpace(line)
		if line != secret && meaningful(line) && !slices.Contains(out, line) {
			out = append(out, line)
		}
	}
	return out
}

func meaningful(line string) bool {
	if strings.HasPrefix(line, "-----") && strings.HasSuffix(line, "-----") {
		return false
	}
	n := 0
	for _, r := range line {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			n++
		}
	}
	return n >= minMaskedLine
}

// debugLog is regclient's log: on stderr at debug level when the runner
// asks for debug output (RUNNER_DEBUG=1), else nil (discarded).
func debugLog(debug bool, w io.Writer) *slog.Logger {
	if !debug {
		return nil
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
