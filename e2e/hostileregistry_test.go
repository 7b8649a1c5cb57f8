package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// TestRedirectToAnotherPort: the registry (through the fault proxy)
// answers the plan's authenticated tag look-up with a 307 to another port
// of the same host. That server sees the request, but not the
// Authorization header: a redirect keeps it only within the origin.
func TestRedirectToAnotherPort(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	var mu sync.Mutex
	var seen []string // the Authorization of each request the other port got
	other := strings.TrimSuffix(strings.TrimPrefix(serve(t, &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		seen = append(seen, req.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusNotFound)
	})}), "http://"), "/")
	fp := newFaultProxy(t, r)
	fp.fail(kindTagHead, -1, fault{authorized: true, redirect: other})
	dir := testcheck.WriteTree(t, map[string]string{"containers/app/Dockerfile": "ARG V=1.0.0\nFROM scratch\n"})
	res := runPlan(t, dir, map[string]string{
		"INPUT_CONTEXTS":     "containers/*",
		"INPUT_IMAGE":        fp.addr + "/" + randomName("hostile/redirect") + "/{name}",
		"INPUT_VERSION-ARG":  "V",
		"INPUT_USERNAME":     r.user,
		"INPUT_API-KEY":      r.key,
		"INPUT_REGISTRY-TLS": "disabled",
	})
	mu.Lock()
	defer mu.Unlock()
	if fp.hits(kindTagHead) == 0 || len(seen) == 0 {
		t.Fatalf("no redirect followed (%d redirected, %d seen at the other port):\n%s", fp.hits(kindTagHead), len(seen), res.stdout)
	}
	for _, auth := range seen {
		if auth != "" {
			t.Errorf("the other port got Authorization %q", auth)
		}
	}
	testcheck.NoSecret(t, r.key, res.all()...)
}

// TestRegistryErrorEchoesAuthorization: the registry refuses the first
// blob upload with an error that quotes the Authorization header it was
// sent (Basic <base64 of user:key>). The run fails with one line that
// quotes the registry, and neither that line nor anything else holds the
// credentials in any form, under a runner or by hand.
func TestRegistryErrorEchoesAuthorization(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	for _, runner := range []string{"", "true"} {
		fp := newFaultProxy(t, r)
		fp.fail(kindBlobPost, -1, fault{authorized: true, status: http.StatusForbidden, echoAuth: true})
		env := fp.inputs(r, randomName("hostile/echo"), "v1.0.0", uniqueContext(t, 64))
		env["INPUT_PUSH-VIA"] = "action"
		if runner != "" {
			env["GITHUB_ACTIONS"] = runner
		}
		res := runAction(t, env, nil)
		if res.code == 0 || fp.hits(kindBlobPost) == 0 {
			t.Fatalf("exit %d after %d refused uploads:\n%s", res.code, fp.hits(kindBlobPost), res.stdout)
		}
		testcheck.OneErrorLine(t, res.stdout, "you sent Authorization: ***")
		testcheck.NoSecret(t, r.key, res.all()...)
	}
}

// TestReuseLookupTrickled: while an archive's next release looks up the
// layers of the last one, the registry answers that manifest GET a byte a
// second. The stall watchdog cuts it after the stall timeout, the look-up
// gives up without retrying, and the release is published without reuse.
func TestReuseLookupTrickled(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	ctxDir, _ := archiveContext(t, randomName("trickle"))
	oci := filepath.Join(t.TempDir(), "image.tar")
	buildkitOCI(t, r, ctxDir, oci)
	image := randomName("hostile/trickle")
	runArchive(t, archiveInputs(t, r, image, "v1.0.0", oci))

	fp := newFaultProxy(t, r)
	fp.fail(kindManifestGet, -1, fault{tag: "v1.0.0", trickle: true})
	env := archiveInputs(t, r, image, "v1.0.1", oci)
	env["INPUT_IMAGE"] = fp.addr + "/" + image
	env["INPUT_SHA"] = strings.Repeat("ab", 20) // its own tags are new: the release is what is looked up
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	res := runCommand(t, actionCommand(t, ctx, env), nil)
	if ctx.Err() != nil {
		t.Fatalf("still running after 3 minutes: the trickled look-up was never cut\n%s", res.stdout)
	}
	if res.code != 0 {
		t.Fatalf("exit %d, want the release published without reuse:\n%s", res.code, res.stdout)
	}
	if n := fp.hits(kindManifestGet); n != 1 {
		t.Errorf("%d trickled GETs of v1.0.0, want 1 (reuse gives up, no retry)", n)
	}
	if !strings.Contains(res.stdout, "Not reusing the layers of v1.0.0") {
		t.Errorf("no line says the layers of v1.0.0 are not reused:\n%s", res.stdout)
	}
	testcheck.NoSecret(t, r.key, res.all()...)
}
