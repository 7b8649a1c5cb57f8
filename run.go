package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/sethvargo/go-githubactions"

	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/buildkitd"
	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/guard"
	"github.com/blumeops/build-push-image/internal/oidc"
	"github.com/blumeops/build-push-image/internal/proofs"
	"github.com/blumeops/build-push-image/internal/publish"
	"github.com/blumeops/build-push-image/internal/push"
	"github.com/blumeops/build-push-image/internal/sign"
	"github.com/blumeops/build-push-image/internal/tags"
	"github.com/blumeops/build-push-image/internal/writer"
)

// published is what a run produced, for outputs and the summary.
type published struct {
	Image string `json:"image"`
	// Images are all the repositories, the first being Image.
	Images     []string `json:"images"`
	Digest     string   `json:"digest"`
	VersionTag string   `json:"version-tag"`
	SHATag     string   `json:"sha-tag"`
	// Tags are the full references that name the image now: Written by
	// this run, and Unchanged (they already did). Never null.
	Tags      []string `json:"tags"`
	Written   []string `json:"written"`
	Unchanged []string `json:"unchanged"`
	Pushed    bool     `json:"pushed"`
	// Signature is the first repository's signature (signing-key), and
	// Verify the cosign command that checks it.
	Signature string   `json:"signature,omitempty"`
	Verify    string   `json:"-"`
	Platforms []string `json:"platforms,omitempty"`
	Seconds   float64  `json:"seconds"`
}

// pipeline is one run of the program.
type pipeline struct {
	cfg      config.Config
	action   *githubactions.Action
	progress io.Writer    // BuildKit's plain progress goes here
	log      *slog.Logger // regclient's log, when debugging
	done     []imageTag   // what became of each tag, for the messages
	// signer signs the image in each repository before its tags (nil
	// without signing-key); signatures are what it stored or found.
	signer     *sign.Signer
	signatures []sign.Signature
	// ids are the job's OIDC ID tokens (oidc-audience), the login instead
	// of a key; nil without.
	ids *oidc.Source
}

// target is one repository the image goes to, with its guard.
type target struct {
	image string
	reg   *push.Registry
	guard *guard.Guard
}

// imageTag is what became of one tag of one repository.
type imageTag struct {
	image string
	tags.Tag
}

func (t imageTag) ref() string { return t.image + ":" + t.Name }

// run connects, guards, builds and publishes, then writes the tags of each
// repository as one transaction.
func (p *pipeline) run(ctx context.Context) (err error) {
	cfg := p.cfg
	defer func() {
		// A bug must still end as one line, never as a stack trace.
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	start := time.Now()
	logVersion(p.action, cfg.VersionFrom)
	if cfg.Signing.Key != nil {
		p.signer = sign.New(cfg.Signing.Key)
	}
	if cfg.SHAFromGit {
		p.action.Infof("sha %s: git rev-parse HEAD in %s (neither sha nor $GITHUB_SHA is set)", cfg.SHA, cfg.Context)
	}
	var builder *build.Builder
	if cfg.Archive == "" { // an archive is built already: no buildkitd is looked for
		b, stopBuildkit, err := buildkitd.Connect(ctx, cfg.Buildkitd(), p.action)
		if err != nil {
			return err
		}
		defer stopBuildkit()
		builder = b
	}

	var targets []target
	compareOnly := false
	if cfg.Push {
		if err := startIdentity(ctx, p.action, cfg.Access, p.ids); err != nil {
			return err
		}
		targets, err = connectRegistries(cfg, p.ids, p.log)
		defer closeAll(targets)
		if err != nil {
			return err
		}
		if err := p.checkPush(ctx, targets); err != nil { // before the build or the stream starts
			return err
		}
		if compareOnly, err = checkVersions(ctx, targets, cfg.VersionTag()); err != nil {
			return err
		}
		warnKeyExpiry(ctx, p.action, cfg.Access, p.logins(targets), time.Since(start))
	}
	var published map[string]digest.Digest // the pull-request check's
	if !cfg.Push && cfg.Archive != "" {
		targets, published, err = p.anonymousTargets(ctx)
		defer closeAll(targets)
		if err != nil {
			return err
		}
	}
	res, err := p.build(ctx, p.publisher(builder, targets, compareOnly), compareOnly)
	if err != nil {
		return err
	}
	if published != nil {
		if err := p.checkPublished(targets, published, res.Digest); err != nil {
			return err
		}
	}
	out := newPublished(cfg, res)
	if cfg.Push {
		if err := p.commit(ctx, targets, res); err != nil {
			return err
		}
		p.record(&out)
	}
	out.Seconds = float64(time.Since(start).Milliseconds()) / 1000
	report(p.action, out)
	return nil
}

// newPublished is the outputs of a build, before any tag: every list
// empty, never null.
func newPublished(cfg config.Config, res build.Result) published {
	return published{
		Image: cfg.Image, Images: cfg.Images, Digest: res.Digest.String(), Platforms: cfg.Platforms,
		VersionTag: cfg.Image + ":" + cfg.VersionTag(), SHATag: cfg.Image + ":" + cfg.SHATag(),
		Tags: []string{}, Written: []string{}, Unchanged: []string{},
	}
}

// checkVersions fails before the build when the version tag exists in any of
// the repositories; under skip-identical, compareOnly says it exists in
// all of them. A 401 here is the api-key's (checkPush proved it first
// when there is one).
func checkVersions(ctx context.Context, targets []target, versionTag string) (compareOnly bool, err error) {
	compareOnly = true
	for _, t := range targets {
		names, err := t.guard.CheckVersion(ctx, versionTag, guard.Image{})
		if err != nil {
			return false, err
		}
		compareOnly = compareOnly && names != ""
	}
	return compareOnly, nil
}

// commit writes the tags of each repository in turn, each in the same
// order: SHA tag, version tag, tags that follow releases.
func (p *pipeline) commit(ctx context.Context, targets []target, res build.Result) error {
	cfg := p.cfg
	plan := tags.Plan{Digest: res.Digest, Manifest: res.Manifest, Version: cfg.VersionTag(), Release: cfg.Version, Before: []string{cfg.SHATag()}, After: cfg.Follow()}
	for _, t := range targets {
		opts := []tags.Opt{tags.WithNoDowngrade(t.reg)}
		if cfg.ImmutableTags {
			opts = append(opts, tags.WithImmutable())
		}
		if p.signer != nil {
			opts = append(opts, tags.WithSigner(signing{p, t}))
		}
		done, err := tags.New(t.reg, t.guard, opts...).Commit(ctx, plan)
		for _, d := range done {
			p.done = append(p.done, imageTag{t.image, d})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// signing signs the image in one repository before its tags
// (tags.Signer), and says what it did.
type signing struct {
	p *pipeline
	t target
}

func (s signing) Sign(ctx context.Context, d digest.Digest) error {
	start := time.Now()
	sig, err := s.p.signer.Ensure(ctx, s.t.reg, d)
	if err != nil {
		return fmt.Errorf("%s@%s: %w", s.t.image, d, err)
	}
	s.p.signatures = append(s.p.signatures, sig)
	took := time.Since(start).Round(time.Millisecond)
	if sig.State == sign.Unchanged {
		s.p.action.Infof("%s@%s is signed by the key already (signature %s, checked in %s): no second signature", s.t.image, d, sig.Digest, took)
	} else {
		s.p.action.Infof("Signed %s@%s: signature %s stored and read back before its tags in %s", s.t.image, d, sig.Digest, took)
	}
	return nil
}

// record lists the tags in the outputs, per repository the version tag
// first, and says what became of each. When the version tag keeps the same
// image by another digest (guard.Same), the outputs name that image: it
// is what every tag names.
func (p *pipeline) record(out *published) {
	for _, t := range p.done {
		if t.image == p.cfg.Image && t.Name == p.cfg.VersionTag() && t.Other != "" {
			p.action.Infof("The digest output is %s, not %s (%s): %s names the image published first, the same config and layers with other annotations, and every tag names it", t.Other, out.Digest, strings.ToLower(p.step().got), t.ref())
			out.Digest = t.Other.String() // the same image, published first: every tag names it
		}
	}
	if len(p.signatures) > 0 {
		out.Signature = p.signatures[0].Digest.String()
		out.Verify = verifyLine(p.cfg, out.Image+"@"+out.Digest)
	}
	slices.SortStableFunc(p.done, func(a, b imageTag) int {
		return cmp.Or(cmp.Compare(slices.Index(p.cfg.Images, a.image), slices.Index(p.cfg.Images, b.image)), cmp.Compare(rank(p.cfg, a.Name), rank(p.cfg, b.Name)))
	})
	for _, t := range p.done {
		switch t.State {
		case tags.Written:
			out.Tags, out.Written = append(out.Tags, t.ref()), append(out.Written, t.ref())
			out.Pushed = true // pushed: a tag was written
		case tags.Unchanged:
			out.Tags, out.Unchanged = append(out.Tags, t.ref()), append(out.Unchanged, t.ref())
		}
		if line := tagWarning(t); line != "" {
			p.action.Warningf("%s", line)
			continue
		}
		p.action.Infof("%s", tagInfo(t, out.Digest))
	}
}

// verifyLine is the command a consumer runs to check the signature of
// image (by digest) with the public key, offline.
func verifyLine(cfg config.Config, image string) string {
	flags := [...]string{push.TLSInsecure: " --allow-insecure-registry", push.TLSDisabled: " --allow-http-registry"}[cfg.RegistryTLS]
	return "cosign verify --key cosign.pub --insecure-ignore-tlog" + flags + " " + image
}

// rank orders tags for the outputs: the version tag, the SHA tag, the rest.
func rank(cfg config.Config, tag string) int {
	switch tag {
	case cfg.VersionTag():
		return 0
	case cfg.SHATag():
		return 1
	}
	return 2
}

// connectRegistries makes a client for each repository, with the login for
// its registry (config.LoginFor): on the first image's registry, with
// oidc-audience, the job's identity (ids).
func connectRegistries(cfg config.Config, ids *oidc.Source, log *slog.Logger) ([]target, error) {
	var targets []target
	for _, image := range cfg.Images {
		user, pass := cfg.LoginFor(image)
		opts := []push.Opt{push.WithCredentials(user, pass), push.WithTLS(cfg.RegistryTLS), push.WithLogger(log)}
		if config.RegistryOf(image) == cfg.Registry() {
			opts = append(opts, idLogin(ids)...)
		}
		reg, err := push.New(image, opts...)
		if err != nil {
			return targets, err
		}
		targets = append(targets, target{image: image, reg: reg, guard: guard.New(reg, image, guard.WithPolicy(cfg.OnExisting), guard.WithManifests(reg))})
	}
	return targets, nil
}

// logins are the registries of targets with the credentials of each.
func (p *pipeline) logins(targets []target) []login {
	out := make([]login, 0, len(targets))
	for _, t := range targets {
		user, key := p.cfg.LoginFor(t.image)
		out = append(out, login{host: config.RegistryOf(t.image), user: user, key: key, reg: t.reg})
	}
	return out
}

func closeAll(targets []target) {
	for _, t := range targets {
		_ = t.reg.Close()
	}
}

// publisher is the one place the push path is chosen (push-via). With
// compareOnly (skip-identical, the version in every repository) only an
// identical image can succeed, and that one is there already: nothing is
// uploaded.
func (p *pipeline) publisher(b *build.Builder, targets []target, compareOnly bool) publish.Publisher {
	cfg := p.cfg
	if compareOnly {
		p.action.Infof("%s exists in every repository: %s only to compare digests, nothing to upload", cfg.VersionTag(), p.step().doing)
	}
	if cfg.Archive != "" {
		return p.archive(targets, compareOnly || !cfg.Push)
	}
	if !cfg.Push || compareOnly {
		return publish.BuildOnly{Builder: b}
	}
	fast := publish.BuildKit{Builder: b, Repositories: cfg.Images, Insecure: cfg.RegistryTLS != push.TLSEnabled}
	layout := publish.Layout{Builder: b, Targets: registries(targets), TempDir: cfg.TempDir, Log: p.action}
	switch cfg.PushVia {
	case publish.ViaBuildKit:
		return fast
	case publish.ViaAction:
		return layout
	}
	return publish.Auto{Fast: fast, Fallback: layout, OnFallback: func(err error) {
		p.action.Warningf("%s", fallbackLine(cfg, err))
	}}
}

// registries are the targets' repositories, as the writer takes them.
func registries(targets []target) []writer.Registry {
	regs := make([]writer.Registry, 0, len(targets))
	for _, t := range targets {
		regs = append(regs, t.reg)
	}
	return regs
}

// archive publishes the image of the archive input to every repository;
// with compareOnly it only computes its digest.
func (p *pipeline) archive(targets []target, compareOnly bool) publish.Archive {
	cfg := p.cfg
	own, elsewhere := p.reuse(targets)
	prover, remembered := p.prover()
	return publish.Archive{
		Path: cfg.Archive, Env: cfg.ChildEnv, Stdin: os.Stdin, Idle: cfg.ArchiveIdle, Platforms: cfg.Platforms, Choice: cfg.ArchiveImage, Compression: cfg.Compression,
		OwnTags: []string{cfg.VersionTag(), cfg.SHATag()}, ReuseFrom: own, Previous: cfg.Previous(), Elsewhere: elsewhere, TagSuffix: cfg.TagSuffix,
		CompareOnly: compareOnly, TempDir: cfg.TempDir, Log: p.action, Warn: p.action.Warningf, Targets: registries(targets),
		Prover: prover, Remembered: remembered,
	}
}

// prover proves the registry's claims of reused layers: with
// signing-key, a manifest signed with it is trusted without a download;
// every other claim is recalled from the proof store (a job on this
// runner holding the API key proved it before: internal/proofs) or
// streamed (writer.Unpacked) and remembered. The store's key is derived
// from the API key, which every publishing job holds, so signed and
// unsigned jobs share one store. remembered is the store's part, nil
// without a store (no API key, no cache directory).
func (p *pipeline) prover() (prover writer.Prover, remembered *writer.Remembered) {
	prover = writer.Unpacked{}
	if store := proofs.Open(p.cfg.ProofDir, p.cfg.APIKey); store != nil {
		remembered = writer.NewRemembered(store)
		prover = remembered
	}
	if p.signer != nil {
		prover = writer.NewSigned(&vouch{signer: p.signer, notice: p.action.Noticef}, prover)
	}
	return prover, remembered
}

// vouch looks for a signature by the run's key among a manifest's
// referrers in the registry holding the claim (writer.Signatures). A
// manifest with more referrers than sign.Find examines counts as
// unsigned: its layers are proven by download, and one notice says so.
type vouch struct {
	signer *sign.Signer
	notice func(format string, args ...any)
	once   sync.Once
}

func (v *vouch) Signed(ctx context.Context, r writer.Registry, manifest digest.Digest) (bool, error) {
	store, ok := r.(sign.Store)
	if !ok {
		return false, nil
	}
	found, err := v.signer.Find(ctx, store, manifest)
	if errors.Is(err, sign.ErrTooManyReferrers) {
		v.once.Do(func() {
			v.notice("Not looking further for this key's signature: %v; the layers it names are proven by download instead", err)
		})
		return false, nil
	}
	return found != "", err
}

// reuse splits reuse-from into tags of the image's own repositories
// (also when named in full, as a list of a plan's images names them) and
// other repositories of its registry, each read through the first
// target's client (one login for all).
func (p *pipeline) reuse(targets []target) (own []string, elsewhere []writer.Elsewhere) {
	for _, line := range p.cfg.ReuseFrom {
		repo, tag := config.SplitReuse(line)
		switch {
		case repo == "" || slices.Contains(p.cfg.Images, repo): // the image's own: Learn reads its newest releases
			if tag != "" {
				own = append(own, tag)
			}
		case len(targets) > 0: // none with push: false, which reuses nothing
			reg, err := targets[0].reg.For(repo)
			if err != nil {
				p.action.Warningf("Not reusing the layers of %s: %v", line, err)
				continue
			}
			e := writer.Elsewhere{Registry: reg}
			if tag != "" {
				e.Refs = []string{tag}
			}
			elsewhere = append(elsewhere, e)
		}
	}
	return own, elsewhere
}

// step is how the log names getting the image: building it, or reading
// it from the archive; got is the image got, published is it in the
// registry by digest.
type step struct{ doing, title, got, published string }

func (p *pipeline) step() step {
	if p.cfg.Archive != "" {
		title := "Publish " + p.cfg.Archive + " to " + p.cfg.Image
		if !p.cfg.Push { // nothing is published: say what is done
			title = "Check " + p.cfg.Archive + " (push: false: its digest as " + p.cfg.Image + " would have it, nothing published)"
		}
		return step{"reading the archive", title, "Read the archive's image", "Published the archive's image"}
	}
	return step{"building", "Build " + p.cfg.Image, "Built", "Built and published"}
}

// doneLine says what became of the image got: published by digest only
// when it was uploaded.
func (p *pipeline) doneLine(s step, d digest.Digest, took time.Duration, compareOnly bool) string {
	took = took.Round(time.Millisecond)
	switch {
	case !p.cfg.Push:
		return fmt.Sprintf("%s %s in %s: checked, not published (push: false)", s.got, d, took)
	case compareOnly:
		return fmt.Sprintf("%s %s in %s: compared with %s, nothing uploaded", s.got, d, took, p.cfg.VersionTag())
	}
	return fmt.Sprintf("%s %s by digest in %s", s.published, d, took)
}

// build runs the build (or reads the archive) through the publisher, in a
// log group.
func (p *pipeline) build(ctx context.Context, pub publish.Publisher, compareOnly bool) (build.Result, error) {
	cfg, action, step := p.cfg, p.action, p.step()
	if cfg.Epoch.IsZero() && cfg.Archive == "" { // an archive's digest does not depend on the time
		action.Noticef("no commit time for sha %s (is the context a git checkout holding it?): the image carries build-time timestamps and its digest will differ between builds; set source-date-epoch for a reproducible digest", cfg.SHA)
	}
	action.Group(step.title)
	start := time.Now()
	res, err := pub.Publish(ctx, cfg.BuildOpts.Apply(build.Request{
		ContextDir: cfg.Context, Dockerfile: cfg.File, Target: cfg.Target,
		BuildArgs: cfg.BuildArgs, Labels: cfg.Labels, Platforms: cfg.Platforms,
		Annotations: cfg.Annotations, Secrets: cfg.Secrets, Epoch: cfg.Epoch,
		CacheFrom: cfg.CacheFrom, CacheTo: cfg.CacheTo,
		Provenance: cfg.Provenance, SBOM: cfg.SBOM, Compression: cfg.Compression,
		Credentials: p.credentials(),
		LoginHanded: func(host string) {
			action.Infof("buildkitd asked for the login to %s (it pulls from or pushes to it): handed over, in memory", host)
		},
		Progress: p.progress,
	}))
	action.EndGroup()
	if err == nil {
		action.Infof("%s", p.doneLine(step, res.Digest, time.Since(start), compareOnly))
	}
	return res, err
}

// credentials are the logins buildkitd may ask for: with oidc-audience,
// the job's identity for the image's registry (its ID token fetched at
// each login), first.
func (p *pipeline) credentials() []build.Credential {
	if p.ids == nil {
		return p.cfg.RegistryCredentials()
	}
	id := build.Credential{Host: p.cfg.Registry(), Username: idUser, Fresh: p.ids.Password}
	return build.MergeCredentials([]build.Credential{id}, p.cfg.RegistryCredentials())
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
		{"signature", out.Signature},
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
