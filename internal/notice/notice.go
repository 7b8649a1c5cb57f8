// Package notice is a runner's memory of the notices it gave: a marker
// in its tool cache per notice, so a notice that would repeat itself on
// every run is given once, and again when what it says changes. It
// imports nothing of the action's.
package notice

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
)

// Given says whether the tool cache at cache remembers giving text about
// the file at path, and remembers it from now on: a file under
// <cache>/build-push-image/notices named by a hash of the file's absolute
// path and text, so a change to either gives the notice again. Without a
// tool cache (by hand), or when it cannot be written, every run gives it.
func Given(cache, path, text string) bool {
	if cache == "" {
		return false
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	sum := sha256.Sum256([]byte(abs + "\n" + text))
	mark := filepath.Join(cache, "build-push-image", "notices", hex.EncodeToString(sum[:16]))
	if _, err := os.Stat(mark); err == nil {
		return true
	}
	if os.MkdirAll(filepath.Dir(mark), 0o700) == nil {
		_ = os.WriteFile(mark, nil, 0o600)
	}
	return false
}
