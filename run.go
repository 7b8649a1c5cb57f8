package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/sethvargo/go-githubactions"

	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/buildkitd"
	"github.com/blumeops/build-push-image/internal/guard"
	"github.com/blumeops/build-push-image/internal/push"
)

// errTagDenied marks a tag write the registry refused although the
// credentials were good: registry-side immutability.
var errTagDenied = errors.New("the registry refused to overwrite the tag")

// published is what a run produced, for outputs and the summary.
type published struct {
	Image      string   `json:"image"`
	Digest     string   `json:"digest"`
	Tags       []string `json:"tags"`
	VersionTag string   `json:"version-tag"`
	SHATag     string   `json:"sha-tag"`
	Pushed     bool     `json:"pushed"`
	Platforms  []string `json:"platforms,omitempty"`
	Seconds    float64  `json:"seconds"`
}

// pipeline is one run of the program.
type pipeline struct {
	cfg      config
	action   *githubactions.Action
	progress io.Writer    // BuildKit's plain progress goes here
	log      *slog.Logger // regclient's log, when debugging
	tagged   []string     // tags written so far, for the cancellation message
}

// run connects, guards, builds, pushes and tags, in that order.
func (p *pipeline) run(ctx context.Context) (err error) {
	cfg, action := p.cfg, p.action
	defer func() {
		// A bug must still end as one line, never as a stack trace.
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	start := time.Now()
	builder, stopBuildkit, err := buildkitd.Connect(ctx, cfg.buildkitd(), action)
	if err != nil {
		return err
	}
	defer stopBuildkit()

	var reg *push.Registry
	var g *guard.Guard
	if cfg.Push {
		if reg, g, err = connectRegistry(ctx, cfg, p.log); err != nil {
			return err
		}
		defer reg.Close()
		if _, err := g.CheckVersion(ctx, cfg.Version, ""); err != nil {
			return err
		}
	}

	res, cleanup, err := p.buildImage(ctx, builder)
	defer cleanup()
	if err != nil {
		return err
	}
	out := published{
		Image: cfg.Image, Digest: res.Digest.String(), Platforms: cfg.Platforms,
		VersionTag: cfg.Image + ":" + cfg.Version, SHATag: cfg.Image + ":" + cfg.shaTag(),
	}
	if cfg.Push {
		if err := p.publish(ctx, reg, g, res); err != nil {
			return err
		}
		out.Pushed = true
		out.Tags = []string{out.VersionTag, out.SHATag}
	}
	out.Seconds = float64(time.Since(start).Milliseconds()) / 1000
	report(action, out)
	return nil
}

func connectRegistry(ctx context.Context, cfg config, log *slog.Logger) (*push.Registry, *guard.Guard, error) {
	reg, err := push.New(cfg.Image, push.WithCredentials(cfg.Username, cfg.APIKey), push.WithTLS(cfg.RegistryTLS), push.WithLogger(log))
	if err != nil {
		return nil, nil, err
	}
	if err := reg.Ping(ctx); err != nil {
		_ = reg.Close()
		return nil, nil, err
	}
	return reg, guard.New(reg, cfg.Image, guard.WithPolicy(cfg.OnExisting)), nil
}

// buildImage builds into a fresh temporary OCI layout. The returned
// cleanup removes it and must be called whether the build failed or not.
func (p *pipeline) buildImage(ctx context.Context, b *build.Builder) (build.Result, func(), error) {
	cfg, action := p.cfg, p.action
	if cfg.Epoch.IsZero() {
		action.Noticef("no commit time for sha %s (is the context a git checkout holding it?): the image carries build-time timestamps and its digest will differ between builds; set source-date-epoch for a reproducible digest", cfg.SHA)
	}
	dir, err := os.MkdirTemp(cfg.TempDir, "build-push-image-")
	if err != nil {
		return build.Result{}, func() {}, fmt.Errorf("temp dir: %w", err)
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	action.Group("Build " + cfg.Image)
	start := time.Now()
	res, err := b.Build(ctx, cfg.BuildOpts.apply(build.Request{
		ContextDir: cfg.Context, Dockerfile: cfg.File, Target: cfg.Target,
		BuildArgs: cfg.BuildArgs, Labels: cfg.Labels, Platforms: cfg.Platforms,
		Annotations: cfg.Annotations, Secrets: cfg.Secrets, Epoch: cfg.Epoch,
		CacheFrom: cfg.CacheFrom, CacheTo: cfg.CacheTo,
		Provenance: cfg.Provenance, SBOM: cfg.SBOM,
		PushTo: p.pushTo(), PushInsecure: cfg.RegistryTLS != push.TLSEnabled,
		Credentials: registryCredentials(cfg),
		LoginHanded: func(host string) {
			action.Infof("buildkitd asked for the login to %s (it pulls from or pushes to it): handed over, in memory", host)
		},
		Progress: p.progress,
	}), dir)
	action.EndGroup()
	if err == nil {
		action.Infof("Built %s in %s", res.Digest, time.Since(start).Round(time.Millisecond))
	}
	return res, cleanup, err
}

// pushTo is the repository buildkitd pushes to by digest, with
// push-via: buildkit, or "" for an OCI layout the action pushes.
func (p *pipeline) pushTo() string {
	if p.cfg.Push && p.cfg.PushViaBuildkit {
		return p.cfg.Image
	}
	return ""
}

// registryCredentials lets the build pull base images from the registry it
// pushes to (and buildkitd push to it, with push-via: buildkit), with the
// same identity.
func registryCredentials(cfg config) []build.Credential {
	if cfg.Username == "" || cfg.APIKey == "" {
		return cfg.BuildOpts.Logins
	}
	own := []build.Credential{{Host: cfg.registry(), Username: cfg.Username, Password: cfg.APIKey}}
	return build.MergeCredentials(own, cfg.BuildOpts.Logins)
}

// publish pushes the image by digest, then writes the tags: the version tag
// only if it still does not exist, then the SHA tag.
func (p *pipeline) publish(ctx context.Context, reg *push.Registry, g *guard.Guard, res build.Result) error {
	cfg, action := p.cfg, p.action
	// The guard looks before the upload, so that an identical image already
	// published (on-existing-version: skip-identical) costs no upload, and
	// after it, since another job may have tagged meanwhile.
	if done, err := p.alreadyPublished(ctx, g, res); done || err != nil {
		return err
	}
	if res.Layout != "" { // else buildkitd pushed it by digest during the build
		action.Infof("Pushing %s@%s", cfg.Image, res.Digest)
		pushStart := time.Now()
		if err := reg.PushLayout(ctx, res.Layout, res.Digest); err != nil {
			return err
		}
		action.Infof("Pushed in %s", time.Since(pushStart).Round(time.Millisecond))
	}
	if done, err := p.alreadyPublished(ctx, g, res); done || err != nil {
		return err
	}
	tagStart := time.Now()
	if err := reg.Tag(ctx, res.Digest, cfg.Version); err != nil {
		if errors.Is(err, push.ErrDenied) {
			return fmt.Errorf("%w %s:%s (registry-enforced immutability): %w", errTagDenied, cfg.Image, cfg.Version, err)
		}
		return err
	}
	p.tagged = append(p.tagged, cfg.Version)
	if err := verifySettled(ctx, g, cfg.Version, res.Digest, time.Since(tagStart)); err != nil {
		return err
	}
	action.Infof("Tagged %s:%s", cfg.Image, cfg.Version)
	return p.tagSHA(ctx, reg, g, res)
}

// verifySettled re-reads the version tag after a pause. On a registry that
// allows overwrites, a job that passed its own guard check just before our
// write may overwrite the tag a moment later; its check-to-write takes about
// as long as our write did, so waiting a few times that lets it land before
// we look. It narrows the window, it cannot close it: only a registry that
// refuses tag updates makes this atomic.
func verifySettled(ctx context.Context, g *guard.Guard, tag string, d digest.Digest, tagTook time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(max(minSettle, 3*tagTook)):
	}
	return g.VerifyVersion(ctx, tag, d)
}

// minSettle is the shortest pause before the version tag is re-read.
const minSettle = 100 * time.Millisecond

// alreadyPublished asks the guard whether the version tag may be written;
// true means it already names exactly this image and nothing is to be done.
func (p *pipeline) alreadyPublished(ctx context.Context, g *guard.Guard, res build.Result) (bool, error) {
	done, err := g.CheckVersion(ctx, p.cfg.Version, res.Digest)
	if done {
		p.action.Infof("%s:%s already is this exact image (%s): nothing to write", p.cfg.Image, p.cfg.Version, res.Digest)
	}
	return done, err
}

// tagSHA points the SHA tag at the image. It is mutable: a rebuild of the
// same commit may move it, and a registry refusing that is only a warning.
func (p *pipeline) tagSHA(ctx context.Context, reg *push.Registry, g *guard.Guard, res build.Result) error {
	cfg, action := p.cfg, p.action
	tag := cfg.shaTag()
	need, err := g.NeedsTag(ctx, tag, res.Digest)
	if err != nil {
		return err
	}
	if !need {
		action.Infof("Tag %s:%s already points at %s", cfg.Image, tag, res.Digest)
		return nil
	}
	if err := reg.Tag(ctx, res.Digest, tag); err != nil {
		if errors.Is(err, push.ErrDenied) {
			action.Warningf("the registry refused to move tag %s:%s to %s (it names the same commit); left as it was", cfg.Image, tag, res.Digest)
			return nil
		}
		return err
	}
	p.tagged = append(p.tagged, tag)
	action.Infof("Tagged %s:%s", cfg.Image, tag)
	return nil
}

// report writes the outputs and the step summary.
func report(action *githubactions.Action, out published) {
	meta, _ := json.Marshal(out)
	setOutputs(action, [][2]string{
		{"digest", out.Digest},
		{"image", out.Image + "@" + out.Digest},
		{"tags", strings.Join(out.Tags, "\n")},
		{"version-tag", out.VersionTag},
		{"sha-tag", out.SHATag},
		{"metadata", string(meta)},
	})
	if action.Getenv("GITHUB_STEP_SUMMARY") != "" {
		action.AddStepSummary(summary(out))
	}
	logSummary(action, out)
}

// setOutputs writes each output to $GITHUB_OUTPUT with a random heredoc
// delimiter that cannot collide with a value, or prints them when the
// program runs outside a runner.
func setOutputs(action *githubactions.Action, kv [][2]string) {
	if action.Getenv("GITHUB_OUTPUT") == "" {
		for _, o := range kv {
			action.Infof("%s=%s", o[0], o[1])
		}
		return
	}
	for _, o := range kv {
		delim := randomDelimiter(o[1])
		action.IssueFileCommand(&githubactions.Command{
			Name:    "output",
			Message: fmt.Sprintf("%s<<%s\n%s\n%s", o[0], delim, o[1], delim),
		})
	}
}

func randomDelimiter(value string) string {
	for {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		d := "ghadelimiter_" + hex.EncodeToString(b)
		if !strings.Contains(value, d) {
			return d
		}
	}
}

// explain turns an error into the one line a user sees: what went wrong,
// which input it concerns, and how to fix it.
func (p *pipeline) explain(ctx context.Context, err error) string {
	cfg := p.cfg
	switch {
	case ctx.Err() != nil && len(p.tagged) == 0:
		return "cancelled (SIGINT or SIGTERM): stopped before any tag was written; temporary files removed"
	case ctx.Err() != nil:
		return fmt.Sprintf("cancelled (SIGINT or SIGTERM) after tagging %s; temporary files removed", strings.Join(p.tagged, ", "))
	case errors.Is(err, guard.ErrVersionExists), errors.Is(err, guard.ErrLostRace):
		return err.Error()
	case errors.Is(err, errTagDenied):
		return fmt.Sprintf("version tag %s already exists in %s: the registry refused to overwrite tag %s (registry-enforced immutability); version tags are immutable: bump the version",
			cfg.Version, cfg.Image, cfg.Version)
	case errors.Is(err, buildkitd.ErrNoDaemon):
		return fmt.Sprintf("buildkit-address: %v; set buildkit-address (or BUILDKIT_HOST) to a running buildkitd, or install buildkitd and runc, or Docker, on the runner", err)
	case errors.Is(err, build.ErrTLSConfig):
		return fmt.Sprintf("buildkit-tls-*: %v; give PEM files (or contents) of the CA, client certificate and key", err)
	case errors.Is(err, build.ErrUnreachable):
		return fmt.Sprintf("buildkit-address: no buildkitd answers at %s; start buildkitd there or point buildkit-address (or BUILDKIT_HOST) at one (%v)", cfg.BuildkitAddress, err)
	case errors.Is(err, push.ErrUnauthorized):
		return fmt.Sprintf("api-key: credentials rejected by %s for username %q; check that username and api-key belong together and the key has not expired", cfg.registry(), cfg.Username)
	case errors.Is(err, push.ErrDenied):
		return fmt.Sprintf("username: %q may not push to %s (denied by the registry); grant it read and create on that repository (%v)", cfg.Username, cfg.Image, err)
	case errors.Is(err, push.ErrUnreachable):
		return fmt.Sprintf("image: registry %s unreachable; check the host and port, and registry-tls (%v)", cfg.registry(), err)
	}
	return err.Error()
}
