package push

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Credential is a password got when a login needs it rather than once: a
// short-lived token (the job's OIDC ID token) that a long job renews.
type Credential interface {
	Password(ctx context.Context) (string, error)
}

// WithFreshCredentials logs in as user with what cred gives at each login:
// regclient asks for a login at every new scope and whenever the registry's
// bearer token lapses, and each time the password is fetched anew (cred
// decides whether the one it holds is still good). It goes to the
// registry's own host only (its token endpoint, or a Basic challenge
// there), never to another host a challenge or redirect names.
func WithFreshCredentials(user string, cred Credential) Opt {
	return func(o *options) { o.user, o.pass, o.fresh = user, freshPlaceholder, cred }
}

// freshPlaceholder is the password regclient holds under
// WithFreshCredentials: it is no secret, and freshAuth puts the real one
// in its place on the way out.
const freshPlaceholder = "fetched-at-login"

// freshTimeout bounds getting a password for one login.
const freshTimeout = time.Minute

// freshAuth replaces the placeholder in a Basic login to host with the
// credential's current password.
type freshAuth struct {
	next http.RoundTripper
	host string
	user string
	cred Credential
}

func (f *freshAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	user, pass, ok := req.BasicAuth()
	if !ok || pass != freshPlaceholder || user != f.user || !strings.EqualFold(req.URL.Host, f.host) {
		return f.next.RoundTrip(req)
	}
	ctx, cancel := context.WithTimeout(req.Context(), freshTimeout)
	defer cancel()
	secret, err := f.cred.Password(ctx)
	if err != nil {
		return nil, &credentialError{err: err}
	}
	out := req.Clone(req.Context())
	out.SetBasicAuth(user, secret)
	return f.next.RoundTrip(out)
}

// credentialError is a login whose password could not be got: it says
// why (the forge's answer), and is no network failure to retry.
type credentialError struct{ err error }

func (e *credentialError) Error() string {
	return fmt.Sprintf("getting the login's password: %v", e.err)
}
func (e *credentialError) Unwrap() []error { return []error{ErrCredential, e.err} }

// ErrCredential means a login's password could not be got
// (WithFreshCredentials): the credential's own error says why.
var ErrCredential = errors.New("no password for the login")
