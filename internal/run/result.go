package run

import "github.com/blumeops/build-push-image/internal/tags"

// Published is what a run produced, for outputs and the summary.
type Published struct {
	Image string `json:"image"`
	// Images are all the repositories, the first being Image.
	Images     []string `json:"images"`
	Digest     string   `json:"digest"`
	VersionTag string   `json:"version-tag"`
	SHATag     string   `json:"sha-tag"`
	// Tags are the full references that name the image now: Written by
	// this run, and Unchanged (they already did). Never null.
	Tags      []string `json:"tags"`
	Written   []string `json:"written"`
	Unchanged []string `json:"unchanged"`
	Pushed    bool     `json:"pushed"`
	// Signature is the first repository's signature (signing-key), and
	// Verify the cosign command that checks it.
	Signature string   `json:"signature,omitempty"`
	Verify    string   `json:"-"`
	Platforms []string `json:"platforms,omitempty"`
	Seconds   float64  `json:"seconds"`
}

// ImageTag is what became of one tag of one repository, for the lines
// that say so.
type ImageTag struct {
	Image string
	tags.Tag
}

// Ref is the tag's full reference, image:tag.
func (t ImageTag) Ref() string { return t.Image + ":" + t.Name }
