package e2e

import (
	"context"
	"os"
	"testing"

	"github.com/blumeops/build-push-image/internal/testrig"
)

// zotTarget is the registry the zot race tests push to, through a fault
// proxy that counts requests: a real zot whose user may read and create
// but not update (testrig.StartZot) when $ZOT_BINARY names a zot binary,
// else the rig's registry behind the proxy's emulation of that refusal.
// CI has no zot (the module proxy does not serve it), so it runs the
// emulation; a developer with a zot binary checks the emulation is right.
func zotTarget(t *testing.T, r rig) (rig, *faultProxy) {
	t.Helper()
	bin := os.Getenv(testrig.EnvZotBinary)
	if bin == "" {
		fp := newFaultProxy(t, r)
		fp.zot = true
		return r, fp
	}
	z, err := testrig.StartZot(context.Background(), bin, t.TempDir(), "ci")
	if err != nil {
		t.Fatalf("%s=%s: %v", testrig.EnvZotBinary, bin, err)
	}
	t.Cleanup(z.Stop)
	t.Logf("real zot at %s, user %s with read and create only", z.Addr, z.User)
	zr := rig{registry: z.Addr, user: z.User, key: z.Key, buildkit: r.buildkit}
	return zr, newFaultProxy(t, zr)
}
