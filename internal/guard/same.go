package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	digest "github.com/opencontainers/go-digest"
)

// Manifests reads what a digest names (internal/push's Registry): the
// guard compares two images' manifests with it.
type Manifests interface {
	Manifest(ctx context.Context, reference string) (mediaType string, raw []byte, found bool, err error)
}

// Image is an image a run built: its digest and, when the run has it (an
// archive's, even one never uploaded), its manifest.
type Image struct {
	Digest   digest.Digest
	Manifest []byte
}

// difference is Difference, reading manifests through m (nil: none).
func difference(ctx context.Context, m Manifests, theirs digest.Digest, ours Image) (string, error) {
	if theirs == ours.Digest {
		return "", nil
	}
	if m == nil || ours.Digest == "" {
		return "digest: the registry's is " + theirs.String() + ", this run's " + orNothing(ours.Digest), nil
	}
	a, err := content(ctx, m, theirs, nil)
	if err != nil {
		return "", err
	}
	b, err := content(ctx, m, ours.Digest, ours.Manifest)
	switch {
	case err != nil:
		return "", err
	case a == nil:
		return "the registry's " + theirs.String() + " is not an image manifest or index", nil
	case b == nil:
		return "this run's " + ours.Digest.String() + " is not an image manifest or index in the registry", nil
	}
	return differ("", a, b), nil
}

// content is the manifest d (raw, when given): nil when the repository
// does not have it or it is not a JSON object.
func content(ctx context.Context, m Manifests, d digest.Digest, raw []byte) (map[string]json.RawMessage, error) {
	if raw == nil {
		_, got, found, err := m.Manifest(ctx, d.String())
		if err != nil {
			return nil, fmt.Errorf("read %s to compare it: %w", d, err)
		}
		if !found {
			return nil, nil
		}
		raw = got
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil || fields == nil {
		return nil, nil
	}
	return fields, nil
}

// lists are the fields of a manifest holding descriptors, each compared
// one by one, and what one of them is called.
var lists = map[string]string{"layers": "layer", "manifests": "manifest"}

// differ is the first field (by name, after prefix) in which the JSON
// objects theirs and ours differ, annotations aside; "" when none does.
// A descriptor's well-known fields come first, in the order people read
// them.
func differ(prefix string, theirs, ours map[string]json.RawMessage) string {
	keys := make([]string, 0, len(theirs)+len(ours))
	for _, m := range []map[string]json.RawMessage{theirs, ours} {
		for k := range m {
			if k != "annotations" && !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	first := []string{"mediaType", "digest", "size"}
	slices.SortFunc(keys, func(a, b string) int {
		ia, ib := slices.Index(first, a), slices.Index(first, b)
		switch {
		case ia >= 0 && ib >= 0:
			return ia - ib
		case ia >= 0:
			return -1
		case ib >= 0:
			return 1
		}
		return strings.Compare(a, b)
	})
	for _, k := range keys {
		if line := field(prefix, k, theirs[k], ours[k]); line != "" {
			return line
		}
	}
	return ""
}

// field compares one field: the config as a descriptor, layers and
// manifests descriptor by descriptor, anything else as canonical JSON.
func field(prefix, key string, theirs, ours json.RawMessage) string {
	if key == "config" {
		if line, ok := descriptors(prefix+"config ", theirs, ours); ok {
			return line
		}
	}
	if one, ok := lists[key]; ok {
		var a, b []map[string]json.RawMessage
		if json.Unmarshal(theirs, &a) == nil && json.Unmarshal(ours, &b) == nil {
			if len(a) != len(b) {
				return fmt.Sprintf("%s%s count: the registry's is %d, this run's %d", prefix, key, len(a), len(b))
			}
			for i := range a {
				if line := differ(fmt.Sprintf("%s%s %d ", prefix, one, i+1), a[i], b[i]); line != "" {
					return line
				}
			}
			return ""
		}
	}
	if ca, cb := canonical(theirs), canonical(ours); ca != cb {
		return fmt.Sprintf("%s%s: the registry's is %s, this run's %s", prefix, name(key), ca, cb)
	}
	return ""
}

// descriptors compares two descriptors (JSON objects); false when either
// is not one (then they are compared as JSON).
func descriptors(prefix string, theirs, ours json.RawMessage) (string, bool) {
	var a, b map[string]json.RawMessage
	if json.Unmarshal(theirs, &a) != nil || json.Unmarshal(ours, &b) != nil || a == nil || b == nil {
		return "", false
	}
	return differ(prefix, a, b), true
}

// canonical is a JSON value as one line: strings unquoted, objects with
// their keys sorted, "none" for what is absent.
func canonical(raw json.RawMessage) string {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil || v == nil {
		return "none"
	}
	if s, ok := v.(string); ok {
		return s
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// name is how a line calls a manifest field.
func name(key string) string {
	switch key {
	case "mediaType":
		return "media type"
	case "artifactType":
		return "artifact type"
	case "schemaVersion":
		return "schema version"
	}
	return key
}

func orNothing(d digest.Digest) string {
	if d == "" {
		return "nothing"
	}
	return d.String()
}
