// Package push publishes an OCI image layout to a registry with regclient:
// content by digest first, tags afterwards, one tag at a time. It decides
// nothing about whether a tag may be written; that is the guard's job.
package push

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient"
	"github.com/regclient/regclient/config"
	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/ref"
)

var (
	// ErrUnauthorized means the registry rejected the credentials (HTTP 401).
	ErrUnauthorized = errors.New("credentials rejected")
	// ErrDenied means the credentials were accepted but the action is not
	// allowed (HTTP 403), e.g. zot refusing a create-only user to overwrite
	// a tag.
	ErrDenied = errors.New("denied by the registry")
	// ErrUnreachable means no registry answered at the address.
	ErrUnreachable = errors.New("registry unreachable")
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
	rc   *regclient.RegClient
	repo ref.Ref
}

type options struct {
	user, pass string
	tls        TLS
	retries    int
	delayInit  time.Duration
	delayMax   time.Duration
}

// Opt configures New.
type Opt func(*options)

// WithCredentials logs in with Basic auth. A zot API key is the password.
func WithCredentials(user, pass string) Opt {
	return func(o *options) { o.user, o.pass = user, pass }
}

// WithTLS sets how the registry is reached.
func WithTLS(t TLS) Opt {
	return func(o *options) { o.tls = t }
}

// WithRetry sets how often a failed request (429, 5xx, network) is retried
// and how long to wait in between.
func WithRetry(limit int, delayInit, delayMax time.Duration) Opt {
	return func(o *options) { o.retries, o.delayInit, o.delayMax = limit, delayInit, delayMax }
}

// New returns a Registry for repository (host/path, no tag or digest).
func New(repository string, opts ...Opt) (*Registry, error) {
	o := options{retries: 5, delayInit: 200 * time.Millisecond, delayMax: 5 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	r, err := ref.New(repository)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", repository, err)
	}
	r = r.SetTag("")
	host := config.HostNewName(r.Registry)
	host.User, host.Pass = o.user, o.pass
	host.TLS = [...]config.TLSConf{config.TLSEnabled, config.TLSInsecure, config.TLSDisabled}[o.tls]
	rc := regclient.New(
		regclient.WithConfigHost(*host),
		regclient.WithRetryLimit(o.retries),
		regclient.WithRetryDelay(o.delayInit, o.delayMax),
		regclient.WithUserAgent("build-push-image"),
	)
	return &Registry{rc: rc, repo: r}, nil
}

// Ping checks that the registry answers and accepts the credentials.
func (r *Registry) Ping(ctx context.Context) error {
	if _, err := r.rc.Ping(ctx, r.repo); err != nil {
		return classify(fmt.Errorf("%s: %w", r.repo.Registry, err))
	}
	return nil
}

// Lookup returns the digest a tag points at, and false when it does not
// exist. It sends one HEAD request: it never lists the repository's tags.
func (r *Registry) Lookup(ctx context.Context, tag string) (digest.Digest, bool, error) {
	m, err := r.rc.ManifestHead(ctx, r.repo.SetTag(tag), regclient.WithManifestRequireDigest())
	if errors.Is(err, errs.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, classify(fmt.Errorf("look up %s: %w", r.repo.SetTag(tag).CommonName(), err))
	}
	return m.GetDescriptor().Digest, true, nil
}

// PushLayout uploads the image d from the OCI layout directory by digest:
// every blob, then every manifest, and no tag. Blobs the registry already
// has are skipped.
func (r *Registry) PushLayout(ctx context.Context, layout string, d digest.Digest) error {
	src, err := ref.New("ocidir://" + layout + "@" + d.String())
	if err != nil {
		return fmt.Errorf("layout %s: %w", layout, err)
	}
	if err := r.rc.ImageCopy(ctx, src, r.repo.SetDigest(d.String())); err != nil {
		return classify(fmt.Errorf("push %s@%s: %w", r.repo.CommonName(), d, err))
	}
	return nil
}

// Tag points tag at the manifest d, which must already be in the
// repository (PushLayout put it there).
func (r *Registry) Tag(ctx context.Context, d digest.Digest, tag string) error {
	m, err := r.rc.ManifestGet(ctx, r.repo.SetDigest(d.String()))
	if err != nil {
		return classify(fmt.Errorf("read %s@%s: %w", r.repo.CommonName(), d, err))
	}
	if err := r.rc.ManifestPut(ctx, r.repo.SetTag(tag), m); err != nil {
		return classify(fmt.Errorf("tag %s: %w", r.repo.SetTag(tag).CommonName(), err))
	}
	return nil
}

// Close releases the client's resources.
func (r *Registry) Close() error {
	return r.rc.Close(context.Background(), r.repo)
}

// httpStatus matches the "[http NNN]" regclient puts in every status error.
// regclient maps 401 and 403 to one sentinel, so the number is the only way
// to tell "bad credentials" from "not allowed".
var httpStatus = regexp.MustCompile(`\[http (\d{3})\]`)

func classify(err error) error {
	var netErr net.Error
	if errors.As(err, &netErr) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	m := httpStatus.FindStringSubmatch(err.Error())
	switch {
	case m != nil && m[1] == "403":
		return fmt.Errorf("%w: %w", ErrDenied, err)
	case m != nil && m[1] == "401",
		// A 401 that survives regclient's login attempt carries no status.
		m == nil && (errors.Is(err, errs.ErrHTTPUnauthorized) || errors.Is(err, errs.ErrNoNewChallenge)):
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	return err
}
