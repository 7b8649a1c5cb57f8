package e2e

import (
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// TestByHandEchoesNoSecret: a whole push run by hand (no runner in the
// environment) prints no ::add-mask:: command, so the key appears in no
// form on the terminal, in stderr or in the outputs.
func TestByHandEchoesNoSecret(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	res := runAction(t, r.inputs(randomName("it/byhand"), "v1.0.0", "testdata/hello"), nil)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout, "::add-mask::") {
		t.Errorf("::add-mask:: echoed outside a runner:\n%s", res.stdout)
	}
	testcheck.NoSecret(t, r.key, res.all()...)
}
