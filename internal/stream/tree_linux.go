package stream

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// A program may leave processes that leave its process group (setsid, a
// double fork, a daemon): a group kill misses them, and as the runner's
// user they could read a later job's /proc/<pid>/environ. Without
// privileges (a cgroup needs root or a delegated subtree, which a runner
// user seldom has), this process becomes a child subreaper before it
// starts the program: every orphan of the program's tree is reparented to
// it instead of to init, so the tree stays rooted here, and /proc tells
// which processes descend from this one, whatever session or group they
// made.

// adopt readies this process before the user's code runs: no process of
// the same user may read its memory or /proc/<pid>/environ, and every
// orphan of the program comes to it.
func adopt(name string) error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("making this process non-dumpable before starting %s: %w", name, err)
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("making this process the subreaper of %s: %w", name, err)
	}
	return nil
}

// disown ends adopt's subreaper: orphans stop coming to this process.
func disown() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) }

// treeLimit is how long stopping the tree may take: kills are repeated
// until no descendant lives (one may fork while it is killed).
const treeLimit = time.Second

// proc is one process of /proc/<pid>/stat.
type proc struct {
	pid, ppid int
	zombie    bool
}

// processes reads every process /proc lists.
func processes() []proc {
	entries, _ := os.ReadDir("/proc") // unreadable: no process seen
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // ended meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		rest := stat[bytes.LastIndexByte(stat, ')')+1:]
		f := bytes.Fields(rest)
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(string(f[1]))
		out = append(out, proc{pid: pid, ppid: ppid, zombie: string(f[0]) == "Z"})
	}
	return out
}

// children are the pids of this process's children now: the processes it
// started before the program, left alone by stopTree.
func children() map[int]bool {
	self := os.Getpid()
	out := map[int]bool{}
	for _, p := range processes() {
		if p.ppid == self {
			out[p.pid] = true
		}
	}
	return out
}

// descendants are the processes descending from this one, but for those
// under the children in exempt.
func descendants(exempt map[int]bool) []proc {
	all := processes()
	kids := map[int][]proc{}
	for _, p := range all {
		kids[p.ppid] = append(kids[p.ppid], p)
	}
	var out []proc
	queue := []int{os.Getpid()}
	for len(queue) > 0 {
		parent := queue[0]
		queue = queue[1:]
		for _, p := range kids[parent] {
			if !exempt[p.pid] {
				out = append(out, p)
				queue = append(queue, p.pid)
			}
		}
	}
	return out
}

// stopTree kills every descendant of this process but those under exempt,
// round after round until none lives, and reaps those that became this
// process's zombies (never program, which its cmd.Wait reaps). It returns
// the pids it could not stop: another user's (through a setuid program),
// or still alive after treeLimit.
func stopTree(exempt map[int]bool, program int) []int {
	self := os.Getpid()
	deadline := time.Now().Add(treeLimit)
	for {
		var alive, unreachable []int
		for _, p := range descendants(exempt) {
			if p.ppid == self && p.pid != program {
				_, _ = unix.Wait4(p.pid, nil, unix.WNOHANG, nil) // a zombie: reaped
			}
			if p.zombie {
				continue
			}
			switch err := unix.Kill(p.pid, unix.SIGKILL); {
			case err == nil:
				alive = append(alive, p.pid) // until it is seen gone
			case errors.Is(err, unix.EPERM):
				unreachable = append(unreachable, p.pid)
			}
		}
		if len(alive) == 0 || time.Now().After(deadline) {
			return append(unreachable, alive...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
