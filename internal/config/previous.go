package config

import (
	"encoding/json"
	"io"
	"os"
	"strings"
)

// maxEvent bounds how much of the event payload is read.
const maxEvent = 16 << 20

// eventBefore is the commit the branch pointed at before this push (the
// push event's "before", in the file $GITHUB_EVENT_PATH names), "" when
// there is none: another event, a new branch (all zeros), no file.
func eventBefore(path string) string {
	if path == "" {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }()
	var event struct {
		Before string `json:"before"`
	}
	if json.NewDecoder(io.LimitReader(f, maxEvent)).Decode(&event) != nil || !shaPattern.MatchString(event.Before) || strings.Trim(event.Before, "0") == "" {
		return ""
	}
	return event.Before
}

// Previous are tags that name the release before this one, whatever its
// version scheme (165768b, 2026.12.07): the tags that follow releases
// (latest, v1) and the SHA tag of the commit before the push, for its
// layers to be reused.
func (c Config) Previous() []string {
	out := c.Follow()
	if c.Before != "" && c.SHALength > 0 && c.SHALength <= len(c.Before) {
		out = append(out, c.Before[:c.SHALength]+c.TagSuffix)
	}
	return out
}
