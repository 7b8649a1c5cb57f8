package testrig

import (
	"os"
	"strings"
	"syscall"
)

// unmountUnder detaches what dockerd left mounted below dir (the network
// namespace it bind-mounts into its exec root), so that dir can go.
func unmountUnder(dir string) {
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	lines := strings.Split(string(mounts), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if f := strings.Fields(lines[i]); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			_ = syscall.Unmount(f[1], syscall.MNT_DETACH)
		}
	}
}
