// Command rig starts a registry and a buildkitd, runs a command with their
// addresses and credentials in its environment, and stops them again:
//
//	rig -tools .tools/bin -- go test ./...
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/blumeops/build-push-image/internal/testrig"
)

func main() {
	tools := flag.String("tools", ".tools/bin", "directory with the registry and buildkitd binaries")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: rig [-tools dir] -- command [args...]")
		os.Exit(2)
	}
	os.Exit(run(*tools, flag.Args()))
}

func run(tools string, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tools, err := filepath.Abs(tools)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rig:", err)
		return 1
	}
	r, err := testrig.Start(ctx, tools)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rig:", err)
		return 1
	}
	defer r.Stop()
	fmt.Fprintf(os.Stderr, "rig: registry http://%s (user %s), buildkitd %s\n", r.Registry, r.User, r.Buildkit)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), r.Env()...)
	if err := cmd.Run(); err != nil {
		if exit, ok := err.(*exec.ExitError); ok {
			return exit.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "rig:", err)
		return 1
	}
	return 0
}
