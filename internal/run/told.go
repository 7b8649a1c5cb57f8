package run

// The lines a user reads about a failed run: the run knows its inputs,
// so it tells each failure where it returns it (tell), as an
// *input.Line naming the input that fixes it and how. The packages
// return typed errors with the facts; the line is looked up by each
// error's own type or value (input.Told), not decided by an order of
// cases.

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/buildkitd"
	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/guard"
	"github.com/blumeops/build-push-image/internal/input"
	"github.com/blumeops/build-push-image/internal/oidc"
	"github.com/blumeops/build-push-image/internal/push"
	"github.com/blumeops/build-push-image/internal/sign"
	"github.com/blumeops/build-push-image/internal/source"
	"github.com/blumeops/build-push-image/internal/stream"
)

// tell is err told as the one line a user reads (an *input.Line): the
// outermost error of the chain with a line of its own says what failed;
// an error nothing tells stays as it is.
func tell(cfg config.Config, ids *oidc.Source, err error) error {
	return input.Tell(err, facts{cfg: cfg, ids: ids, err: err}.told)
}

// lookup is the line input.Told finds for err, else err as it is.
func lookup(err error, told func(error) (string, bool)) string {
	if line, ok := input.Told(err, told); ok {
		return line
	}
	return err.Error()
}

// facts are what a run's lines name besides the error that told them: its
// inputs, its identity, and the whole error, which the lines quote.
type facts struct {
	cfg config.Config
	ids *oidc.Source
	err error
}

// told is the line of one error of the chain by its own type or value
// (never by those it wraps); false passes on to the errors it wraps. A
// value has one type, and is at most one sentinel: which line is told does
// not depend on the order below.
func (f facts) told(e error) (string, bool) {
	if line, ok := f.sentinel(e); ok {
		return line, true
	}
	switch e := e.(type) {
	case *source.Error:
		return f.archiveLine(e), true
	case *stream.Error:
		return input.New("archive", fmt.Errorf("%s: %s", f.cfg.Origin.Path, e.Reason), "").Error(), true
	case *guard.ExistsError:
		return existsLine(e, f.err), true
	case *buildkitd.ContainerError:
		return containerLine(e), true
	case *oidc.Error, *push.ResponseError:
		return f.refusedLine()
	}
	return registryTold(f.cfg.Registry(), f.err, e)
}

// advice is, for each sentinel a package wraps a failure in, the input
// that fixes it and how; the line quotes the whole error.
var advice = []struct {
	err           error
	input, advice string
}{
	{sign.ErrSignature, "signing-key", "no tag was written, nothing released: re-run once the registry takes the signature (an OCI 1.1 manifest whose subject is the image, listed through the referrers API or the sha256-<digest> referrers tag)"},
	{buildkitd.ErrNoDaemon, "buildkit-address", "set buildkit-address (or BUILDKIT_HOST) to a running buildkitd, or install buildkitd and runc, or Docker, on the runner"},
	{buildkitd.ErrRootless, "buildkit-address", "install rootlesskit and uidmap (with /etc/subuid and /etc/subgid entries for this user) to let the action start it rootless, or set buildkit-address (or BUILDKIT_HOST) to a running buildkitd"},
	{buildkitd.ErrNoCLI, "buildkit-address", "install it on the runner or put it on PATH, or give a unix:// or tcp:// address"},
	{build.ErrTLSConfig, "buildkit-tls-*", "give PEM files (or contents) of the CA, client certificate and key"},
}

// sentinel is the line of e when it is one of the sentinels a line is
// told for: advice's, and those whose line needs the run's facts.
func (f facts) sentinel(e error) (string, bool) {
	for _, a := range advice {
		if e == a.err {
			return input.New(a.input, f.err, a.advice).Error(), true
		}
	}
	cfg := f.cfg
	switch e {
	case guard.ErrVersionExists, guard.ErrLostRace, guard.ErrAlreadyPublished:
		return f.err.Error(), true
	case build.ErrExport:
		return input.New("push-via", fmt.Errorf("buildkit: buildkitd built the image but could not push it to %s (%w)", cfg.Registry(), f.err),
			"let buildkitd reach the registry, or set push-via: auto (falls back to the action's upload) or action").Error(), true
	case build.ErrExecFormat:
		return fmt.Sprintf("platforms: a RUN step's program is for a platform buildkitd's machine cannot run without emulation (building %s); add emulation there (binfmt/QEMU: docker run --privileged --rm tonistiigi/binfmt --install all; colima's Rosetta: colima start --vm-type vz --vz-rosetta), or set platforms to the machine's own; %v",
			platformsBuilt(build.PlatformNames(cfg.Platforms)), f.err), true
	case build.ErrUnreachable:
		return fmt.Sprintf("buildkit-address: no buildkitd answers at %s; start buildkitd there or point buildkit-address (or BUILDKIT_HOST) at one (%v)", cfg.BuildkitAddress, f.err), true
	case push.ErrUnauthorized, push.ErrDenied:
		return f.refusedLine()
	}
	return "", false
}

// existsLine: the version tag exists; when the registry refused to
// overwrite it (registry-enforced immutability), the line says so.
func existsLine(e *guard.ExistsError, err error) string {
	if e.Refusal == nil {
		return err.Error()
	}
	return fmt.Sprintf("version tag %s already exists in %s (%s)%s: the registry refused to overwrite it (%s; registry-enforced immutability); version tags are immutable: bump the version",
		e.Tag, e.Image, e.Digest, e.NotOurs(), registrySaid(e.Refusal))
}

// refusedLine explains a refusal (a *push.ResponseError, ErrUnauthorized
// or ErrDenied in the chain), or the forge's refusal of an ID token: the
// job's identity's, with oidc-audience, else the login's. A refusal none
// of these fits passes on.
func (f facts) refusedLine() (string, bool) {
	cfg, err := f.cfg, f.err
	if line, ok := identityLine(cfg.Access, f.ids, cfg.Registry(), cfg.Image, "push to", err); ok {
		return line, true
	}
	var refused *push.ResponseError
	switch {
	case errors.Is(err, push.ErrUnauthorized):
		return rejected(cfg.Registry(), cfg.Username, err), true
	case errors.As(err, &refused) && refused.Status == http.StatusUnsupportedMediaType:
		return mediaTypeLine(cfg, refused), true
	case errors.As(err, &refused) && refused.Status/100 == 4 && isTagWrite(refused):
		return fmt.Sprintf("username: the registry refused to write a tag of %s for %q (%s); nothing that names a release was written; grant it create (and update, for the SHA tag) on that repository, or check the registry's tag policy, then re-run",
			cfg.Image, cfg.Username, registrySaid(refused)), true
	case errors.Is(err, push.ErrDenied):
		return fmt.Sprintf("username: %q may not push to %s (denied by the registry: %s); grant it read and create on that repository", cfg.Username, failedImage(cfg, err), registrySaid(err)), true
	}
	return "", false
}

// failedImage is the repository a refusal concerns: the one whose push
// check failed, else the image input's first.
func failedImage(cfg config.Config, err error) string {
	var pc *pushCheckError
	if errors.As(err, &pc) {
		return pc.Image
	}
	return cfg.Image
}

// rejected: the registry refused the login. On zot that is a wrong key or
// one that expired (zot answers both with the same 401), and zot API keys
// expire: the line says where to see when.
func rejected(registry, username string, err error) string {
	said := "HTTP 401"
	var re *push.ResponseError
	if errors.As(err, &re) {
		said = re.Said()
	}
	return fmt.Sprintf("api-key: credentials rejected by %s for username %q (%s): a wrong, revoked or expired key; zot API keys expire: see each key's expiry in zot's UI (API keys) or with GET /zot/auth/apikey as %q, then check that username and api-key belong together or mint a new key and update the secret",
		registry, username, said, username)
}

// mediaTypeLine: the registry refused a manifest's media type (415), as
// zot does a Docker one without its docker2s2 compatibility setting.
func mediaTypeLine(cfg config.Config, re *push.ResponseError) string {
	input := "image"
	if cfg.Origin.IsArchive() {
		input = "archive: " + cfg.Origin.Path
	}
	return fmt.Sprintf("%s: the registry refused the image's manifest (%s): it takes OCI media types only, as zot does without http.compat [\"docker2s2\"], and this manifest has another (a Docker schema 2 one); publish the image with OCI media types (a docker-archive, which the action converts, or skopeo copy --format oci), or have the registry's operator enable docker2s2",
		input, re.Said())
}

// archiveLine explains what is wrong with the archive input: the archive
// package says what, in one line naming neither the input nor the path;
// its kind says which input fixes it and how (archiveFix).
func (f facts) archiveLine(e *source.Error) string {
	fix := f.archiveFix(e.Kind)
	return input.New(fix.input, fmt.Errorf("%s%s: %s", fix.about, f.cfg.Origin.Path, e.Reason), fix.advice).Error()
}

// fix is the input that fixes a bad archive, what the line calls the
// archive before its path, and how to fix it.
type fix struct{ input, about, advice string }

// archiveFix is the fix for an archive of kind (one source.Error Kind;
// the cases are values, so their order means nothing); any other kind is
// an archive that is not one, fixed as its origin says.
func (f facts) archiveFix(kind error) fix {
	switch kind {
	case source.ErrPlatform:
		return fix{"platforms", "archive ", "build the image for " + strings.Join(build.PlatformNames(f.cfg.Platforms), ", ") + " (nix: on a machine of that platform, or with its pkgsCross), or correct platforms"}
	case source.ErrChoose:
		return fix{"archive-image", "", "set archive-image to the one to push (its name:tag, or its platform os/arch in an index)"}
	case source.ErrHostile:
		return fix{"archive", "", "refused, nothing outside it was read or written: check what built it"}
	case source.ErrTooLarge:
		return fix{"archive", "", ""}
	}
	if f.cfg.Origin.Streamed() { // its writer is at fault
		return fix{"archive", "", "nothing was tagged: check the program that writes the image"}
	}
	return fix{"archive", "", "give archive the path of a docker-archive, OCI archive or OCI layout directory as the tool that made it wrote it"}
}

// containerLine names the inputs that shaped the BuildKit container that
// failed, and how to fix them.
func containerLine(e *buildkitd.ContainerError) string {
	switch e.Step {
	case buildkitd.StepConfig:
		return fmt.Sprintf("buildkit-container-flags: could not copy the buildkitd config (buildkitd-config, or the Docker daemon's registry-mirrors) into the BuildKit container: %v", e.Err)
	case buildkitd.StepReady:
		return fmt.Sprintf("buildkit-image, buildkit-container-flags: %v; fix the image or flags, or remove the container (docker rm -f %s) to start it afresh", e, buildkitd.ContainerName)
	}
	return fmt.Sprintf("buildkit-image, buildkit-container-flags: %v", e)
}

// platformsBuilt names the platforms input, or what building without it
// means.
func platformsBuilt(platforms []string) string {
	if len(platforms) == 0 {
		return "the base image's platform, as platforms is unset"
	}
	return strings.Join(platforms, ", ")
}

// registryLine explains the registry's transport failures in err (the
// plan's look-ups and push check).
func registryLine(registry string, err error) string {
	return lookup(err, func(e error) (string, bool) { return registryTold(registry, err, e) })
}

// registryTold explains the transport failure e, one error of err's
// chain, by its own type or value; false passes on.
func registryTold(registry string, err, e error) (string, bool) {
	var ae *push.AttemptsError
	var se *push.StallError
	switch e := e.(type) {
	case *push.NotRegistryError:
		return fmt.Sprintf("image: the host of the image answered %s %s with an HTML page (HTTP %d, %s), not the OCI registry API; check the image's host and port, and that no web server, login page or proxy answers there instead of the registry",
			e.Method, e.Path, e.Status, e.ContentType), true
	case *push.TLSError:
		return tlsLine(e), true
	case *push.NetworkError:
		if e.Dial {
			return fmt.Sprintf("image: registry %s unreachable; check the host and port, and registry-tls (%v)", registry, err), true
		}
		return fmt.Sprintf("the connection to the registry broke: %s %s: %v; re-run the job, and check proxies or load balancers between the runner and the registry", e.Method, e.Path, e.Cause), true
	}
	switch {
	case e == push.ErrRegistryFailing && errors.As(err, &ae):
		return fmt.Sprintf("the registry kept failing: %v; it is overloaded or down: re-run the job later, or ask the registry's operators", ae), true
	case e == push.ErrStalled && errors.As(err, &se):
		return fmt.Sprintf("the registry stopped answering (%v); re-run the job later, or ask the registry's operators", se), true
	}
	return "", false
}

// tlsLine: registry-tls does not match what the registry speaks, or its
// certificate is not trusted.
func tlsLine(te *push.TLSError) string {
	switch {
	case te.PlainHTTP:
		return "registry-tls: the registry speaks plain HTTP, not HTTPS; set registry-tls: disabled if that is intended (only on a trusted network)"
	case te.HTTPS:
		return "registry-tls: the registry speaks HTTPS; set registry-tls: enabled"
	}
	return fmt.Sprintf("registry-tls: TLS with the registry failed (%v); install the registry's CA on the runner, or set registry-tls: insecure", te.Cause)
}

// isTagWrite: the refusal answered a manifest PUT to a tag.
func isTagWrite(re *push.ResponseError) bool {
	return re.Method == "PUT" && strings.Contains(re.Path, "/manifests/") && !strings.Contains(re.Path, "/manifests/sha256:")
}

// registrySaid is the registry's own words: status, OCI code, message and
// reason, as it sent them.
func registrySaid(err error) string {
	var re *push.ResponseError
	if !errors.As(err, &re) {
		return err.Error()
	}
	return re.Said()
}

// identityLine explains a failure of a login with the job's identity at
// host, for image: the forge gave no token, the registry refused the
// token (its issuer, its audience or its claims), or the identity may
// not write there. false when err is none of these, or the run has no
// identity.
func identityLine(a config.Access, ids *oidc.Source, host, image, doing string, err error) (string, bool) {
	if ids == nil {
		return "", false
	}
	c := ids.Claims()
	var forge *oidc.Error
	who := fmt.Sprintf("the job's identity %q (ref %q, issuer %s, audience %s)", c.Subject, c.Ref, c.Issuer, a.IDToken.Audience)
	switch {
	case errors.As(err, &forge):
		return fmt.Sprintf("oidc-audience: the forge gave this job no ID token (%v); nothing was tagged; check that the workflow or the job sets enable-openid-connect: true (Forgejo v15 or later) and re-run", forge), true
	case errors.Is(err, push.ErrUnauthorized):
		return fmt.Sprintf("oidc-audience: %s refused %s at its token endpoint (%s): it does not trust this issuer or audience, or its rules refuse these claims (a pull request's ref, a branch that may not publish); nothing was tagged; publish from a ref the registry's rules admit, or have its operator add the issuer and audience to http.auth.bearer.oidc and a claimMapping validation that admits this repository and ref",
			host, who, registrySaid(err)), true
	case errors.Is(err, push.ErrDenied):
		return fmt.Sprintf("oidc-audience: %s may not %s %s (denied by the registry: %s); nothing was tagged; have the registry's operator grant the user its claimMapping makes of this identity read and create on that repository",
			who, doing, image, registrySaid(err)), true
	}
	return "", false
}
