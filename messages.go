package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/buildkitd"
	"github.com/blumeops/build-push-image/internal/config"
	"github.com/blumeops/build-push-image/internal/guard"
	"github.com/blumeops/build-push-image/internal/oidc"
	"github.com/blumeops/build-push-image/internal/plan"
	"github.com/blumeops/build-push-image/internal/push"
	"github.com/blumeops/build-push-image/internal/sign"
	"github.com/blumeops/build-push-image/internal/source"
	"github.com/blumeops/build-push-image/internal/stream"
	"github.com/blumeops/build-push-image/internal/tags"
	"github.com/blumeops/build-push-image/internal/zotkey"
)

// This file is the one place the lines a user reads about a failure are
// written. The packages return typed errors with the facts; these
// functions say what went wrong, which input it concerns, and how to fix it.

// explain turns an error into the one line a user sees.
func (p *pipeline) explain(ctx context.Context, err error) string {
	cfg := p.cfg
	if ctx.Err() != nil {
		return cancelled(p.done)
	}
	var exists *guard.ExistsError
	var refused *push.ResponseError
	var container *buildkitd.ContainerError
	if line, ok := archiveLine(cfg, err); ok {
		return line
	}
	switch {
	case errors.Is(err, sign.ErrSignature):
		return fmt.Sprintf("signing-key: %v; no tag was written, nothing released: re-run once the registry takes the signature (an OCI 1.1 manifest whose subject is the image, listed through the referrers API or the sha256-<digest> referrers tag)", err)
	case errors.As(err, &exists) && exists.Refusal != nil:
		return fmt.Sprintf("version tag %s already exists in %s (%s)%s: the registry refused to overwrite it (%s; registry-enforced immutability); version tags are immutable: bump the version",
			exists.Tag, exists.Image, exists.Digest, exists.NotOurs(), registrySaid(exists.Refusal))
	case errors.Is(err, guard.ErrVersionExists), errors.Is(err, guard.ErrLostRace), errors.Is(err, ErrAlreadyPublished):
		return err.Error()
	case errors.Is(err, build.ErrExport):
		return fmt.Sprintf("push-via: buildkit: buildkitd built the image but could not push it to %s (%v); let buildkitd reach the registry, or set push-via: auto (falls back to the action's upload) or action", cfg.Registry(), err)
	case errors.Is(err, build.ErrExecFormat):
		return fmt.Sprintf("platforms: a RUN step's program is for a platform buildkitd's machine cannot run without emulation (building %s); add emulation there (binfmt/QEMU: docker run --privileged --rm tonistiigi/binfmt --install all; colima's Rosetta: colima start --vm-type vz --vz-rosetta), or set platforms to the machine's own; %v",
			platformsBuilt(cfg.Platforms), err)
	case errors.Is(err, buildkitd.ErrNoDaemon):
		return fmt.Sprintf("buildkit-address: %v; set buildkit-address (or BUILDKIT_HOST) to a running buildkitd, or install buildkitd and runc, or Docker, on the runner", err)
	case errors.Is(err, buildkitd.ErrRootless):
		return fmt.Sprintf("buildkit-address: %v; install rootlesskit and uidmap (with /etc/subuid and /etc/subgid entries for this user) to let the action start it rootless, or set buildkit-address (or BUILDKIT_HOST) to a running buildkitd", err)
	case errors.As(err, &container):
		return containerLine(container)
	case errors.Is(err, buildkitd.ErrNoCLI):
		return fmt.Sprintf("buildkit-address: %v; install it on the runner or put it on PATH, or give a unix:// or tcp:// address", err)
	case errors.Is(err, build.ErrTLSConfig):
		return fmt.Sprintf("buildkit-tls-*: %v; give PEM files (or contents) of the CA, client certificate and key", err)
	case errors.Is(err, build.ErrUnreachable):
		return fmt.Sprintf("buildkit-address: no buildkitd answers at %s; start buildkitd there or point buildkit-address (or BUILDKIT_HOST) at one (%v)", cfg.BuildkitAddress, err)
	}
	if line, ok := identityLine(cfg.Access, p.ids, cfg.Image, "push to", err); ok {
		return line
	}
	switch {
	case errors.Is(err, push.ErrUnauthorized):
		return rejected(cfg.Registry(), cfg.Username, err)
	case errors.As(err, &refused) && refused.Status == http.StatusUnsupportedMediaType:
		return mediaTypeLine(cfg, refused)
	case errors.As(err, &refused) && refused.Status/100 == 4 && isTagWrite(refused):
		return fmt.Sprintf("username: the registry refused to write a tag of %s for %q (%s); nothing that names a release was written; grant it create (and update, for the SHA tag) on that repository, or check the registry's tag policy, then re-run",
			cfg.Image, cfg.Username, registrySaid(refused))
	case errors.Is(err, push.ErrDenied):
		return fmt.Sprintf("username: %q may not push to %s (denied by the registry: %s); grant it read and create on that repository", cfg.Username, failedImage(cfg, err), registrySaid(err))
	}
	return registryLine(cfg.Registry(), err)
}

// planLine is the one line a user sees when the plan's look-ups fail.
func planLine(ctx context.Context, cfg config.Plan, ids *oidc.Source, err error) string {
	var le *plan.LookupError
	if ctx.Err() != nil || !errors.As(err, &le) {
		return fmt.Sprintf("plan: %v", err)
	}
	if line, ok := identityLine(cfg.Access, ids, le.Image, "read", err); ok {
		return line
	}
	host := config.RegistryOf(le.Image)
	switch {
	case errors.Is(err, push.ErrUnauthorized) && cfg.APIKey == "":
		return fmt.Sprintf("api-key: %s asks for a login to read %s; set username and api-key (anonymous look-ups need a registry that allows anonymous read)", host, le.Image)
	case errors.Is(err, push.ErrUnauthorized):
		return rejected(host, cfg.Username, err)
	case errors.Is(err, push.ErrDenied):
		return fmt.Sprintf("username: %q may not read %s (denied by the registry: %s); grant it read on that repository", cfg.Username, le.Image, registrySaid(err))
	}
	return registryLine(host, le.Err)
}

// planPushLine is the one line a user sees when the plan's push check
// (checkPlanPush) fails.
func planPushLine(ctx context.Context, cfg config.Plan, err error) string {
	var pc *pushCheckError
	if ctx.Err() != nil || !errors.As(err, &pc) {
		return fmt.Sprintf("plan: %v", err)
	}
	host := config.RegistryOf(pc.image)
	switch {
	case errors.Is(err, push.ErrUnauthorized):
		return rejected(host, cfg.Username, err)
	case errors.Is(err, push.ErrDenied):
		return fmt.Sprintf("username: %q may not push to %s (denied by the registry: %s); grant it read and create on that repository, or leave the image out of the plan", cfg.Username, pc.image, registrySaid(err))
	}
	return registryLine(host, pc.err)
}

// failedImage is the repository a refusal concerns: the one whose push
// check failed, else the image input's first.
func failedImage(cfg config.Config, err error) string {
	var pc *pushCheckError
	if errors.As(err, &pc) {
		return pc.image
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
	if cfg.Archive != "" {
		input = "archive: " + cfg.Archive
	}
	return fmt.Sprintf("%s: the registry refused the image's manifest (%s): it takes OCI media types only, as zot does without http.compat [\"docker2s2\"], and this manifest has another (a Docker schema 2 one); publish the image with OCI media types (a docker-archive, which the action converts, or skopeo copy --format oci), or have the registry's operator enable docker2s2",
		input, re.Said())
}

// keyExpiryLine warns that the zot API key in use expires soon.
func keyExpiryLine(registry, username string, e zotkey.Expiry) string {
	return fmt.Sprintf("api-key: the zot API key %q of %q on %s expires on %s (%d %s left); mint a new one (zot's UI, API keys, or POST /zot/auth/apikey) and update the secret before then (key-expiry-warning: 0 turns this warning off)",
		e.Label, username, registry, e.Date.UTC().Format("2006-01-02 15:04 UTC"), e.DaysLeft, plural(e.DaysLeft, "day", "days"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// archiveLine explains what is wrong with the archive input, when that
// is what failed: the archive package says what, in one line naming
// neither the input nor the path.
func archiveLine(cfg config.Config, err error) (string, bool) {
	var bad *source.Error
	var failed *stream.Error
	if errors.As(err, &failed) {
		return fmt.Sprintf("archive: %s: %s", cfg.Archive, failed.Reason), true
	}
	if !errors.As(err, &bad) {
		return "", false
	}
	switch {
	case errors.Is(err, source.ErrPlatform):
		return fmt.Sprintf("platforms: archive %s: %s; build the image for %s (nix: on a machine of that platform, or with its pkgsCross), or correct platforms", cfg.Archive, bad.Reason, strings.Join(cfg.Platforms, ", ")), true
	case errors.Is(err, source.ErrChoose):
		return fmt.Sprintf("archive-image: %s: %s; set archive-image to the one to push (its name:tag, or its platform os/arch in an index)", cfg.Archive, bad.Reason), true
	case errors.Is(err, source.ErrHostile):
		return fmt.Sprintf("archive: %s: %s; refused, nothing outside it was read or written: check what built it", cfg.Archive, bad.Reason), true
	case errors.Is(err, source.ErrTooLarge):
		return fmt.Sprintf("archive: %s: %s", cfg.Archive, bad.Reason), true
	case cfg.Archive == "-" || stream.IsProgram(cfg.Archive):
		return fmt.Sprintf("archive: %s: %s; nothing was tagged: check the program that writes the image", cfg.Archive, bad.Reason), true
	}
	return fmt.Sprintf("archive: %s: %s; give archive the path of a docker-archive, OCI archive or OCI layout directory as the tool that made it wrote it", cfg.Archive, bad.Reason), true
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

// registryLine explains the registry's transport failures.
func registryLine(registry string, err error) string {
	var nr *push.NotRegistryError
	var te *push.TLSError
	var ne *push.NetworkError
	var ae *push.AttemptsError
	var se *push.StallError
	switch {
	case errors.As(err, &nr):
		return fmt.Sprintf("image: the host of the image answered %s %s with an HTML page (HTTP %d, %s), not the OCI registry API; check the image's host and port, and that no web server, login page or proxy answers there instead of the registry",
			nr.Method, nr.Path, nr.Status, nr.ContentType)
	case errors.As(err, &te) && te.PlainHTTP:
		return "registry-tls: the registry speaks plain HTTP, not HTTPS; set registry-tls: disabled if that is intended (only on a trusted network)"
	case errors.As(err, &te) && te.HTTPS:
		return "registry-tls: the registry speaks HTTPS; set registry-tls: enabled"
	case errors.As(err, &te):
		return fmt.Sprintf("registry-tls: TLS with the registry failed (%v); install the registry's CA on the runner, or set registry-tls: insecure", te.Cause)
	case errors.Is(err, push.ErrRegistryFailing) && errors.As(err, &ae):
		return fmt.Sprintf("the registry kept failing: %v; it is overloaded or down: re-run the job later, or ask the registry's operators", ae)
	case errors.Is(err, push.ErrStalled) && errors.As(err, &se):
		return fmt.Sprintf("the registry stopped answering (%v); re-run the job later, or ask the registry's operators", se)
	case errors.As(err, &ne) && ne.Dial:
		return fmt.Sprintf("image: registry %s unreachable; check the host and port, and registry-tls (%v)", registry, err)
	case errors.As(err, &ne):
		return fmt.Sprintf("the connection to the registry broke: %s %s: %v; re-run the job, and check proxies or load balancers between the runner and the registry", ne.Method, ne.Path, ne.Cause)
	}
	return err.Error()
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

// cancelled says what a cancelled run left behind.
func cancelled(done []imageTag) string {
	var written []string
	for _, t := range done {
		if t.State == tags.Written {
			written = append(written, t.ref())
		}
	}
	if len(written) == 0 {
		return "cancelled (SIGINT or SIGTERM): stopped before any tag was written; temporary files removed"
	}
	return fmt.Sprintf("cancelled (SIGINT or SIGTERM) after tagging %s; temporary files removed", strings.Join(written, ", "))
}

// tagWarning is the warning for a tag that does not name the image, or ""
// when there is nothing to warn of.
func tagWarning(t imageTag) string {
	switch {
	case t.State == tags.Taken:
		return fmt.Sprintf("the registry refused to move tag %s to this image (%s); it still names %s and was left as it was", t.ref(), registrySaid(t.Err), t.Other)
	case t.State == tags.Failed:
		return fmt.Sprintf("tag %s was not written (%s); the release itself is complete: re-run to repair", t.ref(), registrySaid(t.Err))
	case t.State != tags.Kept && t.Err != nil:
		return fmt.Sprintf("tag %s was written, but reading it back failed (%v): check that it names this image", t.ref(), t.Err)
	}
	return ""
}

// tagInfo says what became of a tag that needs no warning.
func tagInfo(t imageTag, d string) string {
	switch {
	case t.State == tags.Unchanged && t.Other != "":
		return fmt.Sprintf("%s already names this image as first published (%s: the same config and layers, other annotations): kept, and the other tags name it too", t.ref(), t.Other)
	case t.State == tags.Unchanged:
		return fmt.Sprintf("%s already is this exact image (%s): nothing to write", t.ref(), d)
	case t.State == tags.Kept:
		return fmt.Sprintf("%s names %s, a newer release than this one: left where it is (a tag that follows releases never moves backwards)", t.ref(), t.Version)
	}
	if t.State == tags.Written && t.Immediate {
		return "Tagged " + t.ref() + " (read back at once: the registry refuses overwrites, registry-immutable-tags)"
	}
	return "Tagged " + t.ref()
}

// fallbackLine says why BuildKit's own push was given up for the action's.
func fallbackLine(cfg config.Config, err error) string {
	return fmt.Sprintf("push-via: buildkitd could not push to %s (%s); uploading from an OCI layout through the action instead (set push-via: action to skip the attempt, or let buildkitd reach the registry)",
		cfg.Registry(), err)
}
