package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

// TestBuildCompression: compression reaches BuildKit's exporters, both
// where buildkitd pushes and where the action uploads from an OCI layout.
func TestBuildCompression(t *testing.T) {
	r := requireRig(t)
	for _, via := range []string{"buildkit", "action"} {
		t.Run("push-via "+via, func(t *testing.T) {
			image := randomName("it/zstd")
			dir := uniqueContext(t, 4096)
			env := r.inputs(image, "v1.0.0", dir)
			env["INPUT_PUSH-VIA"] = via
			env["INPUT_COMPRESSION"] = "zstd"
			env["INPUT_COMPRESSION-LEVEL"] = "3"
			if res := runAction(t, env, nil); res.code != 0 {
				t.Fatalf("exit %d\n%s", res.code, res.stdout)
			}
			for i, mt := range r.layerTypes(t, image, "v1.0.0") {
				if mt != "application/vnd.oci.image.layer.v1.tar+zstd" {
					t.Errorf("layer %d is %s, want zstd", i, mt)
				}
			}
		})
	}
}

// TestForceCompression: a base image's gzip layer stays gzip under
// compression: zstd, and is recompressed with force-compression.
func TestForceCompression(t *testing.T) {
	r := requireRig(t)
	dir := contextDir(t, map[string]string{"Dockerfile": "FROM " + baseImage(t, r) + "\nCOPY Dockerfile /\n"})
	for _, force := range []string{"false", "true"} {
		image := randomName("it/force")
		env := r.inputs(image, "v1.0.0", dir)
		env["INPUT_COMPRESSION"], env["INPUT_FORCE-COMPRESSION"] = "zstd", force
		if res := runAction(t, env, nil); res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stdout)
		}
		var got []string
		for _, mt := range r.layerTypes(t, image, "v1.0.0") {
			got = append(got, mt[len("application/vnd.oci.image.layer.v1.tar+"):])
		}
		want := slices.Repeat([]string{"zstd"}, len(got))
		if force == "false" {
			want = append(slices.Repeat([]string{"gzip"}, len(got)-1), "zstd") // the base's layers, then ours
		}
		if len(got) < 2 || !slices.Equal(got, want) {
			t.Errorf("force-compression %s: layers %v, want %v", force, got, want)
		}
	}
}

// layerTypes are the media types of the layers of image:tag, read from
// the registry directly.
func (r rig) layerTypes(t *testing.T, image, tag string) []string {
	t.Helper()
	resp := r.request(t, http.MethodGet, "/v2/"+image+"/manifests/"+tag, nil, "")
	defer resp.Body.Close()
	var m struct{ Layers []struct{ MediaType string } }
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK || len(m.Layers) == 0 {
		t.Fatalf("GET %s:%s: %s, %d layers, %v", image, tag, resp.Status, len(m.Layers), err)
	}
	types := make([]string, len(m.Layers))
	for i, l := range m.Layers {
		types[i] = l.MediaType
	}
	return types
}
