package build

import (
	"testing"
	"time"
)

// The integration tests (package main) build with a real buildkitd; these
// pin what is asked of it.

func TestFrontendAttrs(t *testing.T) {
	attrs := frontendAttrs(Request{
		Dockerfile: "ctx/sub/Containerfile", Target: "prod",
		Platforms: []string{"linux/amd64", "linux/arm64"},
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
	single := exportAttrs(Request{Annotations: map[string]string{"k": "v"}})
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

func TestExportAttrsPushByDigest(t *testing.T) {
	attrs := exportAttrs(Request{PushTo: "reg.example/app", PushInsecure: true})
	want := map[string]string{
		"name": "reg.example/app", "push": "true", "push-by-digest": "true",
		"oci-mediatypes": "true", "registry.insecure": "true",
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
