package stream

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkStreamRead reads 192 MiB a program writes in 10 KiB records
// (Python's tarfile in stream mode, as nix's script writes) through a
// 64 KiB buffer, as the action's reader does; cpu-ms/op is this
// process's own CPU (the reading, not the program's writing).
//
//	go test ./internal/stream -run '^$' -bench StreamRead -benchtime 3x
func BenchmarkStreamRead(b *testing.B) {
	name := filepath.Join(b.TempDir(), "result")
	if err := os.WriteFile(name, []byte("#!/bin/sh\nexec dd if=/dev/zero bs=10240 count=19660 status=none\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(10240 * 19660)
	start := selfCPU(b)
	for range b.N {
		p, err := Start(context.Background(), name)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, bufio.NewReaderSize(p, 64<<10))
		if err := p.Finish(err); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((selfCPU(b)-start)/time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// selfCPU is the user and system time of this process so far.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
