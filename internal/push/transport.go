package push

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blumeops/build-push-image/internal/redact"
)

// The transport is the one place requests are retried. regclient's own
// retries are reduced to the login round trip (see New): its backoff state
// is shared by every request to a host, so a few early failures would slow
// or fail later, healthy requests, and it does not retry 503 at all.
//
// Per request, the transport retries:
//   - 408, 429, 500, 502, 503 and 504 answers, waiting with exponential
//     backoff and jitter, or as long as Retry-After asks (up to a cap);
//   - failures to connect, for any request (nothing was sent);
//   - other network failures and stalls, unless the request writes into a
//     blob upload session: the registry may hold part of that body, so the
//     upload is restarted with a fresh session by UploadBlob instead.
//
// A request body is replayed from memory when it is small (manifests,
// upload chunks) and through GetBody otherwise (blobs read from the OCI
// layout); a request whose body cannot be replayed is sent once.
//
// An attempt that moves no byte in either direction for the stall timeout
// (or moves fewer than minProgress: a trickle) is abandoned, so a registry
// that stops answering fails the job (or is retried) instead of hanging
// it. A request made with Optional is never retried: what it fetches only
// saves work.

const (
	// bufferLimit is the largest request body kept in memory for replay.
	bufferLimit = 4 << 20
	// minProgress is how many bytes must move within the stall timeout
	// for an attempt to be alive (a floor of about 0.5 KiB/s at 30 s).
	minProgress = 16 << 10
	// commitRate is how fast a registry is assumed to at least verify an
	// uploaded blob: waiting for the answer to a large upload may take
	// longer than the stall timeout by size/commitRate.
	commitRate = 20 << 20 // bytes per second
)

// AttemptsError is a request that still failed after every retry: its
// message says which request, how it failed, and how often it was tried.
type AttemptsError struct {
	method, path string
	tries        int
	elapsed      time.Duration
	status       int    // last HTTP status, 0 for a network failure
	retryAfter   string // a Retry-After longer than we wait
	cause        error  // last network failure
}

func (e *AttemptsError) Error() string {
	what := ""
	switch {
	case e.status != 0:
		what = fmt.Sprintf("answered %d %s", e.status, http.StatusText(e.status))
	case e.cause != nil:
		what = "failed: " + e.cause.Error()
	}
	s := fmt.Sprintf("%s %s %s", e.method, e.path, what)
	if e.retryAfter != "" {
		s += fmt.Sprintf(" and asked to wait %s s before retrying, longer than we wait", e.retryAfter)
	}
	if e.tries > 1 {
		s += fmt.Sprintf(" (%d tries over %s)", e.tries, e.elapsed.Round(100*time.Millisecond))
	}
	return s
}

func (e *AttemptsError) Unwrap() error { return e.cause }

// StallError is an attempt abandoned because too little moved for too
// long: a registry that stopped answering, or trickles.
type StallError struct {
	after time.Duration
}

func (e *StallError) Error() string {
	return fmt.Sprintf("fewer than %d KiB moved in %s", minProgress>>10, e.after.Round(time.Second))
}

// Timeout makes a stall a timeout for net.Error users.
func (e *StallError) Timeout() bool   { return true }
func (e *StallError) Temporary() bool { return true }

type retryTransport struct {
	next          http.RoundTripper
	retries       int
	delayInit     time.Duration
	delayMax      time.Duration
	maxRetryAfter time.Duration
	stall         time.Duration
}

// newTransport returns the retrying transport for o.
func newTransport(o options) *retryTransport {
	base := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if o.tls == TLSInsecure {
		// regclient sets this only on an *http.Transport it owns.
		base.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user asked for it
	}
	return &retryTransport{
		next: base, retries: o.retries, delayInit: o.delayInit, delayMax: o.delayMax,
		maxRetryAfter: o.maxRetryAfter, stall: o.stall,
	}
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	body, err := newReplayer(req)
	if err != nil {
		return nil, err
	}
	session := isUploadSession(req)
	opt, _ := req.Context().Value(optionalKey{}).(*optional)
	if opt != nil && opt.stalled.Load() {
		return nil, &StallError{after: t.stall}
	}
	for try := 1; ; try++ {
		rc, err := body.next()
		if err != nil {
			return nil, err
		}
		resp, err := t.attempt(req, rc, body.size)
		if err == nil {
			err = bufferSmall(req, resp)
		}
		switch {
		case err == nil && !retryableStatus(resp.StatusCode):
			return answer(req, resp)
		case err != nil && req.Context().Err() != nil:
			return nil, err
		case opt != nil && isStall(err):
			opt.stalled.Store(true)
		}
		retry, wait := t.verdict(resp, err, session, opt != nil)
		if resp != nil {
			drain(resp)
		}
		if !retry || try > t.retries || !body.replayable() {
			return nil, giveUp(req, resp, err, retry, try, time.Since(start))
		}
		if wait == 0 {
			wait = t.backoff(try)
		}
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-time.After(wait):
		}
	}
}

// verdict decides from a failed try (err) or an answer that asks to be
// retried (a retryable status), touching neither, whether the request is
// tried again and after how long (0: the backoff's). Retried: a failure
// to connect; other network failures and stalls, except inside a blob
// upload session and for an optional request's stall; a retryable
// status, as long as its Retry-After asks for no more than maxRetryAfter.
func (t *retryTransport) verdict(resp *http.Response, err error, session, optional bool) (retry bool, wait time.Duration) {
	if err != nil {
		stall := isStall(err)
		return isDialError(err) || (!session && !(optional && stall) && (stall || isNetError(err))), 0
	}
	ra, _ := retryAfter(resp.Header.Get("Retry-After"))
	return ra <= t.maxRetryAfter, ra
}

// giveUp is the error of a request's last try: a network failure not ours
// to retry as it is (regclient and UploadBlob decide), else an
// AttemptsError saying how it failed and how often it was tried.
func giveUp(req *http.Request, resp *http.Response, err error, retry bool, tries int, elapsed time.Duration) error {
	if err != nil && !retry {
		return err
	}
	fail := &AttemptsError{method: req.Method, path: req.URL.Path, tries: tries, elapsed: elapsed, cause: err}
	if resp != nil {
		fail.status = resp.StatusCode
		if !retry { // Retry-After asked for too long
			fail.retryAfter = resp.Header.Get("Retry-After")
		}
	}
	return fail
}

// answer hands on an answer not to retry: an HTML page is no registry's,
// a 4xx a refusal to record, anything else goes to regclient as it is.
func answer(req *http.Request, resp *http.Response) (*http.Response, error) {
	switch {
	case isHTML(resp):
		drain(resp)
		return nil, &NotRegistryError{Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
	case resp.StatusCode/100 == 4:
		return refusal(req, resp)
	}
	return resp, nil
}

// Optional marks the requests made with ctx as an optimisation (the
// reuse look-up): a stall is not retried, and once one stalled every
// later one gives up at once, since the registry is not answering them.
func Optional(ctx context.Context) context.Context {
	return context.WithValue(ctx, optionalKey{}, &optional{})
}

type optionalKey struct{}

// optional is what the requests of one Optional context share.
type optional struct{ stalled atomic.Bool }

// backoff is delayInit doubled per try, capped at delayMax, with ±20 %
// jitter so that jobs failing together do not retry together.
func (t *retryTransport) backoff(try int) time.Duration {
	d := t.delayInit << min(try-1, 16)
	if d > t.delayMax || d <= 0 {
		d = t.delayMax
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// attempt sends one try with a stall watchdog: the try is cancelled when
// no byte of the request or the response moved for t.stall (plus the time
// a registry may need to verify an upload of size bytes).
func (t *retryTransport) attempt(req *http.Request, body io.ReadCloser, size int64) (*http.Response, error) {
	if t.stall <= 0 {
		r := req.Clone(req.Context())
		r.Body = body
		return t.next.RoundTrip(r)
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	w := &watchdog{cancel: cancel, limit: t.stall, grace: time.Duration(size / commitRate * int64(time.Second)), done: make(chan struct{})}
	w.touch()
	r := req.Clone(ctx)
	if body != nil {
		r.Body = &progressBody{ReadCloser: body, w: w, size: size, eofSeen: func() { w.sent.Store(true); w.touch() }}
	} else {
		w.sent.Store(true)
	}
	go w.run()
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		w.stop()
		if se := w.stalled(ctx); se != nil {
			return nil, se
		}
		return nil, err
	}
	w.headers.Store(true)
	w.touch()
	resp.Body = &progressBody{ReadCloser: resp.Body, w: w, ctx: ctx, onClose: w.stop}
	return resp, nil
}

type watchdog struct {
	cancel        context.CancelCauseFunc
	limit, grace  time.Duration
	last          atomic.Int64 // unix nanos of the last sign of life
	moved         atomic.Int64 // bytes moved since then
	sent, headers atomic.Bool
	once          sync.Once
	done          chan struct{}
}

func (w *watchdog) touch() { w.moved.Store(0); w.last.Store(time.Now().UnixNano()) }

// progress counts n bytes moved: every minProgress of them is a sign of
// life, so that a registry trickling its answer (a byte a second) stalls
// like a silent one.
func (w *watchdog) progress(n int) {
	if w.moved.Add(int64(n)) >= minProgress {
		w.touch()
	}
}

func (w *watchdog) stop() {
	w.once.Do(func() { close(w.done); w.cancel(nil) })
}

func (w *watchdog) run() {
	tick := time.NewTicker(max(w.limit/10, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-tick.C:
			limit := w.limit
			if w.sent.Load() && !w.headers.Load() {
				limit += w.grace
			}
			if time.Since(time.Unix(0, w.last.Load())) > limit {
				w.cancel(&StallError{after: limit})
				return
			}
		}
	}
}

// stalled returns the stall that cancelled ctx, if that is what happened.
func (w *watchdog) stalled(ctx context.Context) *StallError {
	var se *StallError
	if errors.As(context.Cause(ctx), &se) {
		return se
	}
	return nil
}

// progressBody reports every byte read to the watchdog.
type progressBody struct {
	io.ReadCloser
	w       *watchdog
	ctx     context.Context
	size    int64 // request bodies: the length at which it is all sent
	read    int64
	eofSeen func()
	onClose func()
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.progress(n)
		b.read += int64(n)
	}
	if b.eofSeen != nil && (err == io.EOF || (b.size > 0 && b.read >= b.size)) {
		b.eofSeen()
	}
	if err == io.EOF && b.onClose != nil { // the whole answer is in
		b.onClose()
	}
	if err != nil && err != io.EOF && b.ctx != nil {
		if se := b.w.stalled(b.ctx); se != nil {
			err = se
		}
	}
	return n, err
}

func (b *progressBody) Close() error {
	err := b.ReadCloser.Close()
	if b.onClose != nil {
		b.onClose()
	}
	return err
}

// replayer hands out the request body once per try.
type replayer struct {
	req    *http.Request
	buf    []byte // small bodies, kept in memory
	size   int64
	tries  int
	closed chan struct{} // closed when the transport is done with the last body
}

func newReplayer(req *http.Request) (*replayer, error) {
	r := &replayer{req: req, size: max(req.ContentLength, 0)}
	if req.Body == nil || req.Body == http.NoBody {
		return r, nil
	}
	if req.ContentLength > 0 && req.ContentLength <= bufferLimit {
		buf, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		r.buf = buf
	}
	return r, nil
}

func (r *replayer) replayable() bool {
	return r.req.Body == nil || r.req.Body == http.NoBody || r.buf != nil || r.req.GetBody != nil
}

func (r *replayer) next() (io.ReadCloser, error) {
	r.tries++
	switch {
	case r.req.Body == nil || r.req.Body == http.NoBody:
		return r.req.Body, nil
	case r.buf != nil:
		return io.NopCloser(bytes.NewReader(r.buf)), nil
	}
	var body io.ReadCloser
	if r.tries == 1 {
		body = r.req.Body
	} else {
		// GetBody may rewind the very reader the last try used: wait until
		// the transport has closed it (it may do so after RoundTrip).
		select {
		case <-r.closed:
		case <-time.After(10 * time.Second):
			return nil, errors.New("request body still in use; cannot retry")
		}
		var err error
		if body, err = r.req.GetBody(); err != nil {
			return nil, err
		}
	}
	r.closed = make(chan struct{})
	return &notifyClose{ReadCloser: body, closed: r.closed}, nil
}

type notifyClose struct {
	io.ReadCloser
	once   sync.Once
	closed chan struct{}
}

func (n *notifyClose) Close() error {
	err := n.ReadCloser.Close()
	n.once.Do(func() { close(n.closed) })
	return err
}

// refusalLimit bounds how much of a refusal's body is read: an OCI error
// is small, and a proxy's page need not be read whole.
const refusalLimit = 64 << 10

// refusal records a 4xx answer as a *ResponseError for the call that sent
// it (see classify) and hands the response on with its body, so
// regclient still sees it; any credential the request carried is cut out
// of the body first (unechoed). A plain-HTTP request answered by an HTTPS server
// (Go's servers say so in a 400) is a TLS mismatch instead.
func refusal(req *http.Request, resp *http.Response) (*http.Response, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, refusalLimit))
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the answer to %s %s: %w", req.Method, req.URL.Path, err)
	}
	if req.URL.Scheme == "http" && resp.StatusCode == http.StatusBadRequest && bytes.HasPrefix(body, []byte("Client sent an HTTP request to an HTTPS server")) {
		return nil, &TLSError{HTTPS: true, Cause: errors.New(string(body))}
	}
	body = []byte(unechoed(req, string(body)))
	re := &ResponseError{Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode}
	parseOCIError(body, re)
	recordRefusal(req.Context(), re, req.Header.Get("Authorization") != "")
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// unechoed is a registry's text with the credentials req carried cut
// out in every form: a registry (or a proxy before it) may quote the
// request's Authorization header back, and its text is printed.
func unechoed(req *http.Request, text string) string {
	auth := req.Header.Get("Authorization")
	if auth == "" || text == "" {
		return text
	}
	var set redact.Set
	set.Add(auth)
	if user, secret, ok := redact.Basic(auth); ok {
		set.Add(secret, user)
	}
	_, token, _ := strings.Cut(auth, " ") // a Bearer token
	set.Add(token)
	return set.Redact(text)
}

// keepAuthInOrigin is the client's redirect policy: a redirect keeps the
// Authorization header only to the origin (scheme, host and port) of the
// first request. Go's own keeps it for the same host name on any port or
// scheme; a blob redirect to storage elsewhere needs none. regclient runs
// it after adding its own headers, so it has the last word.
func keepAuthInOrigin(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if origin(req.URL) != origin(via[0].URL) {
		req.Header.Del("Authorization")
	}
	return nil
}

// origin is a URL's scheme, host and port, the port explicit.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// bufferSmall reads a small successful GET answer (a manifest) into memory
// inside the retry loop, so that a body cut short is retried like any
// other network failure.
func bufferSmall(req *http.Request, resp *http.Response) error {
	if req.Method != http.MethodGet || resp.StatusCode/100 != 2 || resp.ContentLength <= 0 || resp.ContentLength > bufferLimit {
		return nil
	}
	buf, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err == nil && int64(len(buf)) != resp.ContentLength {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return fmt.Errorf("reading the answer to %s %s: %w", req.Method, req.URL.Path, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(buf))
	return nil
}

// isUploadSession is true for a PATCH or PUT into a blob upload session.
func isUploadSession(req *http.Request) bool {
	return (req.Method == http.MethodPatch || req.Method == http.MethodPut) && strings.Contains(req.URL.Path, "/blobs/uploads/")
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryAfter parses Retry-After: seconds or an HTTP date.
func retryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil {
		return max(time.Duration(s)*time.Second, 0), true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(time.Until(at), 0), true
	}
	return 0, false
}

func isHTML(resp *http.Response) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Type"))), "text/html")
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// drain reads a little of a response we discard, so the connection can be
// reused, and closes it.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	_ = resp.Body.Close()
}
