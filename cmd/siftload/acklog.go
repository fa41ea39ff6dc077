package main

import (
	"bufio"
	"os"
	"sync"
	"time"

	"github.com/sift-itsm/sift/internal/acklog"
)

// ackLog is --ack-log: a line (package acklog) for every request siftd
// acknowledged, and for every request that got a connection but no answer
// (status 0, in doubt: siftd may have logged it before it could answer).
// Refused requests (any other status) and requests that never got a
// connection are not written.
//
// The run pays for it only when it is on: a line is encoded per request
// written, the body copied as it is.
//
// Concurrency: write may be called from any goroutine.
type ackLog struct {
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	err error
}

func openAckLog(path string) (*ackLog, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &ackLog{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

// write appends one line; the first error sticks and close returns it.
func (a *ackLog) write(line []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		_, a.err = a.w.Write(line)
	}
}

func (a *ackLog) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		a.err = a.w.Flush()
	}
	if err := a.f.Close(); a.err == nil {
		a.err = err
	}
	return a.err
}

// logRequest writes b's line to the ack log: sent at sent, answered (or
// failed) at done with status, 0 for no answer.
func (w *worker) logRequest(b *body, sent, done time.Time, status int) {
	w.line = acklog.AppendLine(w.line[:0], w.id, b.format.String(), sent, done, status, b.events, b.buf)
	w.l.ack.write(w.line)
}
