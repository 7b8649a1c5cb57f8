package push

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"

	"github.com/regclient/regclient/types/errs"
)

// Sentinels say what kind of failure an error is; check them with
// errors.Is. The typed errors below carry the facts (status, OCI code,
// request) for the one place that writes the user's message.
var (
	// ErrUnauthorized means the registry rejected the credentials (HTTP 401).
	ErrUnauthorized = errors.New("credentials rejected")
	// ErrDenied means the credentials were accepted but the action is not
	// allowed (HTTP 403), e.g. zot refusing a create-only user to overwrite
	// a tag.
	ErrDenied = errors.New("denied by the registry")
	// ErrRefused means the registry answered a request with a 4xx status
	// other than 404: a *ResponseError says which and why.
	ErrRefused = errors.New("refused by the registry")
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

// ResponseError is a registry's refusal of a request: the HTTP status and
// the OCI error it sent (zot puts a policy's reason in the detail). It is
// recorded by the transport, which sees every response, so nobody has to
// read a status back out of an error string.
type ResponseError struct {
	Method, Path string
	Status       int
	// Code and Message are the first OCI error of the body
	// ({"errors":[{"code":...,"message":...}]}), empty when there was none.
	Code, Message string
	// Reason is a detail the registry added (zot's "reason").
	Reason string
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Method, e.Path, e.Said())
}

// Said is the registry's own words: the status, OCI code, message and
// reason it sent, for a message to quote.
func (e *ResponseError) Said() string {
	s := fmt.Sprintf("HTTP %d", e.Status)
	for _, part := range []string{e.Code, e.Message, e.Reason} {
		if part != "" {
			s += " " + part
		}
	}
	return s
}

// Is maps the status to the sentinels: 401 is ErrUnauthorized, 403
// ErrDenied, and every 4xx but 404 is ErrRefused.
func (e *ResponseError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Status == 401
	case ErrDenied:
		return e.Status == 403
	case ErrRefused:
		return e.Status/100 == 4 && e.Status != 404
	}
	return false
}

// ociErrors is the error body of the distribution spec. zot answers bad
// credentials with a bare {"code":...} instead.
type ociErrors struct {
	Errors []ociError `json:"errors"`
	ociError
}

type ociError struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Reason  string          `json:"reason"`
	Detail  json.RawMessage `json:"detail"`
}

// parseOCIError reads the OCI error body; it tolerates anything else.
func parseOCIError(body []byte, e *ResponseError) {
	var b ociErrors
	if json.Unmarshal(body, &b) != nil {
		return
	}
	first := b.ociError
	if len(b.Errors) > 0 {
		first = b.Errors[0]
	}
	e.Code, e.Message, e.Reason = first.Code, first.Message, first.Reason
	var detail struct {
		Reason string `json:"reason"`
	}
	if e.Reason == "" && json.Unmarshal(first.Detail, &detail) == nil {
		e.Reason = detail.Reason
	}
}

// recorder keeps the refusal that explains one call's failure, for one
// call. It rides in the request context, so concurrent calls never see
// each other's. That is the last refusal, until the registry refuses a
// request that carried credentials (401: the key; 403: its rights): that
// went wrong first, and what regclient does after it (a chunked retry, the
// cancel of the upload session) is not the cause, so it stays.
type recorder struct {
	mu    sync.Mutex
	last  *ResponseError
	final bool // last is a refusal of credentials or their rights
}

type recorderKey struct{}

func withRecorder(ctx context.Context) (context.Context, *recorder) {
	rec := &recorder{}
	return context.WithValue(ctx, recorderKey{}, rec), rec
}

// recordRefusal records e, the answer to a request that carried
// credentials when authorized (else a 401 is only the login challenge).
func recordRefusal(ctx context.Context, e *ResponseError, authorized bool) {
	rec, ok := ctx.Value(recorderKey{}).(*recorder)
	if !ok {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.final {
		return
	}
	rec.last = e
	rec.final = authorized && (e.Status == 401 || e.Status == 403)
}

func (r *recorder) refusal() *ResponseError {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// NotRegistryError is an answer that is an HTML page, not the registry
// API: a login page, a web server or a proxy's error page at the host.
type NotRegistryError struct {
	Method, Path string
	Status       int
	ContentType  string
}

func (e *NotRegistryError) Error() string {
	return fmt.Sprintf("%s %s answered %d with an HTML page (%s), not the registry API", e.Method, e.Path, e.Status, e.ContentType)
}

// Is makes an HTML answer ErrNotRegistry.
func (e *NotRegistryError) Is(target error) bool { return target == ErrNotRegistry }

// TLSError is a TLS mismatch: plain HTTP where HTTPS was expected (or the
// reverse), or a certificate that is not trusted.
type TLSError struct {
	// PlainHTTP: the registry speaks plain HTTP; HTTPS: it speaks HTTPS;
	// neither: the TLS handshake or certificate failed (Cause says how).
	PlainHTTP, HTTPS bool
	Cause            error
}

func (e *TLSError) Error() string {
	switch {
	case e.PlainHTTP:
		return "the registry speaks plain HTTP, not HTTPS"
	case e.HTTPS:
		return "the registry speaks HTTPS, not plain HTTP"
	}
	return "TLS with the registry failed: " + e.Cause.Error()
}

func (e *TLSError) Unwrap() []error { return []error{ErrTLS, e.Cause} }

// NetworkError is a request that never got an answer: Dial is true when no
// connection could be made at all.
type NetworkError struct {
	Method, Path string
	Dial         bool
	Cause        error
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.Method, e.Path, e.Cause)
}

func (e *NetworkError) Unwrap() []error {
	if e.Dial {
		return []error{ErrUnreachable, e.Cause}
	}
	return []error{ErrConnection, e.Cause}
}

// wrapped adds a sentinel to an error without changing its message.
type wrapped struct {
	sentinel, cause error
}

func (e *wrapped) Error() string   { return e.cause.Error() }
func (e *wrapped) Unwrap() []error { return []error{e.sentinel, e.cause} }

// classify gives err, from regclient, the typed error that says what went
// wrong: the refusal the transport recorded during the call when regclient
// failed on a status, or what the transport found.
func classify(err error, rec *recorder) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errs.ErrNotFound) {
		return err
	}
	var ce *credentialError
	if errors.As(err, &ce) {
		return ce
	}
	for _, typed := range []error{ErrNotRegistry, ErrTLS} {
		if errors.Is(err, typed) {
			return err
		}
	}
	var ae *AttemptsError
	if errors.As(err, &ae) && (ae.status != 0 || isStall(ae.cause)) {
		return &wrapped{sentinel: ErrRegistryFailing, cause: ae}
	}
	var se *StallError
	if errors.As(err, &se) {
		return &wrapped{sentinel: ErrStalled, cause: se}
	}
	if te := tlsFailure(err); te != nil {
		return te
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		path := ue.URL
		if u, perr := url.Parse(ue.URL); perr == nil {
			path = u.Path // the query holds upload state: noise
		}
		return &NetworkError{Method: ue.Op, Path: path, Dial: isDialError(err), Cause: innermost(ue.Err)}
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return &NetworkError{Dial: true, Cause: err}
	}
	if re := rec.refusal(); re != nil && isStatusError(err) {
		return re
	}
	if errors.Is(err, errs.ErrHTTPUnauthorized) || errors.Is(err, errs.ErrNoNewChallenge) {
		// A 401 that survives regclient's login attempt.
		return &wrapped{sentinel: ErrUnauthorized, cause: err}
	}
	return err
}

// isStatusError: regclient failed because of an HTTP status.
func isStatusError(err error) bool {
	for _, e := range []error{errs.ErrHTTPStatus, errs.ErrHTTPUnauthorized, errs.ErrNoNewChallenge, errs.ErrHTTPRateLimit} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// tlsFailure finds a certificate or handshake failure in err.
func tlsFailure(err error) *TLSError {
	var (
		cv   *tls.CertificateVerificationError
		ua   x509.UnknownAuthorityError
		he   x509.HostnameError
		ci   x509.CertificateInvalidError
		rh   tls.RecordHeaderError
		al   tls.AlertError
		te   *TLSError
		hint = errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &rh) || errors.As(err, &al)
	)
	switch {
	case errors.As(err, &te):
		return te
	case hint:
		return &TLSError{Cause: innermost(err)}
	}
	// net/http reports an HTTPS request answered in plain HTTP with an
	// untyped error: its text is the only sign, and it is net/http's own.
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return &TLSError{PlainHTTP: true, Cause: err}
	}
	return nil
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
	var se *StallError
	return errors.As(err, &se)
}
