package writer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/regclient/regclient/types/ref"

	"github.com/blumeops/build-push-image/internal/compression"
	"github.com/blumeops/build-push-image/internal/push"
	"github.com/blumeops/build-push-image/internal/testrig"
)

// rig is the test rig's registry behind a proxy that counts blob
// uploads, and regctl logged in to it, as the independent reader.
type rig struct {
	host    string
	uploads atomic.Int32
	// breaks is how many blob uploads the proxy cuts off mid-body.
	breaks atomic.Int32
	// mounts counts the blobs linked from another repository.
	mounts atomic.Int32
	regctl func(args ...string) []byte
	user   string
	key    string
}

func startRig(t *testing.T) *rig {
	reg := os.Getenv(testrig.EnvRegistry)
	if reg == "" {
		if testing.Short() {
			t.Skip("-short: no registry")
		}
		t.Fatalf("needs the test rig's registry (%s not set): run under the rig, or with -short", testrig.EnvRegistry)
	}
	r := &rig{user: os.Getenv(testrig.EnvUser), key: os.Getenv(testrig.EnvKey)}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: reg})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost && req.URL.Query().Get("from") != "" {
			rec := &status{ResponseWriter: w}
			proxy.ServeHTTP(rec, req)
			if rec.code == http.StatusCreated {
				r.mounts.Add(1)
			}
			return
		}
		if req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/blobs/uploads/") && req.URL.Query().Get("digest") != "" {
			if r.breaks.Add(-1) >= 0 {
				_, _ = io.CopyN(io.Discard, req.Body, 1000)
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					_ = conn.Close()
				}
				return
			}
			r.uploads.Add(1)
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	home := t.TempDir()
	bin := filepath.Join(os.Getenv(testrig.EnvTools), "regctl")
	run := func(stdin string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin"}
		cmd.Stdin = strings.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("regctl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	run("", "registry", "set", "--skip-check", "--tls", "disabled", reg)
	run(r.key, "registry", "login", reg, "-u", r.user, "--pass-stdin")
	r.regctl = func(args ...string) []byte { t.Helper(); return run("", args...) }
	return r
}

func (r *rig) registry(t *testing.T, repo string) *push.Registry {
	at, err := ref.New(r.host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	reg := push.New(at, push.WithCredentials(r.user, r.key), push.WithTLS(push.TLSDisabled))
	t.Cleanup(func() { _ = reg.Close() })
	return reg
}

// checkPushed reads image ref back with regctl (through the registry
// itself, not the proxy): the config is the archive's, every layer
// unpacks to the archive's layer tar.
func (r *rig) checkPushed(t *testing.T, ref string, cfg []byte, layers ...[]byte) ocispec.Manifest {
	t.Helper()
	ref = os.Getenv(testrig.EnvRegistry) + strings.TrimPrefix(ref, r.host)
	var m ocispec.Manifest
	if err := json.Unmarshal(r.regctl("manifest", "get", "--format", "raw-body", ref), &m); err != nil {
		t.Fatal(err)
	}
	repo, _, _ := strings.Cut(ref, "@")
	repo = strings.Split(repo, ":")[0] + ":" + strings.Split(repo, ":")[1]
	if got := r.regctl("blob", "get", repo, m.Config.Digest.String()); !bytes.Equal(got, cfg) {
		t.Errorf("%s: the config is not the archive's", ref)
	}
	if len(m.Layers) != len(layers) {
		t.Fatalf("%s: %d layers, want %d", ref, len(m.Layers), len(layers))
	}
	for i, l := range m.Layers {
		zr, _, err := compression.NewReader(bytes.NewReader(r.regctl("blob", "get", repo, l.Digest.String())))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, layers[i]) {
			t.Errorf("%s: layer %d does not unpack to the archive's layer (%v)", ref, i, err)
		}
	}
	return m
}

func TestPublishToARealRegistry(t *testing.T) {
	r := startRig(t)
	ctx := context.Background()
	base := fmt.Sprintf("archive-%d", time.Now().UnixNano())
	regs := []Registry{r.registry(t, base+"/app"), r.registry(t, base+"/mirror")}
	var layers [][]byte
	for i := range 5 {
		layers = append(layers, layer(t, fmt.Sprintf("nix/store/%d-pkg/lib/file", i)))
	}
	v1 := append([][]byte{}, layers[:4]...)
	v2 := append(append([][]byte{}, layers[:3]...), layers[4])
	first := writeFile(t, "result", compress(t, compression.Compression{}, nixArchive(t, "app:1", v1...)))
	second := writeFile(t, "result", compress(t, compression.Compression{}, nixArchive(t, "app:2", v2...)))

	// first release: everything new
	d1, stats, err := Publish(ctx, regs, Options{Path: first, Annotations: annotations, TempDir: t.TempDir(), Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.uploads.Load(); got != 5 || r.mounts.Load() != 5 || stats.Compressed != 4 {
		t.Errorf("first push: %d uploads, %d mounts, %d compressed; want 4 layers and the config uploaded once, mounted into the other repository", got, r.mounts.Load(), stats.Compressed)
	}
	for _, repo := range []string{"app", "mirror"} {
		m := r.checkPushed(t, r.host+"/"+base+"/"+repo+"@"+d1.String(), configOf(t, v1...), v1...)
		if m.MediaType != ocispec.MediaTypeImageManifest || m.Annotations["org.opencontainers.image.version"] != "v1.2.0" {
			t.Errorf("%s: %+v", repo, m)
		}
	}
	if err := regs[0].(*push.Registry).Tag(ctx, d1, "v1.0.0"); err != nil {
		t.Fatal(err)
	}

	// second release, one layer changed: learnt from v1.0.0, one layer
	// compressed and uploaded (with the config) per repository
	r.uploads.Store(0)
	known, err := Learn(ctx, regs, []string{"v1.1.0", "sha"}, "", t.Logf)
	if err != nil || known.Len() != 4 {
		t.Fatalf("learnt %d layers, %v", known.Len(), err)
	}
	d2, stats, err := Publish(ctx, regs, Options{Path: second, Annotations: annotations, Known: known, TempDir: t.TempDir(), Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.uploads.Load(); got != 2 || stats.Reused != 3 {
		t.Errorf("second push: %d uploads, %d reused; want 1 layer and the config, once", got, stats.Reused)
	}
	for _, repo := range []string{"app", "mirror"} {
		r.checkPushed(t, r.host+"/"+base+"/"+repo+"@"+d2.String(), configOf(t, v2...), v2...)
	}

	// the same archive again: the same digest, nothing uploaded
	r.uploads.Store(0)
	if err := regs[0].(*push.Registry).Tag(ctx, d2, "v1.1.0"); err != nil {
		t.Fatal(err)
	}
	known, err = Learn(ctx, regs, []string{"v1.1.0"}, "", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	d3, stats, err := Publish(ctx, regs, Options{Path: second, Annotations: annotations, Known: known, TempDir: t.TempDir(), CompareOnly: true})
	if err != nil || d3 != d2 || r.uploads.Load() != 0 || stats.Compressed != 0 {
		t.Errorf("again: %s (%v), %d uploads, %+v; want %s, none", d3, err, r.uploads.Load(), stats, d2)
	}
}

func TestOCILayoutKeepsItsDigestInARealRegistry(t *testing.T) {
	r := startRig(t)
	es, want := ociLayout(t, map[string]string{ocispec.AnnotationRefName: "v1"}, layer(t, "a"), layer(t, "b"))
	repo := fmt.Sprintf("archive-%d/oci", time.Now().UnixNano())
	for _, path := range []string{writeDir(t, es), writeFile(t, "oci.tar", tarOf(t, es...))} {
		d, _, err := Publish(context.Background(), []Registry{r.registry(t, repo)}, Options{Path: path, TempDir: t.TempDir()})
		if err != nil || d != want {
			t.Fatalf("%s: %s %v, want %s", path, d, err, want)
		}
		got := r.regctl("manifest", "get", "--format", "raw-body", os.Getenv(testrig.EnvRegistry)+"/"+repo+"@"+want.String())
		if digest.FromBytes(got) != want {
			t.Errorf("the registry holds other bytes under %s", want)
		}
	}
}

// A connection broken in the middle of a layer's upload: the layer is
// sent again from its file on disk, and the image is whole.
func TestBrokenUploadRedone(t *testing.T) {
	r := startRig(t)
	r.breaks.Store(2)
	l1, l2 := layer(t, "a"), layer(t, "b")
	repo := fmt.Sprintf("archive-%d/broken", time.Now().UnixNano())
	file := writeFile(t, "result", compress(t, compression.Compression{}, nixArchive(t, "app:1", l1, l2)))
	d, _, err := Publish(context.Background(), []Registry{r.registry(t, repo)}, Options{Path: file, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if r.breaks.Load() >= 0 {
		t.Fatalf("the proxy broke %d uploads, want 2", 2-r.breaks.Load())
	}
	r.checkPushed(t, r.host+"/"+repo+"@"+d.String(), configOf(t, l1, l2), l1, l2)
}

// status records the status a handler wrote.
type status struct {
	http.ResponseWriter
	code int
}

func (s *status) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}
