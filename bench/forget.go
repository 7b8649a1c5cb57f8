package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// forget unlinks every blob of repo:tag from that repository. BuildKit and
// skopeo remember where they pushed a blob and mount it from there into
// the next repository instead of uploading it; once the source repository
// no longer has the blob, the mount is refused and the next push is a real
// upload again, as on a registry that has never seen the image. It speaks
// plain HTTP to the registry API, with nothing cached in between.
func (b *bench) forget(ctx context.Context, repo, tag string) error {
	name := strings.TrimPrefix(repo, b.registry+"/")
	var m struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	accept := "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
	if err := b.registryCall(ctx, http.MethodGet, "/v2/"+name+"/manifests/"+tag, accept, &m); err != nil {
		return fmt.Errorf("forget %s:%s: %w", repo, tag, err)
	}
	var errs []error
	for _, d := range append([]string{m.Config.Digest}, layerDigests(m.Layers)...) {
		errs = append(errs, b.registryCall(ctx, http.MethodDelete, "/v2/"+name+"/blobs/"+d, "", nil))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("forget %s:%s: %w", repo, tag, err)
	}
	return nil
}

func layerDigests(layers []struct{ Digest string }) []string {
	out := make([]string, len(layers))
	for i, l := range layers {
		out[i] = l.Digest
	}
	return out
}

// registryCall sends one request with Basic auth and decodes a JSON
// answer into into, when it is not nil.
func (b *bench) registryCall(ctx context.Context, method, path, accept string, into any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+b.registry+path, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(b.user, b.key)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, strings.TrimSpace(string(body)))
	}
	if into == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(into)
}
