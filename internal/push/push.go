// Package push publishes an OCI image layout to a registry with regclient:
// content by digest first, tags afterwards, one tag at a time. It decides
// nothing about whether a tag may be written; that is the guard's job.
package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient"
	"github.com/regclient/regclient/config"
	"github.com/regclient/regclient/scheme/reg"
	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/manifest"
	"github.com/regclient/regclient/types/ref"
)

// TLS says how to talk to the registry.
type TLS int

const (
	TLSEnabled  TLS = iota // https, verified
	TLSInsecure            // https, certificate not verified
	TLSDisabled            // plain http
)

// Registry is one repository on one registry, with credentials.
type Registry struct {
	rc     *regclient.RegClient
	repo   ref.Ref
	copies int
	spot   *spotter
	api    api // the registry's own API beside the OCI one (API)
	// pushed holds the manifests PutManifest uploaded, by digest, so that
	// Tag needs no GET between the guard's last look and the tag write.
	mu     sync.Mutex
	pushed map[digest.Digest]manifest.Manifest
}

type options struct {
	user, pass    string
	tls           TLS
	retries       int
	delayInit     time.Duration
	delayMax      time.Duration
	maxRetryAfter time.Duration
	stall         time.Duration
	copies        int
	log           *slog.Logger
	fresh         Credential // WithFreshCredentials
}

// Opt configures New.
type Opt func(*options)

// WithLogger sends regclient's log to l (it censors Authorization headers).
func WithLogger(l *slog.Logger) Opt {
	return func(o *options) { o.log = l }
}

// WithCredentials logs in with Basic auth. A zot API key is the password.
func WithCredentials(user, pass string) Opt {
	return func(o *options) { o.user, o.pass = user, pass }
}

// WithTLS sets how the registry is reached.
func WithTLS(t TLS) Opt {
	return func(o *options) { o.tls = t }
}

// WithRetry sets how often a failed request (408, 429, 5xx, network) is
// retried and how long to wait in between (doubling from delayInit up to
// delayMax). A Retry-After the registry sends replaces the delay.
func WithRetry(limit int, delayInit, delayMax time.Duration) Opt {
	return func(o *options) { o.retries, o.delayInit, o.delayMax = limit, delayInit, delayMax }
}

// WithMaxRetryAfter caps how long a Retry-After may make a request wait;
// a registry asking for longer fails the request instead.
func WithMaxRetryAfter(d time.Duration) Opt {
	return func(o *options) { o.maxRetryAfter = d }
}

// WithStallTimeout abandons (and retries) a request when no byte moved in
// either direction for d. Zero disables the watchdog.
func WithStallTimeout(d time.Duration) Opt {
	return func(o *options) { o.stall = d }
}

// Defaults: a registry that keeps failing one request for about 15 s (5
// retries) fails the job; a Retry-After up to a minute is honoured; a
// request with no byte moving for 30 s is abandoned.
const (
	DefaultRetries       = 5
	DefaultDelayInit     = 500 * time.Millisecond
	DefaultDelayMax      = 8 * time.Second
	DefaultMaxRetryAfter = time.Minute
	DefaultStallTimeout  = 30 * time.Second
	// copies is how often UploadBlob tries a blob's whole upload: a
	// second try restarts an upload whose session a broken connection
	// spoiled.
	defaultCopies = 2
)

// New returns a Registry for repository, as the caller parsed it once
// (its Registry is the host; a tag or digest is dropped).
func New(repository ref.Ref, opts ...Opt) *Registry {
	o := options{
		retries: DefaultRetries, delayInit: DefaultDelayInit, delayMax: DefaultDelayMax,
		maxRetryAfter: DefaultMaxRetryAfter, stall: DefaultStallTimeout, copies: defaultCopies,
	}
	for _, opt := range opts {
		opt(&o)
	}
	r := repository.SetTag("")
	host := config.HostNewName(r.Registry)
	host.User, host.Pass = o.user, o.pass
	host.TLS = [...]config.TLSConf{config.TLSEnabled, config.TLSInsecure, config.TLSDisabled}[o.tls]
	logger := o.log
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	spot := &spotter{next: newTransport(o)}
	var transport http.RoundTripper = spot
	if o.fresh != nil {
		transport = &freshAuth{next: spot, host: r.Registry, user: o.user, cred: o.fresh}
	}
	rc := regclient.New(
		regclient.WithSlog(logger),
		regclient.WithConfigHost(*host),
		regclient.WithRegOpts(
			reg.WithHTTPClient(&http.Client{Transport: transport, CheckRedirect: keepAuthInOrigin}),
			// The transport retries; regclient keeps one extra try for the
			// login round trip (a 401 challenge, then the credentials).
			// Its backoff delays every later request to the host: the
			// transport has waited already, so keep it short.
			reg.WithRetryLimit(1),
			reg.WithDelay(10*time.Millisecond, 100*time.Millisecond),
		),
		regclient.WithUserAgent("build-push-image"),
	)
	return &Registry{rc: rc, repo: r, copies: max(o.copies, 1), spot: spot, api: newAPI(o.tls, r.Registry, spot), pushed: map[digest.Digest]manifest.Manifest{}}
}

// For is a Registry for another repository of the same registry that
// shares this one's client: its connections, TLS sessions and login, so
// that looking up many repositories (a plan) costs one handshake and one
// login challenge, not one each.
func (r *Registry) For(repository ref.Ref) (*Registry, error) {
	if !ref.EqualRegistry(repository, r.repo) {
		return nil, fmt.Errorf("image %q: not on %s", repository.Reference, r.repo.Registry)
	}
	return &Registry{rc: r.rc, repo: repository.SetTag(""), copies: r.copies, spot: r.spot, api: r.api, pushed: map[digest.Digest]manifest.Manifest{}}, nil
}

// call runs one regclient call and gives its failure the typed error that
// says what went wrong, with what as context.
func call(ctx context.Context, what string, f func(context.Context) error) error {
	rctx, rec := withRecorder(ctx)
	if err := f(rctx); err != nil {
		return fmt.Errorf("%s: %w", what, classify(err, rec))
	}
	return nil
}

// Lookup returns the digest a tag points at, and false when it does not
// exist. It sends one HEAD request: it never lists the repository's tags.
func (r *Registry) Lookup(ctx context.Context, tag string) (digest.Digest, bool, error) {
	var m manifest.Manifest
	err := call(ctx, "look up "+r.repo.SetTag(tag).CommonName(), func(ctx context.Context) (err error) {
		m, err = r.rc.ManifestHead(ctx, r.repo.SetTag(tag), regclient.WithManifestRequireDigest())
		return err
	})
	if errors.Is(err, errs.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return m.GetDescriptor().Digest, true, nil
}

// recopy says whether running the whole copy again may help: not when the
// job is cancelled, the registry refuses us, or it kept failing already.
func recopy(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	for _, permanent := range []error{ErrUnauthorized, ErrDenied, ErrCredential, ErrNotRegistry, ErrTLS, ErrRegistryFailing, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, permanent) {
			return false
		}
	}
	return true
}

// Tag points tag at the manifest d, which must already be in the
// repository (PutManifest put it there).
func (r *Registry) Tag(ctx context.Context, d digest.Digest, tag string) error {
	m, err := r.manifest(ctx, d)
	if err != nil {
		return err
	}
	return call(ctx, "tag "+r.repo.SetTag(tag).CommonName(), func(ctx context.Context) error {
		return r.rc.ManifestPut(ctx, r.repo.SetTag(tag), m)
	})
}

func (r *Registry) keep(d digest.Digest, m manifest.Manifest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pushed[d] = m
}

// manifest returns manifest d: the one pushed or read before, or else
// the registry's.
func (r *Registry) manifest(ctx context.Context, d digest.Digest) (manifest.Manifest, error) {
	r.mu.Lock()
	m, ok := r.pushed[d]
	r.mu.Unlock()
	if ok {
		return m, nil
	}
	err := call(ctx, fmt.Sprintf("read %s@%s", r.repo.CommonName(), d), func(ctx context.Context) (err error) {
		m, err = r.rc.ManifestGet(ctx, r.repo.SetDigest(d.String()))
		return err
	})
	if err != nil {
		return nil, err
	}
	r.keep(d, m) // every tag write after the first needs no GET
	return m, nil
}

// Close releases the client's resources.
func (r *Registry) Close() error {
	return r.rc.Close(context.Background(), r.repo)
}

// versionAnnotation is where an image says which release it is.
const versionAnnotation = "org.opencontainers.image.version"

// Version is the release the image d says it is: its manifest's (or
// index's) org.opencontainers.image.version annotation, "" when it has none.
func (r *Registry) Version(ctx context.Context, d digest.Digest) (string, error) {
	m, err := r.manifest(ctx, d)
	if err != nil {
		return "", err
	}
	a, ok := m.(manifest.Annotator)
	if !ok {
		return "", nil
	}
	annotations, err := a.GetAnnotations()
	if err != nil {
		return "", fmt.Errorf("annotations of %s@%s: %w", r.repo.CommonName(), d, err)
	}
	return annotations[versionAnnotation], nil
}
