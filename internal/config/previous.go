package config

// eventBefore is the commit the branch pointed at before this push (the
// push event's "before"; eventBase reads it), "" when there is none:
// another event, a new branch (all zeros), no file.
func eventBefore(getenv func(string) string) string {
	if pullRequest, base, _ := eventBase(getenv); !pullRequest {
		return base
	}
	return ""
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
