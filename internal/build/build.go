// Package build turns a Dockerfile and its context into an OCI image layout
// on disk, using a BuildKit daemon. It knows nothing about tags or registries
// it pushes to: its Result is a directory and a digest.
package build

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/buildkit/client"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/entitlements"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/blumeops/build-push-image/internal/compression"
)

func init() {
	// BuildKit's client logs through the global logrus logger; its warnings
	// (no fsverity on this filesystem, ...) are noise in a CI log.
	logrus.SetLevel(logrus.ErrorLevel)
}

var (
	// ErrUnreachable is returned by Connect when no BuildKit daemon answers.
	ErrUnreachable = errors.New("buildkitd unreachable")
	// ErrTLSConfig is returned by Connect when the TLS material is unusable.
	ErrTLSConfig = errors.New("bad buildkitd TLS configuration")
	// ErrExport means the image was built but its export failed: with a
	// push export, BuildKit could not put it into the registry. Building
	// again with another export is a cache hit.
	ErrExport = errors.New("built, but the export failed")
	// ErrExecFormat means the build failed after a RUN step's program could
	// not be executed (exec format error): a program of another
	// architecture, where buildkitd's machine has no emulation for it.
	ErrExecFormat = errors.New("exec format error")
)

// connectTimeout bounds the Info call that proves buildkitd is there: a
// daemon that does not answer within it will not build anything either.
const connectTimeout = 10 * time.Second

// Builder builds images with one BuildKit daemon.
type Builder struct {
	c *client.Client
}

// TLS configures (mutual) TLS to a remote buildkitd. The fields hold PEM
// data, not paths: the caller reads files, and key material stays in memory.
type TLS struct {
	CA, Cert, Key []byte
	ServerName    string
}

func (t TLS) config() (*tls.Config, error) {
	cfg := &tls.Config{ServerName: t.ServerName, MinVersion: tls.VersionTLS12}
	if len(t.CA) > 0 {
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(t.CA) {
			return nil, errors.New("no certificate found in the CA PEM data")
		}
	}
	if len(t.Cert) > 0 || len(t.Key) > 0 {
		pair, err := tls.X509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

type options struct {
	tls *TLS
}

// Opt configures Connect.
type Opt func(*options)

// WithTLS talks to buildkitd over mutual TLS.
func WithTLS(t TLS) Opt {
	return func(o *options) { o.tls = &t }
}

// Connect dials buildkitd at addr (unix://, tcp://) and checks that it
// answers, so that a missing daemon fails the job before anything else runs.
func Connect(ctx context.Context, addr string, opts ...Opt) (*Builder, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var copts []client.ClientOpt
	if o.tls != nil {
		cfg, err := o.tls.config()
		if err != nil {
			return nil, fmt.Errorf("%w: TLS to %s: %w", ErrTLSConfig, addr, err)
		}
		// Dial options, not client.WithCredentials: that one wants files.
		// grpc insists the authority match the name the certificate is for.
		copts = append(copts,
			client.WithGRPCDialOption(grpc.WithTransportCredentials(credentials.NewTLS(cfg))),
			client.WithGRPCDialOption(grpc.WithAuthority(cfg.ServerName)))
	}
	c, err := client.New(ctx, addr, copts...)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, addr, err)
	}
	ictx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if _, err := c.Info(ictx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, addr, err)
	}
	return &Builder{c: c}, nil
}

// Close releases the connection to buildkitd.
func (b *Builder) Close() error { return b.c.Close() }

// Credential lets BuildKit pull base images from a registry that needs a
// login. It is handed to buildkitd through the session, in memory only.
type Credential struct {
	Host, Username, Password string
	// IdentityToken is an OAuth refresh token (docker login's for some
	// registries), used instead of the password when set.
	IdentityToken string
	// Fresh, when set, gives the password at each login instead of
	// Password: a short-lived one (the job's OIDC ID token) that a long
	// build renews.
	Fresh func(ctx context.Context) (string, error)
}

// Request describes one build.
type Request struct {
	ContextDir string
	Dockerfile string // path to the Dockerfile
	Target     string
	BuildArgs  map[string]string
	Labels     map[string]string
	Platforms  []ocispec.Platform
	// Annotations go on the manifests (and on the index, when there is one).
	Annotations map[string]string
	// Secrets are mounted with RUN --mount=type=secret,id=<key>; they are
	// handed over in memory and end up in no layer.
	Secrets map[string][]byte
	// Epoch, when set, is SOURCE_DATE_EPOCH: file and image timestamps are
	// rewritten to it, so the same commit builds the same digest.
	Epoch time.Time
	// CacheFrom and CacheTo are BuildKit cache imports and exports.
	CacheFrom, CacheTo []Cache
	// Provenance is the provenance attestation mode ("min" or "max"), or
	// "" for none. SBOM adds an SBOM attestation.
	Provenance string
	SBOM       bool
	// Export is where the image goes.
	Export Export
	// Credentials for registries the build pulls from (and pushes to).
	Credentials []Credential
	// LoginHanded, if set, is told the host each time buildkitd is first
	// handed one of Credentials (it asks only when that registry wants a
	// Basic-auth login from it).
	LoginHanded func(host string)
	// Contexts are named build contexts beside the main one.
	Contexts []NamedContext
	// NoCache runs every step again; Pull re-resolves base images in the
	// registry instead of using buildkitd's copy.
	NoCache, Pull bool
	// SSH is forwarded to RUN --mount=type=ssh.
	SSH []SSH
	// Network is the RUN steps' network: "" (buildkitd's default), host
	// (needs buildkitd to allow network.host) or none.
	Network string
	// AddHosts are extra /etc/hosts entries for RUN steps, host=ip.
	AddHosts []string
	// ShmSize is the size of /dev/shm in RUN steps, in bytes (0: default).
	ShmSize int64
	// Ulimits are resource limits for RUN steps.
	Ulimits []*units.Ulimit
	// OCIArchive, when set, is a path where the image is also written as an
	// OCI archive (tar), beside the main export and with the same digest.
	OCIArchive string
	// AttestationsAsReferrers stores provenance and SBOM as OCI artifacts
	// whose subject is the image, so registries list them as referrers;
	// false writes the older attestation manifests (no subject).
	AttestationsAsReferrers bool
	// Compression is how the exporters compress new layers (and, with
	// Force, layers found compressed otherwise): the compression inputs.
	Compression compression.Compression
	// Progress receives BuildKit's plain-text progress.
	Progress io.Writer
}

// Export says where a build's image goes: pushed by digest (no tag) to the
// repositories Push, or into the OCI layout directory Layout; with neither,
// it stays in buildkitd (a build-only run still learns its digest).
type Export struct {
	Push []string
	// Insecure lets buildkitd push over plain HTTP or to an unverified
	// certificate.
	Insecure bool
	Layout   string
}

// Result is what a build produced: the digest of its top manifest (an
// image manifest, or an index for several platforms).
type Result struct {
	Digest digest.Digest
	// Manifest is the image's manifest when the publisher has it (an
	// archive's, uploaded or not): the guard compares it with what a
	// version tag names.
	Manifest []byte
}

// Build runs req and exports the image as req.Export says. A failure after
// the image was built (the push of a push export) is ErrExport.
func (b *Builder) Build(ctx context.Context, req Request) (Result, error) {
	opt, err := solveOpt(req)
	if err != nil {
		return Result{}, err
	}
	progress := req.Progress
	if progress == nil {
		progress = io.Discard
	}
	display, err := progressui.NewDisplay(progress, progressui.PlainMode)
	if err != nil {
		return Result{}, fmt.Errorf("progress display: %w", err)
	}
	ch, shown := make(chan *client.SolveStatus), make(chan *client.SolveStatus)
	eg, ectx := errgroup.WithContext(ctx)
	var resp *client.SolveResponse
	var built, execFormat atomic.Bool
	eg.Go(func() error {
		var err error
		resp, err = b.c.Build(ectx, opt, "build-push-image", dockerfile(opt.FrontendAttrs, &built), ch)
		return err
	})
	displayed := make(chan struct{})
	eg.Go(func() error { // passes the statuses on to the display, reading the RUN steps' output
		defer close(shown)
		for s := range ch {
			execFormat.CompareAndSwap(false, logsSay(s, "exec format error"))
			select {
			case shown <- s:
			case <-displayed: // keep draining: the build must not block on its status channel
			}
		}
		return nil
	})
	eg.Go(func() error {
		defer close(displayed)
		_, err := display.UpdateFrom(context.WithoutCancel(ectx), shown)
		return err
	})
	if err := eg.Wait(); err != nil {
		if req.OCIArchive != "" {
			_ = os.Remove(partial(req.OCIArchive))
		}
		if built.Load() && ctx.Err() == nil {
			return Result{}, fmt.Errorf("%w: %w", ErrExport, err)
		}
		if execFormat.Load() {
			return Result{}, fmt.Errorf("%w: build failed: %w", ErrExecFormat, err)
		}
		return Result{}, fmt.Errorf("build failed: %w", err)
	}
	if req.OCIArchive != "" {
		if err := os.Rename(partial(req.OCIArchive), req.OCIArchive); err != nil {
			return Result{}, fmt.Errorf("OCI archive %s: %w", req.OCIArchive, err)
		}
	}
	d, err := digest.Parse(resp.ExporterResponse["containerimage.digest"])
	if err != nil {
		return Result{}, fmt.Errorf("buildkitd reported no image digest: %w", err)
	}
	return Result{Digest: d}, nil
}

// logsSay is true when a vertex's log in s holds text (the output of a
// RUN step: runc's exec failure is only there, not in the error).
func logsSay(s *client.SolveStatus, text string) bool {
	for _, l := range s.Logs {
		if bytes.Contains(l.Data, []byte(text)) {
			return true
		}
	}
	return false
}

// dockerfile runs the Dockerfile frontend through the gateway, so that the
// build is known to have finished (built) before the export starts: only
// then can a failure be told apart as the export's. Every result is
// evaluated here, not lazily during the export.
func dockerfile(attrs map[string]string, built *atomic.Bool) gateway.BuildFunc {
	return func(ctx context.Context, c gateway.Client) (*gateway.Result, error) {
		res, err := c.Solve(ctx, gateway.SolveRequest{Frontend: "dockerfile.v0", FrontendOpt: attrs})
		if err != nil {
			return nil, err
		}
		if err := res.EachRef(func(r gateway.Reference) error {
			if r == nil {
				return nil
			}
			return r.Evaluate(ctx)
		}); err != nil {
			return nil, err
		}
		built.Store(true)
		return res, nil
	}
}

func solveOpt(req Request) (client.SolveOpt, error) {
	mounts, err := localMounts(req)
	if err != nil {
		return client.SolveOpt{}, err
	}
	export := client.ExportEntry{Type: client.ExporterImage, Attrs: exportAttrs(req)}
	if dir := req.Export.Layout; dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return client.SolveOpt{}, fmt.Errorf("layout dir: %w", err)
		}
		export = client.ExportEntry{Type: client.ExporterOCI, Attrs: exportAttrs(req), OutputDir: dir}
	}
	exports := []client.ExportEntry{export}
	if req.OCIArchive != "" {
		exports = append(exports, archiveExport(req))
	}
	sess, err := attachables(req)
	if err != nil {
		return client.SolveOpt{}, err
	}
	opt := client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: frontendAttrs(req),
		LocalMounts:   mounts,
		Exports:       exports,
		CacheImports:  cacheEntries(req.CacheFrom),
		CacheExports:  cacheEntries(req.CacheTo),
		Session:       sess,
	}
	if req.Network == NetworkHost {
		opt.AllowedEntitlements = []string{string(entitlements.EntitlementNetworkHost)}
	}
	return opt, nil
}

// localMounts are the directories the build reads: the context, the
// Dockerfile's directory and the named contexts that are directories.
func localMounts(req Request) (map[string]fsutil.FS, error) {
	ctxFS, err := fsutil.NewFS(req.ContextDir)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", req.ContextDir, err)
	}
	dfFS, err := fsutil.NewFS(filepath.Dir(req.Dockerfile))
	if err != nil {
		return nil, fmt.Errorf("dockerfile %s: %w", req.Dockerfile, err)
	}
	mounts := map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS}
	for _, nc := range req.Contexts {
		if nc.Dir == "" {
			continue
		}
		if mounts[localName(nc)], err = fsutil.NewFS(nc.Dir); err != nil {
			return nil, fmt.Errorf("build context %s (%s): %w", nc.Name, nc.Dir, err)
		}
	}
	return mounts, nil
}

// localName is the session name of a named context's directory; the two
// names the main context and Dockerfile use get a prefix, as in buildx.
func localName(nc NamedContext) string {
	if nc.Name == "context" || nc.Name == "dockerfile" {
		return "_" + nc.Name
	}
	return nc.Name
}

// archiveExport writes the image as an OCI archive, with the image
// exporter's attributes so that its digest is the one published. It is
// written beside the final path and renamed by Build once the solve
// succeeded, so a failed build leaves no half archive behind.
func archiveExport(req Request) client.ExportEntry {
	attrs := imageAttrs(req)
	attrs["tar"] = "true"
	return client.ExportEntry{Type: client.ExporterOCI, Attrs: attrs, Output: func(map[string]string) (io.WriteCloser, error) {
		if err := os.MkdirAll(filepath.Dir(req.OCIArchive), 0o755); err != nil {
			return nil, err
		}
		return os.OpenFile(partial(req.OCIArchive), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	}}
}

func partial(path string) string { return path + ".partial" }

// attachables are what buildkitd may ask this process for during the build:
// registry logins, build secrets and SSH agents, all from memory.
func attachables(req Request) ([]session.Attachable, error) {
	base := []session.Attachable{authProvider(req.Credentials, req.LoginHanded), secretsprovider.FromMap(req.Secrets)}
	if len(req.SSH) == 0 {
		return base, nil
	}
	confs := make([]sshprovider.AgentConfig, 0, len(req.SSH))
	for _, s := range req.SSH {
		confs = append(confs, sshprovider.AgentConfig{ID: s.ID, Paths: s.Paths})
	}
	ssh, err := sshprovider.NewSSHAgentProvider(confs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSSH, err)
	}
	return append(base, ssh), nil
}

func exportAttrs(req Request) map[string]string {
	attrs := imageAttrs(req)
	switch e := req.Export; {
	case e.Layout != "":
		attrs["tar"] = "false"
	case len(e.Push) > 0:
		// By digest only: tags are written by the guarded step alone.
		attrs["name"], attrs["push"], attrs["push-by-digest"] = strings.Join(e.Push, ","), "true", "true"
		if e.Insecure {
			attrs["registry.insecure"] = "true"
		}
	}
	return attrs
}

// imageAttrs are the attributes that make the image what it is: every
// exporter of one build gets them, so all write the same digest.
func imageAttrs(req Request) map[string]string {
	attrs := req.Compression.ExporterAttrs() // with OCI media types
	if !req.Epoch.IsZero() {
		attrs["rewrite-timestamp"] = "true"
	}
	attested := req.Provenance != "" || req.SBOM
	if attested {
		// Explicit both ways: BuildKit's default depends on its version
		// (artifacts since v0.31 with OCI media types, not before).
		attrs["oci-artifact"] = strconv.FormatBool(req.AttestationsAsReferrers)
	}
	// An index exists for several platforms or when attestations ride along.
	index := len(req.Platforms) > 1 || attested
	for k, v := range req.Annotations {
		attrs["annotation."+k] = v
		if index {
			attrs["annotation-index."+k] = v
		}
	}
	return attrs
}

func cacheEntries(caches []Cache) []client.CacheOptionsEntry {
	var out []client.CacheOptionsEntry
	for _, c := range caches {
		out = append(out, client.CacheOptionsEntry{Type: c.Type, Attrs: c.Attrs})
	}
	return out
}

func frontendAttrs(req Request) map[string]string {
	attrs := map[string]string{"filename": filepath.Base(req.Dockerfile)}
	if req.Target != "" {
		attrs["target"] = req.Target
	}
	if len(req.Platforms) > 0 {
		attrs["platform"] = strings.Join(PlatformNames(req.Platforms), ",")
	}
	if !req.Epoch.IsZero() {
		attrs["build-arg:SOURCE_DATE_EPOCH"] = strconv.FormatInt(req.Epoch.Unix(), 10)
	}
	for k, v := range maps.All(req.BuildArgs) {
		attrs["build-arg:"+k] = v
	}
	for k, v := range maps.All(req.Labels) {
		attrs["label:"+k] = v
	}
	if req.Provenance != "" {
		attrs["attest:provenance"] = "mode=" + req.Provenance
	}
	if req.SBOM {
		attrs["attest:sbom"] = ""
	}
	maps.Copy(attrs, optionAttrs(req))
	return attrs
}

// optionAttrs are the buildx build options, under the names buildx gives
// them in the dockerfile frontend's attributes.
func optionAttrs(req Request) map[string]string {
	attrs := map[string]string{}
	for _, nc := range req.Contexts {
		attrs["context:"+nc.Name] = "local:" + localName(nc)
		if nc.Image != "" {
			attrs["context:"+nc.Name] = dockerImageScheme + nc.Image
		}
	}
	if req.NoCache {
		attrs["no-cache"] = "" // empty: every stage
	}
	if req.Pull {
		attrs["image-resolve-mode"] = pb.AttrImageResolveModeForcePull
	}
	if req.Network != "" {
		attrs["force-network-mode"] = req.Network
	}
	if len(req.AddHosts) > 0 {
		attrs["add-hosts"] = strings.Join(req.AddHosts, ",")
	}
	if req.ShmSize > 0 {
		attrs["shm-size"] = strconv.FormatInt(req.ShmSize, 10)
	}
	if len(req.Ulimits) > 0 {
		limits := make([]string, 0, len(req.Ulimits))
		for _, u := range req.Ulimits {
			limits = append(limits, u.String())
		}
		attrs["ulimit"] = strings.Join(limits, ",")
	}
	return attrs
}
