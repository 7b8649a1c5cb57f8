// Package run is the run of both commands of build-push-image: the
// action's (Pipeline: connect, guard, build or read the archive, publish
// by digest, sign, tag) and the plan's (Plan: look-ups, push check,
// adopt-tags, changed). Package main reads the inputs, masks the secrets
// and prints; a run reads no environment and writes only through the Env
// it is given. It knows the inputs, so it words its lines: a failure is
// the packages' typed error told as the user's line (an *input.Line).
package run

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/buildkitd"
	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/guard"
	"github.com/blumeops/build-push-image/internal/proofs"
	"github.com/blumeops/build-push-image/internal/publish"
	"github.com/blumeops/build-push-image/internal/push"
	"github.com/blumeops/build-push-image/internal/sign"
	"github.com/blumeops/build-push-image/internal/tags"
	"github.com/blumeops/build-push-image/internal/writer"
)

// Pipeline is one run of the action: New makes it, Run runs it.
type Pipeline struct {
	Env
	Cfg      config.Config
	Progress io.Writer  // BuildKit's plain progress goes here
	done     []ImageTag // what became of each tag, for the messages
	// signer signs the image in each repository before its tags (nil
	// without signing-key); signatures are what it stored or found.
	signer     *sign.Signer
	signatures []sign.Signature
}

// Done is what became of each tag so far: what a failed or cancelled
// run's line names.
func (p *Pipeline) Done() []ImageTag { return p.done }

// Run connects, guards, builds and publishes, then writes the tags of each
// repository as one transaction; its result is for the outputs.
func (p *Pipeline) Run(ctx context.Context) (out Published, err error) {
	cfg := p.Cfg
	defer func() {
		// A bug must still end as one line, never as a stack trace.
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
		err = tell(cfg, p.IDs, err) // the user's line, with the input that fixes it
	}()
	start := time.Now()
	if cfg.Signing.Key != nil {
		p.signer = sign.New(cfg.Signing.Key)
	}
	m := maker{cfg: cfg, env: p.Env, signer: p.signer, signed: func(s sign.Signature) { p.signatures = append(p.signatures, s) }}
	if cfg.SHAFromGit {
		p.Action.Infof("sha %s: git rev-parse HEAD in %s (neither sha nor $GITHUB_SHA is set)", cfg.SHA, cfg.Context)
	}
	var builder *build.Builder
	if !cfg.Origin.IsArchive() { // an archive is built already: no buildkitd is looked for
		b, stopBuildkit, err := buildkitd.Connect(ctx, cfg.Buildkitd(), p.Action)
		if err != nil {
			return out, err
		}
		defer stopBuildkit()
		builder = b
	}

	targets, compareOnly, published, err := p.targets(ctx, m, start)
	defer closeAll(targets)
	if err != nil {
		return out, err
	}
	res, err := p.build(ctx, p.publisher(builder, targets, compareOnly), compareOnly)
	if err != nil {
		return out, err
	}
	if published != nil {
		if err := checkPublished(p.Action, cfg, targets, published, res.Digest); err != nil {
			return out, err
		}
	}
	out = newPublished(cfg, res)
	if cfg.Push {
		if err := p.commit(ctx, targets, res); err != nil {
			return out, err
		}
		p.record(&out)
	}
	out.Seconds = float64(time.Since(start).Milliseconds()) / 1000
	return out, nil
}

// targets are the repositories of the run, closed by the caller also on
// a failure: with push, each connected, its login proven and its version
// tag guarded (compareOnly: skip-identical found it in all of them); for
// the pull-request check (archive, push: false), those answering
// anonymous reads, with what their version tag names (published); else
// none.
func (p *Pipeline) targets(ctx context.Context, m maker, start time.Time) (targets []target, compareOnly bool, published map[string]digest.Digest, err error) {
	cfg := p.Cfg
	switch {
	case cfg.Push:
		if err := startIdentity(ctx, p.Action, cfg.Access, p.IDs); err != nil {
			return nil, false, nil, err
		}
		targets = m.connect()
		if err := checkPush(ctx, p.Action, targets); err != nil { // before the build or the stream starts
			return targets, false, nil, err
		}
		if compareOnly, err = checkVersions(ctx, targets, cfg.VersionTag()); err != nil {
			return targets, false, nil, err
		}
		warnKeyExpiry(ctx, p.Env, cfg.Access, keyLookups(targets), time.Since(start))
	case cfg.Origin.IsArchive():
		targets, published, err = anonymousTargets(ctx, m)
	}
	return targets, compareOnly, published, err
}

// newPublished is the outputs of a build, before any tag: every list
// empty, never null.
func newPublished(cfg config.Config, res build.Result) Published {
	return Published{
		Image: cfg.Image, Images: cfg.Images, Digest: res.Digest.String(), Platforms: build.PlatformNames(cfg.Platforms),
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
func (p *Pipeline) commit(ctx context.Context, targets []target, res build.Result) error {
	cfg := p.Cfg
	plan := tags.Plan{Digest: res.Digest, Manifest: res.Manifest, Version: cfg.VersionTag(), Release: cfg.Version, Before: []string{cfg.SHATag()}, After: cfg.Follow()}
	for _, t := range targets {
		done, err := t.tags.Commit(ctx, plan)
		for _, d := range done {
			p.done = append(p.done, ImageTag{t.image, d})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// record lists the tags in the outputs, per repository the version tag
// first, and says what became of each. When the version tag keeps the same
// image by another digest (guard.Difference), the outputs name that image: it
// is what every tag names.
func (p *Pipeline) record(out *Published) {
	for _, t := range p.done {
		if t.Image == p.Cfg.Image && t.Name == p.Cfg.VersionTag() && t.Other != "" {
			p.Action.Infof("The digest output is %s, not %s (%s): %s names the image published first, the same config and layers with other annotations, and every tag names it", t.Other, out.Digest, strings.ToLower(p.step().got), t.Ref())
			out.Digest = t.Other.String() // the same image, published first: every tag names it
		}
	}
	if len(p.signatures) > 0 {
		out.Signature = p.signatures[0].Digest.String()
		out.Verify = verifyLine(p.Cfg, out.Image+"@"+out.Digest)
	}
	slices.SortStableFunc(p.done, func(a, b ImageTag) int {
		return cmp.Or(cmp.Compare(slices.Index(p.Cfg.Images, a.Image), slices.Index(p.Cfg.Images, b.Image)), cmp.Compare(rank(p.Cfg, a.Name), rank(p.Cfg, b.Name)))
	})
	for _, t := range p.done {
		switch t.State {
		case tags.Written:
			out.Tags, out.Written = append(out.Tags, t.Ref()), append(out.Written, t.Ref())
			out.Pushed = true // pushed: a tag was written
		case tags.Unchanged:
			out.Tags, out.Unchanged = append(out.Tags, t.Ref()), append(out.Unchanged, t.Ref())
		}
		if line := tagWarning(t); line != "" {
			p.Action.Warningf("%s", line)
			continue
		}
		p.Action.Infof("%s", tagInfo(t, out.Digest))
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

// publisher is the one place the push path is chosen (push-via). With
// compareOnly (skip-identical, the version in every repository) only an
// identical image can succeed, and that one is there already: nothing is
// uploaded.
func (p *Pipeline) publisher(b *build.Builder, targets []target, compareOnly bool) publish.Publisher {
	cfg := p.Cfg
	if compareOnly {
		p.Action.Infof("%s exists in every repository: %s only to compare digests, nothing to upload", cfg.VersionTag(), p.step().doing)
	}
	if cfg.Origin.IsArchive() {
		return p.archive(targets, compareOnly || !cfg.Push)
	}
	if !cfg.Push || compareOnly {
		return publish.BuildOnly{Builder: b}
	}
	fast := publish.BuildKit{Builder: b, Repositories: cfg.Images, Insecure: cfg.RegistryTLS != push.TLSEnabled}
	layout := publish.Layout{Builder: b, Targets: registries(targets), TempDir: cfg.TempDir, Log: p.Action}
	switch cfg.PushVia {
	case publish.ViaBuildKit:
		return fast
	case publish.ViaAction:
		return layout
	}
	return publish.Auto{Fast: fast, Fallback: layout, OnFallback: func(err error) {
		p.Action.Warningf("%s", fallbackLine(cfg, err))
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
func (p *Pipeline) archive(targets []target, compareOnly bool) publish.Archive {
	cfg := p.Cfg
	own, elsewhere := p.reuse(targets)
	prover, remembered := p.prover()
	a := publish.Archive{
		Path: cfg.Origin.Path, Program: cfg.Origin.Kind == config.ArchiveProgram, Env: cfg.ChildEnv, Idle: cfg.ArchiveIdle, Platforms: cfg.Platforms, Choice: cfg.ArchiveImage, Compression: cfg.Compression,
		OwnTags: []string{cfg.VersionTag(), cfg.SHATag()}, ReuseFrom: own, Previous: cfg.Previous(), Elsewhere: elsewhere, TagSuffix: cfg.TagSuffix,
		CompareOnly: compareOnly, TempDir: cfg.TempDir, Log: p.Action, Warn: p.Action.Warningf, Targets: registries(targets),
		Prover: prover, Remembered: remembered,
	}
	if cfg.Origin.Kind == config.ArchiveStdin {
		a.Stdin = os.Stdin
	}
	return a
}

// prover proves the registry's claims of reused layers: with
// signing-key, a manifest signed with it is trusted without a download;
// every other claim is recalled from the proof store (a job on this
// runner holding the API key proved it before: internal/proofs) or
// streamed (writer.Unpacked) and remembered. The store's key is derived
// from the API key, which every publishing job holds, so signed and
// unsigned jobs share one store. remembered is the store's part, nil
// without a store (no API key, no cache directory).
func (p *Pipeline) prover() (prover writer.Prover, remembered *writer.Remembered) {
	prover = writer.Unpacked{}
	if store := proofs.Open(p.Cfg.ProofDir, p.Cfg.APIKey); store != nil {
		remembered = writer.NewRemembered(store)
		prover = remembered
	}
	if p.signer != nil {
		prover = writer.NewSigned(&vouch{signer: p.signer, notice: p.Action.Noticef}, prover)
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
func (p *Pipeline) reuse(targets []target) (own []string, elsewhere []writer.Elsewhere) {
	for _, r := range p.Cfg.ReuseFrom {
		switch {
		case r.Own: // the image's own: Learn reads its newest releases
			if r.Tag != "" {
				own = append(own, r.Tag)
			}
		case len(targets) > 0: // none with push: false, which reuses nothing
			reg, err := targets[0].reg.For(r.Repo)
			if err != nil {
				p.Action.Warningf("Not reusing the layers of %s: %v", r.Line, err)
				continue
			}
			e := writer.Elsewhere{Registry: reg}
			if r.Tag != "" {
				e.Refs = []string{r.Tag}
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

func (p *Pipeline) step() step {
	if p.Cfg.Origin.IsArchive() {
		title := "Publish " + p.Cfg.Origin.Path + " to " + p.Cfg.Image
		if !p.Cfg.Push { // nothing is published: say what is done
			title = "Check " + p.Cfg.Origin.Path + " (push: false: its digest as " + p.Cfg.Image + " would have it, nothing published)"
		}
		return step{"reading the archive", title, "Read the archive's image", "Published the archive's image"}
	}
	return step{"building", "Build " + p.Cfg.Image, "Built", "Built and published"}
}

// doneLine says what became of the image got: published by digest only
// when it was uploaded.
func (p *Pipeline) doneLine(s step, d digest.Digest, took time.Duration, compareOnly bool) string {
	took = took.Round(time.Millisecond)
	switch {
	case !p.Cfg.Push:
		return fmt.Sprintf("%s %s in %s: checked, not published (push: false)", s.got, d, took)
	case compareOnly:
		return fmt.Sprintf("%s %s in %s: compared with %s, nothing uploaded", s.got, d, took, p.Cfg.VersionTag())
	}
	return fmt.Sprintf("%s %s by digest in %s", s.published, d, took)
}

// build runs the build (or reads the archive) through the publisher, in a
// log group.
func (p *Pipeline) build(ctx context.Context, pub publish.Publisher, compareOnly bool) (build.Result, error) {
	cfg, action, step := p.Cfg, p.Action, p.step()
	if cfg.Epoch.IsZero() && !cfg.Origin.IsArchive() { // an archive's digest does not depend on the time
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
		Progress: p.Progress,
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
func (p *Pipeline) credentials() []build.Credential {
	if p.IDs == nil {
		return p.Cfg.RegistryCredentials()
	}
	id := build.Credential{Host: p.Cfg.Registry(), Username: idUser, Fresh: p.IDs.Password}
	return build.MergeCredentials([]build.Credential{id}, p.Cfg.RegistryCredentials())
}
