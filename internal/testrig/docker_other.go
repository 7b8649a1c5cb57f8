//go:build !linux

package testrig

// unmountUnder has nothing to detach: dockerd runs on Linux alone, and the
// rig is built elsewhere only so that the packages whose tests use it
// type-check for every platform the release builds (make lint).
func unmountUnder(string) {}
