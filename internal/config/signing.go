package config

import (
	"errors"

	"github.com/blumeops/build-push-image/internal/sign"
)

// Signing is the key the image is signed with before its tags
// (signing-key, signing-key-password).
type Signing struct {
	// Key is nil when signing-key is empty: the image is not signed.
	Key *sign.Key
	// secrets are the two inputs' values, kept only to mask them and keep
	// them out of every child's environment.
	secrets []string
}

// parseSigning parses the key now, before anything is built or read, so
// that a wrong password or a file that is not a key fails the job with
// nothing pushed.
func parseSigning(errs *inputErrs, raw map[string]string) Signing {
	key, password := raw["signing-key"], raw["signing-key-password"]
	s := Signing{secrets: []string{key, password}}
	switch {
	case key != "":
		set(errs, "signing-key", &s.Key)(sign.ParseKey([]byte(key), []byte(password)))
	case password != "":
		errs.add("signing-key-password", errors.New("is set but signing-key is empty; pass the key from the same secret store (or drop the password)"))
	}
	return s
}
