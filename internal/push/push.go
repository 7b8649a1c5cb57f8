// Package push publishes an OCI image layout to a registry with regclient:
// content by digest first, tags afterwards, one tag at a time. It decides
// nothing about whether a tag may be written; that is the guard's job.
package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
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

var (
	// ErrUnauthorized means the registry rejected the credentials (HTTP 401).
	ErrUnauthorized = errors.New("credentials rejected")
	// ErrDenied means the credentials were accepted but the action is not
	// allowed (HTTP 403), e.g. zot refusing a create-only user to overwrite
	// a tag.
	ErrDenied = errors.New("denied by the registry")
	// ErrUnreachable means no registry answered at the address.
	ErrUnreachable = errors.New("registry unreachable")
	// ErrNotRegistry means the address answered, but with a web page
	// instead of the registry API (a login page, a proxy's error page).
	ErrNotRegistry = errors.New("not a registry")
	// ErrTLS means registry-tls does not match what the registry speaks,
	// or its certificate is not trusted.
	ErrTLS = errors.New("TLS mismatch")
	// ErrRegistryFailing means the registry kept failing a request (5xx,
	// 429, stalls) after every retry.
	ErrRegistryFailing = errors.New("registry failing")
	// ErrStalled means a request moved no data for the stall timeout.
	ErrStalled = errors.New("registry stalled")
	// ErrConnection means a connection to the registry broke mid-request.
	ErrConnection = errors.New("connection broke")
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
	// pushed holds the manifests PushLayout uploaded, by digest, so that
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
	// copies is how often PushLayout runs the whole copy: a second run
	// restarts blob uploads whose session a broken connection spoiled, and
	// skips every blob already pushed.
	defaultCopies = 2
)

// New returns a Registry for repository (host/path, no tag or digest).
func New(repository string, opts ...Opt) (*Registry, error) {
	o := options{
		retries: DefaultRetries, delayInit: DefaultDelayInit, delayMax: DefaultDelayMax,
		maxRetryAfter: DefaultMaxRetryAfter, stall: DefaultStallTimeout, copies: defaultCopies,
	}
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
	logger := o.log
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rc := regclient.New(
		regclient.WithSlog(logger),
		regclient.WithConfigHost(*host),
		regclient.WithRegOpts(
			reg.WithHTTPClient(&http.Client{Transport: newTransport(o)}),
			// The transport retries; regclient keeps one extra try for the
			// login round trip (a 401 challenge, then the credentials).
			// Its backoff delays every later request to the host: the
			// transport has waited already, so keep it short.
			reg.WithRetryLimit(1),
			reg.WithDelay(10*time.Millisecond, 100*time.Millisecond),
		),
		regclient.WithUserAgent("build-push-image"),
	)
	return &Registry{rc: rc, repo: r, copies: max(o.copies, 1), pushed: map[digest.Digest]manifest.Manifest{}}, nil
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
	// The reference is built, not parsed: ref.New refuses paths with
	// characters outside [/A-Za-z0-9_.~+ -] (a RUNNER_TEMP holding "(",
	// "@" or ":"), and ':' or '@' in a path would be read as a tag or digest.
	if err := d.Validate(); err != nil {
		return fmt.Errorf("layout %s: digest %q: %w", layout, d, err)
	}
	src := ref.Ref{Scheme: "ocidir", Path: layout, Digest: d.String()}
	for try := 1; ; try++ {
		err := r.rc.ImageCopy(ctx, src, r.repo.SetDigest(d.String()))
		if err == nil {
			return r.remember(ctx, src, d)
		}
		err = classify(fmt.Errorf("push %s@%s: %w", r.repo.CommonName(), d, err))
		if try >= r.copies || !recopy(ctx, err) {
			return err
		}
	}
}

// recopy says whether running the whole copy again may help: not when the
// job is cancelled, the registry refuses us, or it kept failing already.
func recopy(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	for _, permanent := range []error{ErrUnauthorized, ErrDenied, ErrNotRegistry, ErrTLS, ErrRegistryFailing, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, permanent) {
			return false
		}
	}
	return true
}

// Tag points tag at the manifest d, which must already be in the
// repository (PushLayout put it there).
func (r *Registry) Tag(ctx context.Context, d digest.Digest, tag string) error {
	m, err := r.manifest(ctx, d)
	if err != nil {
		return err
	}
	if err := r.rc.ManifestPut(ctx, r.repo.SetTag(tag), m); err != nil {
		return classify(fmt.Errorf("tag %s: %w", r.repo.SetTag(tag).CommonName(), err))
	}
	return nil
}

// remember keeps the manifest just pushed, read from the local layout.
func (r *Registry) remember(ctx context.Context, src ref.Ref, d digest.Digest) error {
	m, err := r.rc.ManifestGet(ctx, src)
	if err != nil {
		return fmt.Errorf("read pushed manifest %s from the layout: %w", d, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pushed[d] = m
	return nil
}

// manifest returns manifest d: the one pushed, or else the registry's.
func (r *Registry) manifest(ctx context.Context, d digest.Digest) (manifest.Manifest, error) {
	r.mu.Lock()
	m, ok := r.pushed[d]
	r.mu.Unlock()
	if ok {
		return m, nil
	}
	m, err := r.rc.ManifestGet(ctx, r.repo.SetDigest(d.String()))
	if err != nil {
		return nil, classify(fmt.Errorf("read %s@%s: %w", r.repo.CommonName(), d, err))
	}
	return m, nil
}

// Close releases the client's resources.
func (r *Registry) Close() error {
	return r.rc.Close(context.Background(), r.repo)
}

// httpStatus matches the "[http NNN]" regclient puts in every status error.
// regclient maps 401 and 403 to one sentinel, so the number is the only way
// to tell "bad credentials" from "not allowed".
var httpStatus = regexp.MustCompile(`\[http (\d{3})\]`)

// pushError is a failure described for the user: Error is the message,
// Unwrap the sentinel and the cause, for errors.Is.
type pushError struct {
	msg      string
	sentinel error
	cause    error
}

func (e *pushError) Error() string   { return e.msg }
func (e *pushError) Unwrap() []error { return []error{e.sentinel, e.cause} }

// classify wraps err with the sentinel that says what went wrong. Errors
// the caller cannot explain better get a message of their own, without
// regclient's chain (which may hold a whole HTML page).
func classify(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var nr *notRegistryError
	if errors.As(err, &nr) {
		return &pushError{sentinel: ErrNotRegistry, cause: err, msg: fmt.Sprintf(
			"image: the host of the image answered %s %s with an HTML page (HTTP %d, %s), not the OCI registry API; check the image's host and port, and that no web server, login page or proxy answers there instead of the registry",
			nr.method, nr.path, nr.status, nr.contentType)}
	}
	var ae *attemptsError
	if errors.As(err, &ae) && (ae.status != 0 || isStall(ae.cause)) {
		return &pushError{sentinel: ErrRegistryFailing, cause: err, msg: fmt.Sprintf(
			"the registry kept failing: %s; it is overloaded or down: re-run the job later, or ask the registry's operators", ae)}
	}
	var se *stallError
	if errors.As(err, &se) {
		return &pushError{sentinel: ErrStalled, cause: err, msg: fmt.Sprintf(
			"the registry stopped answering (%s); re-run the job later, or ask the registry's operators", err)}
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return &pushError{sentinel: ErrTLS, cause: err, msg: "registry-tls: the registry speaks plain HTTP, not HTTPS; set registry-tls: disabled if that is intended (only on a trusted network)"}
	case strings.Contains(msg, "Client sent an HTTP request to an HTTPS server"):
		return &pushError{sentinel: ErrTLS, cause: err, msg: "registry-tls: the registry speaks HTTPS; set registry-tls: enabled"}
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "tls: "):
		return &pushError{sentinel: ErrTLS, cause: err, msg: fmt.Sprintf(
			"registry-tls: TLS with the registry failed (%s); install the registry's CA on the runner, or set registry-tls: insecure", tlsReason(msg))}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		req := ue.Op + " " + ue.URL
		if u, perr := url.Parse(ue.URL); perr == nil {
			req = ue.Op + " " + u.Path // the query holds upload state: noise
		}
		cause := innermost(ue.Err)
		if isDialError(err) {
			return &pushError{sentinel: ErrUnreachable, cause: err, msg: fmt.Sprintf("%s: %s", req, cause)}
		}
		return &pushError{sentinel: ErrConnection, cause: err, msg: fmt.Sprintf(
			"the connection to the registry broke: %s: %s; re-run the job, and check proxies or load balancers between the runner and the registry", req, cause)}
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	m := httpStatus.FindStringSubmatch(msg)
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

// innermost is the last error of a chain: "connection reset by peer"
// rather than every layer that passed it on.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

func isStall(err error) bool {
	var se *stallError
	return errors.As(err, &se)
}

// tlsReason is the part of a TLS error message from "x509:" or "tls:" on.
func tlsReason(msg string) string {
	for _, marker := range []string{"x509:", "tls: "} {
		if i := strings.Index(msg, marker); i >= 0 {
			return msg[i:]
		}
	}
	return msg
}
