package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/blumeops/build-push-image/internal/repofile"
)

// The context and file inputs: paths in the workspace.

// cleanPath refuses a relative path that climbs out of the working
// directory: an action input should not reach into the runner's files.
func cleanPath(p string) (string, error) {
	clean := filepath.Clean(p)
	if !filepath.IsAbs(clean) && (clean == ".." || strings.HasPrefix(clean, "../")) {
		return "", fmt.Errorf("%q leaves the workspace; give a path inside it", p)
	}
	return clean, nil
}

// statInput cleans and stats a path input; notFound says what is missing.
func statInput(p, notFound string) (string, os.FileInfo, error) {
	clean, err := cleanPath(p)
	if err != nil {
		return "", nil, err
	}
	st, err := os.Stat(clean)
	if err != nil {
		return "", nil, errors.New(notFound)
	}
	return clean, st, nil
}

func validateDir(p string) error {
	_, st, err := statInput(p, fmt.Sprintf("directory %q not found; check the path (is the repository checked out?)", p))
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%q is a file, not a directory; give the directory to build from", p)
	}
	return nil
}

// validateFile checks the Dockerfile of context: there, and a regular
// file inside the workspace (internal/repofile), since version-arg reads
// it and a FIFO or device would hang or flood the read.
func validateFile(p, context string) error {
	clean, st, err := statInput(p, fmt.Sprintf("Dockerfile %q not found; set file to its path", p))
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%q is a directory; give the path of the Dockerfile itself", p)
	}
	return repofile.Check(repofile.Root(clean, context), clean)
}
