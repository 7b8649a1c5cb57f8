package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	godigest "github.com/opencontainers/go-digest"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// TestZotKeyExpiry: against the real zot, the action and the plan warn
// once, in the log and the summary, with the key's label and date, when
// the API key they log in with expires within key-expiry-warning days;
// not when it expires later, nor with key-expiry-warning: 0 (then zot's
// API is not even asked). A key that has expired fails the run in one line
// that says zot API keys expire. The key never shows.
func TestZotKeyExpiry(t *testing.T) {
	zr, z := realZot(t, requireRig(t))
	fp := newFaultProxy(t, zr)
	mint := func(label string, expires time.Time) string {
		key, err := z.MintKey(context.Background(), label, expires)
		if err != nil {
			t.Fatal(err)
		}
		return key
	}
	push := func(key, warnDays string) result {
		image := randomName("zk/app")
		env := archiveInputs(t, zr, image, "v1.0.0", tinyLayout(t, image))
		env["INPUT_IMAGE"] = fp.addr + "/" + image
		env["INPUT_API-KEY"] = key
		if warnDays != "" {
			env["INPUT_KEY-EXPIRY-WARNING"] = warnDays
		}
		return runAction(t, env, nil)
	}
	soon := time.Now().Add(5 * 24 * time.Hour)
	t.Run("5 days ahead warns once", func(t *testing.T) {
		key := mint("ci five days", soon)
		before := fp.count(kindZotAPI)
		res := push(key, "")
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, errorLine(res.stdout))
		}
		wantExpiryWarning(t, res, "ci five days", soon)
		if n := fp.count(kindZotAPI) - before; n != 1 {
			t.Errorf("%d requests to zot's API, want 1 (the key look-up)", n)
		}
		testcheck.NoSecret(t, key, res.all()...)
	})
	t.Run("60 days ahead does not", func(t *testing.T) {
		key := mint("ci sixty days", time.Now().Add(60*24*time.Hour))
		res := push(key, "")
		if res.code != 0 || strings.Contains(res.stdout, "expires on") || strings.Contains(res.summary, "expires on") {
			t.Errorf("exit %d, want 0 and no expiry warning:\n%s", res.code, res.stdout)
		}
	})
	t.Run("key-expiry-warning: 0 does not", func(t *testing.T) {
		key := mint("ci five days, warning off", soon)
		before := fp.count(kindZotAPI)
		res := push(key, "0")
		if res.code != 0 || strings.Contains(res.stdout, "expires on") {
			t.Errorf("exit %d, want 0 and no expiry warning:\n%s", res.code, res.stdout)
		}
		if n := fp.count(kindZotAPI) - before; n != 0 {
			t.Errorf("%d requests to zot's API with the warning off, want none", n)
		}
	})
	// The look-up never fails the job: refused, not JSON, or held past its
	// bound (zotkey.Timeout, 5 s), the run succeeds without a warning.
	for name, f := range map[string]fault{
		"a refused look-up":      {status: http.StatusForbidden},
		"an answer that is HTML": {status: http.StatusOK, contentType: "text/html", body: "<html>login</html>"},
		"a stalled look-up":      {stall: time.Minute},
	} {
		t.Run(name+" does not fail the job", func(t *testing.T) {
			key := mint("ci five days, "+name, soon)
			fp.fail(kindZotAPI, 1, f)
			start := time.Now()
			res := push(key, "")
			if res.code != 0 || strings.Contains(res.stdout, "expires on") {
				t.Errorf("exit %d, want 0 and no expiry warning:\n%s", res.code, res.stdout)
			}
			// Ending before the held request would be let go shows the
			// action stopped waiting for it.
			if took := time.Since(start); took >= time.Minute {
				t.Errorf("took %s: the action waited for the held look-up", took)
			}
		})
	}
	t.Run("the plan warns too", func(t *testing.T) {
		key := mint("ci plan five days", soon)
		dir := testcheck.WriteTree(t, map[string]string{"nix/api/default.nix": nixFile("1.0.0")})
		res := runPlan(t, dir, map[string]string{
			"INPUT_CONTEXTS": "nix/*", "INPUT_IMAGE": fp.addr + "/zk/{name}", "INPUT_VERSION-FILE": "default.nix",
			"INPUT_VERSION-PATTERN": `version = "([^"]+)"`, "INPUT_USERNAME": zr.user, "INPUT_API-KEY": key, "INPUT_REGISTRY-TLS": "disabled",
		})
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, errorLine(res.stdout))
		}
		wantExpiryWarning(t, res, "ci plan five days", soon)
		testcheck.NoSecret(t, key, res.all()...)
	})
	t.Run("expired key fails naming expiry", func(t *testing.T) {
		key := mint("ci seconds", time.Now().Add(2*time.Second))
		time.Sleep(3 * time.Second)
		res := push(key, "")
		testcheck.OneErrorLine(t, res.stdout, "zot API keys expire")
		testcheck.NoSecret(t, key, res.all()...)
		t.Logf("%s", errorLine(res.stdout))
	})
}

// TestNoKeyLookupOnDistribution: the rig's registry is distribution (its
// password starts with zak_ too): it gets no look-up of zot's API and the
// run no warning.
func TestNoKeyLookupOnDistribution(t *testing.T) {
	r := requireRig(t)
	fp := newFaultProxy(t, r)
	image := randomName("zk/dist")
	env := archiveInputs(t, r, image, "v1.0.0", tinyLayout(t, image))
	env["INPUT_IMAGE"] = fp.addr + "/" + image
	res := runArchive(t, env)
	if n := fp.count(kindZotAPI); n != 0 {
		t.Errorf("%d requests to zot's API on a distribution registry, want none", n)
	}
	if strings.Contains(res.stdout, "expires on") {
		t.Errorf("expiry warning on a distribution registry:\n%s", res.stdout)
	}
}

// wantExpiryWarning wants exactly one expiry warning in the log and one
// line in the summary, each with the key's label and date.
func wantExpiryWarning(t *testing.T, res result, label string, expires time.Time) {
	t.Helper()
	date := expires.UTC().Format("2006-01-02")
	var warnings []string
	for _, l := range strings.Split(res.stdout, "\n") {
		if strings.HasPrefix(l, "::warning") && strings.Contains(l, "expires on") {
			warnings = append(warnings, l)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], label) || !strings.Contains(warnings[0], date) || !strings.Contains(warnings[0], "days left") {
		t.Errorf("want one warning naming %q, %s and the days left, got %q", label, date, warnings)
	}
	if n := strings.Count(res.summary, "expires on"); n != 1 || !strings.Contains(res.summary, label) {
		t.Errorf("summary: %d expiry lines, want 1 naming %q:\n%s", n, label, res.summary)
	}
	t.Logf("%v", warnings)
}

// mediaTypes are the manifest, config and layer media types of an image.
type mediaTypes struct{ manifest, config, layer string }

var (
	ociTypes    = mediaTypes{"application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip"}
	dockerTypes = mediaTypes{"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.container.image.v1+json", "application/vnd.docker.image.rootfs.diff.tar.gzip"}
)

// tinyLayout writes an OCI layout directory of a one-layer image whose
// layer holds seed: a different seed, a different image.
func tinyLayout(t *testing.T, seed string) string {
	t.Helper()
	return tinyLayoutOf(t, seed, ociTypes)
}

// tinyLayoutOf is tinyLayout with the media types of types.
func tinyLayoutOf(t *testing.T, seed string, types mediaTypes) string {
	t.Helper()
	var tarBuf, gzBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	_ = tw.WriteHeader(&tar.Header{Name: "seed", Mode: 0o644, Size: int64(len(seed)), ModTime: time.Unix(0, 0)})
	_, _ = tw.Write([]byte(seed))
	_ = tw.Close()
	gz := gzip.NewWriter(&gzBuf)
	_, _ = gz.Write(tarBuf.Bytes())
	_ = gz.Close()
	dir := t.TempDir()
	blob := func(b []byte) map[string]any {
		d := godigest.FromBytes(b)
		p := filepath.Join(dir, "blobs", "sha256", d.Encoded())
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return map[string]any{"digest": d.String(), "size": len(b)}
	}
	asJSON := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	config := blob(asJSON(map[string]any{"architecture": "amd64", "os": "linux", "config": map[string]any{},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{godigest.FromBytes(tarBuf.Bytes()).String()}}}))
	config["mediaType"] = types.config
	layer := blob(gzBuf.Bytes())
	layer["mediaType"] = types.layer
	manifest := blob(asJSON(map[string]any{"schemaVersion": 2, "mediaType": types.manifest, "config": config, "layers": []any{layer}}))
	manifest["mediaType"] = types.manifest
	for name, b := range map[string][]byte{
		"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`),
		"index.json": asJSON(map[string]any{"schemaVersion": 2, "manifests": []any{manifest}}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
