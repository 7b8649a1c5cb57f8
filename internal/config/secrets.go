package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// parseSecrets reads id=VALUE, id=env:VAR and id=file:PATH lines. Errors
// name the line or the id, never the value; every bad one is reported.
func parseSecrets(v string, getenv func(string) string) (map[string][]byte, error) {
	kv, err := parseKeyValues(v)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(kv))
	var errs []error
	for id, val := range kv {
		b, err := secretValue(val, getenv)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		}
		out[id] = b
	}
	return out, errors.Join(errs...)
}

// secretValue is the value a secrets line names.
func secretValue(val string, getenv func(string) string) ([]byte, error) {
	if name, ok := strings.CutPrefix(val, "env:"); ok {
		if getenv(name) == "" {
			return nil, fmt.Errorf("environment variable %s is empty or unset; pass it to the step's env", name)
		}
		return []byte(getenv(name)), nil
	}
	if path, ok := strings.CutPrefix(val, "file:"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("cannot read %s; give a readable file", path)
		}
		return b, nil
	}
	return []byte(val), nil
}
