package stream

import (
	"errors"
	"io"
	"sync"
	"time"
)

// errIdle is a stream silent for its limit.
var errIdle = errors.New("silent for the idle limit")

// errHeld is a program's output still open after the program ended and
// every process it left was stopped: a process out of this user's reach
// holds it.
var errHeld = errors.New("held open after the program ended")

// watched is a reader whose Read a stop ends at once, whatever the reader
// underneath does: a pipe a setsid child of the program holds open, or a
// standard input that never ends, block a read that no signal to the
// program ends. The reader is read by a goroutine of its own, through an
// io.Pipe, so that the Read the archive waits in returns when told to; the
// goroutine is left blocked at worst, and ends with the process.
type watched struct {
	pr     *io.PipeReader
	onIdle func() // run when a Read waited for the limit
	mu     sync.Mutex
	limit  time.Duration // how long one Read may wait
	late   error         // why a Read that waits for the limit is stopped
	timer  *time.Timer   // the limit of the Read under way, or nil
	why    error         // the first stop, or nil
}

// pipeSize is what widen grows a pipe to (Linux's default limit for an
// unprivileged process, /proc/sys/fs/pipe-max-size) and what watch reads
// at a time.
const pipeSize = 1 << 20

// watch starts reading r; each Read waits at most limit, then the stream
// is stopped as silent (errIdle) and onIdle runs.
func watch(r io.Reader, limit time.Duration, onIdle func()) *watched {
	pr, pw := io.Pipe()
	go func() {
		// A MiB at a time, what the pipe holds (widen), not io.Copy's
		// 32 KiB: each hand-off costs the reader a wake-up and a timer.
		// The struct hides *os.File's WriterTo, which would copy in 32 KiB.
		_, err := io.CopyBuffer(pw, struct{ io.Reader }{r}, make([]byte, pipeSize))
		_ = pw.CloseWithError(err) // nil: io.EOF to the reader
	}()
	return &watched{pr: pr, onIdle: onIdle, limit: limit, late: errIdle}
}

// Read reads what came, waiting at most the limit; once stopped it
// returns why.
func (w *watched) Read(b []byte) (int, error) {
	w.mu.Lock()
	w.timer = time.AfterFunc(w.limit, w.expire)
	w.mu.Unlock()
	n, err := w.pr.Read(b)
	w.mu.Lock()
	w.timer.Stop()
	w.timer = nil
	why := w.why
	w.mu.Unlock()
	if err != nil && why != nil {
		return n, why
	}
	return n, err
}

// expire stops a Read that waited for the limit.
func (w *watched) expire() {
	w.mu.Lock()
	late := w.late
	w.mu.Unlock()
	w.stop(late)
	if errors.Is(late, errIdle) {
		w.onIdle()
	}
}

// shorten makes every Read, the one under way included, wait at most
// limit, then stop with late.
func (w *watched) shorten(limit time.Duration, late error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.limit, w.late = limit, late
	if w.timer != nil {
		w.timer.Reset(limit)
	}
}

// stop ends the Read under way and every later one with why; the first
// why is kept.
func (w *watched) stop(why error) {
	w.mu.Lock()
	if w.why == nil {
		w.why = why
	}
	w.mu.Unlock()
	_ = w.pr.CloseWithError(why)
}

// reason is why the stream was stopped, or nil.
func (w *watched) reason() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.why
}
