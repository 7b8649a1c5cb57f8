package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/buildkitd"
	"github.com/blumeops/build-push-image/internal/guard"
	"github.com/blumeops/build-push-image/internal/publish"
	"github.com/blumeops/build-push-image/internal/push"
	"github.com/blumeops/build-push-image/internal/tags"
)

// published is what a run produced, for outputs and the summary.
type published struct {
	Image      string `json:"image"`
	Digest     string `json:"digest"`
	VersionTag string `json:"version-tag"`
	SHATag     string `json:"sha-tag"`
	// Tags are the full references that name the image now: Written by
	// this run, and Unchanged (they already did). Never null.
	Tags      []string `json:"tags"`
	Written   []string `json:"written"`
	Unchanged []string `json:"unchanged"`
	Pushed    bool     `json:"pushed"`
	Platforms []string `json:"platforms,omitempty"`
	Seconds   float64  `json:"seconds"`
}

// pipeline is one run of the program.
type pipeline struct {
	cfg      config
	action   *githubactions.Action
	progress io.Writer    // BuildKit's plain progress goes here
	log      *slog.Logger // regclient's log, when debugging
	tags     []tags.Tag   // what became of each tag, for the messages
}

// run connects, guards, builds and publishes, then writes the tags as one
// transaction.
func (p *pipeline) run(ctx context.Context) (err error) {
	cfg := p.cfg
	defer func() {
		// A bug must still end as one line, never as a stack trace.
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	start := time.Now()
	builder, stopBuildkit, err := buildkitd.Connect(ctx, cfg.buildkitd(), p.action)
	if err != nil {
		return err
	}
	defer stopBuildkit()

	var reg *push.Registry
	var g *guard.Guard
	if cfg.Push {
		if reg, g, err = connectRegistry(cfg, p.log); err != nil {
			return err
		}
		defer reg.Close()
		// The first look-up is also the credentials check: a 401 here is
		// the api-key's, and the job fails before anything is built.
		if _, err := g.CheckVersion(ctx, cfg.Version, ""); err != nil {
			return err
		}
	}
	res, err := p.build(ctx, p.publisher(builder, reg))
	if err != nil {
		return err
	}
	out := published{
		Image: cfg.Image, Digest: res.Digest.String(), Platforms: cfg.Platforms,
		VersionTag: cfg.Image + ":" + cfg.Version, SHATag: cfg.Image + ":" + cfg.shaTag(),
		Tags: []string{}, Written: []string{}, Unchanged: []string{},
	}
	if cfg.Push {
		p.tags, err = tags.New(reg, g).Commit(ctx, tags.Plan{Digest: res.Digest, Version: cfg.Version, Before: []string{cfg.shaTag()}})
		if err != nil {
			return err
		}
		p.record(&out)
	}
	out.Seconds = float64(time.Since(start).Milliseconds()) / 1000
	report(p.action, out)
	return nil
}

// record lists the tags in the outputs, version tag first, and warns of
// every tag that could not be made to name the image.
func (p *pipeline) record(out *published) {
	out.Pushed = true
	slices.SortStableFunc(p.tags, func(a, b tags.Tag) int { return cmp.Compare(rank(p.cfg, a.Name), rank(p.cfg, b.Name)) })
	for _, t := range p.tags {
		ref := p.cfg.Image + ":" + t.Name
		switch t.State {
		case tags.Written:
			out.Tags, out.Written = append(out.Tags, ref), append(out.Written, ref)
		case tags.Unchanged:
			out.Tags, out.Unchanged = append(out.Tags, ref), append(out.Unchanged, ref)
		}
		if line := tagWarning(p.cfg, t); line != "" {
			p.action.Warningf("%s", line)
		} else if t.State == tags.Unchanged {
			p.action.Infof("%s already is this exact image (%s): nothing to write", ref, out.Digest)
		} else {
			p.action.Infof("Tagged %s", ref)
		}
	}
}

// rank orders tags for the outputs: the version tag, the SHA tag, the rest.
func rank(cfg config, tag string) int {
	switch tag {
	case cfg.Version:
		return 0
	case cfg.shaTag():
		return 1
	}
	return 2
}

func connectRegistry(cfg config, log *slog.Logger) (*push.Registry, *guard.Guard, error) {
	reg, err := push.New(cfg.Image, push.WithCredentials(cfg.Username, cfg.APIKey), push.WithTLS(cfg.RegistryTLS), push.WithLogger(log))
	if err != nil {
		return nil, nil, err
	}
	return reg, guard.New(reg, cfg.Image, guard.WithPolicy(cfg.OnExisting)), nil
}

// publisher is the one place the push path is chosen (push-via).
func (p *pipeline) publisher(b *build.Builder, reg *push.Registry) publish.Publisher {
	cfg := p.cfg
	if !cfg.Push {
		return publish.BuildOnly{Builder: b}
	}
	fast := publish.BuildKit{Builder: b, Repository: cfg.Image, Insecure: cfg.RegistryTLS != push.TLSEnabled}
	layout := publish.Layout{Builder: b, Uploader: reg, TempDir: cfg.TempDir, Log: p.action}
	switch cfg.PushVia {
	case publish.ViaBuildKit:
		return fast
	case publish.ViaAction:
		return layout
	}
	return publish.Auto{Fast: fast, Fallback: layout, Fell: func(err error) {
		p.action.Warningf("%s", fallbackLine(cfg, err))
	}}
}

// build runs the build through the publisher, in a log group.
func (p *pipeline) build(ctx context.Context, pub publish.Publisher) (build.Result, error) {
	cfg, action := p.cfg, p.action
	if cfg.Epoch.IsZero() {
		action.Noticef("no commit time for sha %s (is the context a git checkout holding it?): the image carries build-time timestamps and its digest will differ between builds; set source-date-epoch for a reproducible digest", cfg.SHA)
	}
	action.Group("Build " + cfg.Image)
	start := time.Now()
	res, err := pub.Publish(ctx, cfg.BuildOpts.apply(build.Request{
		ContextDir: cfg.Context, Dockerfile: cfg.File, Target: cfg.Target,
		BuildArgs: cfg.BuildArgs, Labels: cfg.Labels, Platforms: cfg.Platforms,
		Annotations: cfg.Annotations, Secrets: cfg.Secrets, Epoch: cfg.Epoch,
		CacheFrom: cfg.CacheFrom, CacheTo: cfg.CacheTo,
		Provenance: cfg.Provenance, SBOM: cfg.SBOM,
		Credentials: registryCredentials(cfg),
		LoginHanded: func(host string) {
			action.Infof("buildkitd asked for the login to %s (it pulls from or pushes to it): handed over, in memory", host)
		},
		Progress: p.progress,
	}))
	action.EndGroup()
	if err == nil {
		action.Infof("Built and published %s by digest in %s", res.Digest, time.Since(start).Round(time.Millisecond))
	}
	return res, err
}

// registryCredentials lets the build pull base images from the registry it
// pushes to (and buildkitd push to it), with the same identity.
func registryCredentials(cfg config) []build.Credential {
	if cfg.Username == "" || cfg.APIKey == "" {
		return cfg.BuildOpts.Logins
	}
	own := []build.Credential{{Host: cfg.registry(), Username: cfg.Username, Password: cfg.APIKey}}
	return build.MergeCredentials(own, cfg.BuildOpts.Logins)
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
