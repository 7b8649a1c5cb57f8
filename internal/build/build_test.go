package build

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	units "github.com/docker/go-units"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/blumeops/build-push-image/internal/compression"
)

// The integration tests (package main) build with a real buildkitd; these
// pin what is asked of it.

func TestFrontendAttrs(t *testing.T) {
	attrs := frontendAttrs(Request{
		Dockerfile: "ctx/sub/Containerfile", Target: "prod",
		Platforms: []ocispec.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}},
		BuildArgs: map[string]string{"A": "1"}, Labels: map[string]string{"team": "x"},
		Epoch: time.Unix(1700000000, 0), Provenance: "max",
	})
	want := map[string]string{
		"filename": "Containerfile", "target": "prod", "platform": "linux/amd64,linux/arm64",
		"build-arg:A": "1", "label:team": "x", "build-arg:SOURCE_DATE_EPOCH": "1700000000",
		"attest:provenance": "mode=max",
	}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("%s = %q, want %q", k, attrs[k], v)
		}
	}
	if _, ok := attrs["attest:sbom"]; ok {
		t.Error("SBOM asked for although off")
	}
	if len(attrs) != len(want) {
		t.Errorf("attrs %v, want exactly %v", attrs, want)
	}
}

func TestExportAttrs(t *testing.T) {
	single := exportAttrs(Request{Annotations: map[string]string{"k": "v"}, Export: Export{Layout: "/tmp/x"}})
	if single["annotation.k"] != "v" || single["annotation-index.k"] != "" || single["rewrite-timestamp"] != "" {
		t.Errorf("single platform, no epoch: %v", single)
	}
	if single["tar"] != "false" || single["oci-mediatypes"] != "true" {
		t.Errorf("not an OCI layout directory: %v", single)
	}
	index := exportAttrs(Request{Annotations: map[string]string{"k": "v"}, SBOM: true, Epoch: time.Unix(1, 0)})
	if index["annotation-index.k"] != "v" || index["rewrite-timestamp"] != "true" {
		t.Errorf("with attestations and an epoch: %v", index)
	}
}

func TestExportAttrsCompression(t *testing.T) {
	zstd := compression.Compression{Algorithm: compression.Zstd, Level: 3, Force: true}
	for _, req := range []Request{{Compression: zstd, Export: Export{Layout: "/tmp/x"}}, {Compression: zstd, Export: Export{Push: []string{"reg.example/app"}}}} {
		attrs := exportAttrs(req)
		if attrs["compression"] != "zstd" || attrs["compression-level"] != "3" || attrs["force-compression"] != "true" || attrs["oci-mediatypes"] != "true" {
			t.Errorf("zstd level 3, forced: %v", attrs)
		}
	}
	if attrs := exportAttrs(Request{}); attrs["compression"] != "gzip" || attrs["force-compression"] != "" || attrs["compression-level"] != "" {
		t.Errorf("default: %v, want gzip at its default level, not forced", attrs)
	}
}

func TestExportAttrsPushByDigest(t *testing.T) {
	attrs := exportAttrs(Request{Export: Export{Push: []string{"reg.example/app"}, Insecure: true}})
	want := map[string]string{
		"name": "reg.example/app", "push": "true", "push-by-digest": "true",
		"oci-mediatypes": "true", "registry.insecure": "true", "compression": "gzip",
	}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("%s = %q, want %q", k, attrs[k], v)
		}
	}
	if len(attrs) != len(want) {
		t.Errorf("attrs %v, want exactly %v (no tag, no layout)", attrs, want)
	}
}

func TestOptionAttrs(t *testing.T) {
	attrs := optionAttrs(Request{
		Contexts: []NamedContext{{Name: "assets", Dir: "/x"}, {Name: "context", Dir: "/y"}, {Name: "base", Image: "reg.example/b:1"}},
		NoCache:  true, Pull: true, Network: NetworkNone,
		AddHosts: []string{"db=10.0.0.5", "v6=::1"}, ShmSize: 128 << 20,
		Ulimits: []*units.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}, {Name: "nproc", Soft: 64, Hard: 64}},
	})
	want := map[string]string{
		"context:assets": "local:assets", "context:context": "local:_context", "context:base": "docker-image://reg.example/b:1",
		"no-cache": "", "image-resolve-mode": "pull", "force-network-mode": "none",
		"add-hosts": "db=10.0.0.5,v6=::1", "shm-size": "134217728", "ulimit": "nofile=1024:2048,nproc=64:64",
	}
	if !maps.Equal(attrs, want) {
		t.Errorf("attrs %v\nwant %v", attrs, want)
	}
	if len(optionAttrs(Request{})) != 0 {
		t.Errorf("options asked for although none set: %v", optionAttrs(Request{}))
	}
}

func TestSolveOptExtras(t *testing.T) {
	ctx, assets := t.TempDir(), t.TempDir()
	archive := filepath.Join(t.TempDir(), "image.tar")
	opt, err := solveOpt(Request{
		ContextDir: ctx, Dockerfile: filepath.Join(ctx, "Dockerfile"), Network: NetworkHost,
		Contexts:   []NamedContext{{Name: "dockerfile", Dir: assets}, {Name: "img", Image: "reg.example/i"}},
		OCIArchive: archive, Provenance: "min", AttestationsAsReferrers: true, Epoch: time.Unix(1, 0),
		Export: Export{Push: []string{"reg.example/app"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := opt.LocalMounts["_dockerfile"]; !ok || len(opt.LocalMounts) != 3 {
		t.Errorf("local mounts %v, want context, dockerfile and _dockerfile", slices.Collect(maps.Keys(opt.LocalMounts)))
	}
	if !slices.Equal(opt.AllowedEntitlements, []string{"network.host"}) {
		t.Errorf("network host without its entitlement: %v", opt.AllowedEntitlements)
	}
	if len(opt.Exports) != 2 || opt.Exports[1].Type != "oci" || opt.Exports[1].Output == nil {
		t.Fatalf("exports %+v, want the image exporter and an OCI archive", opt.Exports)
	}
	main, extra := opt.Exports[0].Attrs, opt.Exports[1].Attrs
	if main["oci-artifact"] != "true" || extra["oci-artifact"] != "true" || extra["tar"] != "true" || extra["push"] != "" {
		t.Errorf("main %v, archive %v", main, extra)
	}
	for k, v := range imageAttrs(Request{Provenance: "min", AttestationsAsReferrers: true, Epoch: time.Unix(1, 0)}) {
		if main[k] != v || extra[k] != v {
			t.Errorf("%s differs between the exporters: %q, %q; want %q (the digests would differ)", k, main[k], extra[k], v)
		}
	}
}

func TestReferrersOnlyWithAttestations(t *testing.T) {
	if a := exportAttrs(Request{AttestationsAsReferrers: true}); a["oci-artifact"] != "" {
		t.Errorf("oci-artifact without provenance or SBOM: %v", a)
	}
	if a := exportAttrs(Request{AttestationsAsReferrers: true, SBOM: true}); a["oci-artifact"] != "true" {
		t.Errorf("oci-artifact missing with SBOM: %v", a)
	}
	if a := exportAttrs(Request{Provenance: "min"}); a["oci-artifact"] != "false" {
		t.Errorf("oci-artifact left to buildkitd's version-dependent default: %v", a)
	}
}

func TestArchiveRenamedOnlyWhenComplete(t *testing.T) {
	path := filepath.Join(t.TempDir(), "image.tar")
	w, err := archiveExport(Request{OCIArchive: path}).Output(nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("archive at its final path before the build finished: %v", err)
	}
}

func TestSSHAttached(t *testing.T) {
	none, err := attachables(Request{})
	if err != nil || len(none) != 2 {
		t.Errorf("without ssh: %d attachables, %v", len(none), err)
	}
	_, err = attachables(Request{SSH: []SSH{{ID: "default", Paths: []string{filepath.Join(t.TempDir(), "not-a-key")}}}})
	if !errors.Is(err, ErrSSH) {
		t.Errorf("unusable ssh path: %v, want ErrSSH", err)
	}
}
