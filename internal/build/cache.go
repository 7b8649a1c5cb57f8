package build

import (
	"encoding/csv"
	"errors"
	"fmt"
	"strings"
)

// Cache is one cache-from or cache-to entry, e.g. type=registry,ref=....
type Cache struct {
	Type  string
	Attrs map[string]string
}

const cacheExample = "type=registry,ref=registry.example/team/app:buildcache"

// ParseCache reads one cache entry as docker buildx does: comma-separated
// key=value fields, CSV-quoted when a value holds a comma
// ("key=a,b"), one of them type=.
func ParseCache(line string) (Cache, error) {
	r := csv.NewReader(strings.NewReader(line))
	r.TrimLeadingSpace = true
	fields, err := r.Read()
	if err != nil {
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			err = perr.Err
		}
		return Cache{}, fmt.Errorf("not comma-separated key=value (%v); quote a whole field holding a comma, as in CSV: \"key=a,b\"", err)
	}
	c := Cache{Attrs: map[string]string{}}
	for _, field := range fields {
		k, v, ok := strings.Cut(field, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		switch {
		case !ok || k == "":
			return Cache{}, fmt.Errorf("%q is not key=value; write e.g. %s", field, cacheExample)
		case k == "type":
			c.Type = v
		default:
			c.Attrs[k] = v
		}
	}
	if c.Type == "" {
		return Cache{}, fmt.Errorf("no type=; write e.g. %s", cacheExample)
	}
	return c, nil
}
