package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sift-itsm/sift/internal/atomicfile"
)

// DefaultSegmentSize is the size at which a segment is closed and the next
// one begun.
const DefaultSegmentSize = 64 << 20

// MaxRecordSize bounds one record's payload.
const MaxRecordSize = 1 << 30

const (
	segmentHeader = "SIFTWAL\x01" // magic and format version 1
	headerSize    = int64(len(segmentHeader))
	frameHeader   = 8 // length, crc
	// maxGroupBytes bounds the bytes one group commit writes: appenders
	// beyond it wait for the next write.
	maxGroupBytes = 16 << 20
	// queueSize bounds the appends waiting for the writer; more block.
	queueSize = 4096
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// FsyncMode says when appended records are fsynced.
type FsyncMode string

// The fsync modes. The trade-off is in docs/operations.md (Durability).
const (
	// FsyncAlways fsyncs every group commit before its appenders return:
	// an acknowledged record survives a crash of the process and of the
	// machine (power loss, kernel panic).
	FsyncAlways FsyncMode = "always"
	// FsyncInterval writes every group before its appenders return and
	// fsyncs at most every FsyncInterval: a record survives a crash of the
	// process, but a machine crash may lose the last interval.
	FsyncInterval FsyncMode = "interval"
	// FsyncNever leaves flushing to the operating system (and to segment
	// rollover and Close): a record survives a crash of the process only.
	FsyncNever FsyncMode = "never"
)

// Valid reports whether m is a known mode.
func (m FsyncMode) Valid() bool {
	return m == FsyncAlways || m == FsyncInterval || m == FsyncNever
}

// ErrClosed is returned by appends after Close.
var ErrClosed = errors.New("write-ahead log is closed")

// Pos is a position in the log: a segment index and a byte offset in it.
// The zero Pos is the start of the log.
type Pos struct {
	Segment int
	Offset  int64
}

func (p Pos) String() string { return fmt.Sprintf("%08d:%d", p.Segment, p.Offset) }

// Before reports whether p is earlier in the log than q.
func (p Pos) Before(q Pos) bool {
	return p.Segment < q.Segment || p.Segment == q.Segment && p.Offset < q.Offset
}

// CorruptionError is a bad record that a torn write cannot explain: it
// stops the start, naming the segment file and the offset of the record.
type CorruptionError struct {
	Segment string
	Offset  int64
	// Reason says what is wrong with the record; Followed whether valid
	// records follow it.
	Reason   string
	Followed bool
}

func (e *CorruptionError) Error() string {
	where := "in a segment that is not the last"
	if e.Followed {
		where = "followed by valid records"
	}
	return fmt.Sprintf("write-ahead log segment %q: corrupt record at offset %d (%s), %s: not a torn write; refusing to start without it (see docs/operations.md, Durability)", e.Segment, e.Offset, e.Reason, where)
}

// Options configures a Log.
type Options struct {
	// Dir holds the segments; it is created if missing.
	Dir string
	// SegmentSize is the size at which the next segment begins;
	// DefaultSegmentSize when 0. A record larger than it gets a segment
	// of its own.
	SegmentSize int64
	// Fsync is FsyncAlways when empty.
	Fsync FsyncMode
	// FsyncInterval is the period of FsyncInterval; 1s when 0.
	FsyncInterval time.Duration
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
}

func (o *Options) validate() error {
	if o.Dir == "" {
		return errors.New("no directory")
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.SegmentSize < 4096 {
		return fmt.Errorf("segment size %d: must be at least 4096 bytes", o.SegmentSize)
	}
	if o.Fsync == "" {
		o.Fsync = FsyncAlways
	}
	if !o.Fsync.Valid() {
		return fmt.Errorf("fsync mode %q: must be always, interval or never", o.Fsync)
	}
	if o.FsyncInterval <= 0 {
		o.FsyncInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Log is the write-ahead log. See the package documentation.
type Log struct {
	opts   Options
	logger *slog.Logger
	m      *metrics
	// sync flushes a segment to stable storage; a test seam.
	sync func(*os.File) error

	// sendMu guards closed against appends racing Close.
	sendMu sync.RWMutex
	closed bool
	reqs   chan *request
	done   chan struct{}

	// posted are Post's records, not yet taken by the writer; postWake
	// tells it there are some.
	postMu   sync.Mutex
	posted   []*request
	postWake chan struct{}

	// mu guards segs and end, which Replay and Truncate read.
	mu   sync.Mutex
	segs []int // indices on disk, ascending; the last is active
	end  Pos   // after the last record written

	// Owned by the writer goroutine.
	f        *os.File
	size     int64 // of the active segment's records: where the next goes
	fileSize int64 // of the active segment's file
	prealloc bool  // the active segment was zero-filled ahead
	// prepFailed: the last preparation failed (disk full?): no early
	// switch until a roll takes a prepared segment again.
	prepFailed bool
	dirty      bool  // written but not fsynced
	err        error // sticky write or fsync failure
	buf        []byte
	group      []*request

	// next delivers the next segment, zero-filled by prepare; one is
	// always being prepared or ready. stopPrep cancels it at Close.
	next     chan prepared
	stopPrep chan struct{}
}

// prepared is a zero-filled segment file under prepPath.
type prepared struct {
	f   *os.File
	err error
}

// prepName is the next segment while it is zero-filled; a leftover from a
// crash is deleted at Open.
const prepName = "prealloc.tmp"

type request struct {
	recs [][]byte
	size int
	then func(Pos)
	end  Pos
	done chan error
}

// Open checks the log in opts.Dir (truncating a torn tail, refusing
// corruption), begins a new segment and starts the writer.
func Open(opts Options) (*Log, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the write-ahead log directory: %w", err)
	}
	l := &Log{
		opts:     opts,
		logger:   opts.Logger,
		m:        newMetrics(opts.Registerer),
		sync:     datasync,
		reqs:     make(chan *request, queueSize),
		postWake: make(chan struct{}, 1),
		done:     make(chan struct{}),
		next:     make(chan prepared, 1),
		stopPrep: make(chan struct{}),
	}
	if err := os.Remove(filepath.Join(opts.Dir, prepName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing a leftover preallocated segment: %w", err)
	}
	segs, err := listSegments(opts.Dir)
	if err != nil {
		return nil, err
	}
	for i, idx := range segs {
		last := i == len(segs)-1
		keep, err := l.check(idx, last)
		if err != nil {
			return nil, err
		}
		if !keep {
			segs = segs[:i]
		}
	}
	next := 0
	if len(segs) > 0 {
		next = segs[len(segs)-1] + 1
	}
	l.segs = segs
	// The first segment grows as it is written; the writer moves to a
	// preallocated one as soon as prepare has made it (zero-filling the
	// segment size takes a moment that Open should not wait for).
	if err := l.create(next); err != nil {
		return nil, err
	}
	go l.prepare()
	go l.run()
	return l, nil
}

// Dir is the log's directory.
func (l *Log) Dir() string { return l.opts.Dir }

// End is the position after the last record written.
func (l *Log) End() Pos {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.end
}

func listSegments(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the write-ahead log directory: %w", err)
	}
	var segs []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n < 0 || !e.Type().IsRegular() {
			continue
		}
		segs = append(segs, n)
	}
	slices.Sort(segs)
	return segs, nil
}

func (l *Log) segmentPath(idx int) string {
	return filepath.Join(l.opts.Dir, fmt.Sprintf("%08d", idx))
}

// check reads every frame of segment idx. A torn tail of the last segment
// is truncated (or the segment removed, if even its header is torn: keep
// is then false); other damage is a *CorruptionError.
func (l *Log) check(idx int, last bool) (keep bool, err error) {
	path := l.segmentPath(idx)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false, fmt.Errorf("opening write-ahead log segment: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("write-ahead log segment %q: %w", path, err)
	}
	size := st.Size()
	r := bufio.NewReaderSize(f, 1<<20)
	var hdr [headerSize]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		if !last {
			return false, &CorruptionError{Segment: path, Offset: 0, Reason: fmt.Sprintf("segment header: %d of %d bytes", n, headerSize)}
		}
		// Created, then the crash came before its header was written.
		l.logger.Warn("removing a write-ahead log segment whose header is torn", "segment", path, "size", size)
		l.m.repaired.Inc()
		if err := f.Close(); err != nil {
			return false, err
		}
		if err := os.Remove(path); err != nil {
			return false, fmt.Errorf("removing a torn write-ahead log segment: %w", err)
		}
		return false, syncDir(l.opts.Dir)
	}
	if string(hdr[:]) != segmentHeader {
		return false, fmt.Errorf("write-ahead log segment %q: not a sift WAL segment of format version 1 (header %q)", path, hdr[:])
	}
	off := headerSize
	var payload []byte
	for off < size {
		reason := ""
		var fh [frameHeader]byte
		n, _ := io.ReadFull(r, fh[:])
		length := int64(binary.LittleEndian.Uint32(fh[0:4]))
		if n == frameHeader && fh == [frameHeader]byte{} && last {
			// Zeros: the preallocated rest of the segment, if zeros
			// are all there is.
			zero, err := allZero(r)
			if err != nil {
				return false, fmt.Errorf("write-ahead log segment %q: %w", path, err)
			}
			if zero {
				if err := f.Truncate(off); err != nil {
					return false, fmt.Errorf("truncating the preallocated rest of write-ahead log segment %q: %w", path, err)
				}
				if err := f.Sync(); err != nil {
					return false, fmt.Errorf("truncating the preallocated rest of write-ahead log segment %q: %w", path, err)
				}
				size = off
				break
			}
		}
		switch {
		case n < frameHeader:
			reason = fmt.Sprintf("frame header: %d of %d bytes", n, frameHeader)
		case length == 0:
			reason = "zero length"
		case length > size-off-frameHeader:
			reason = fmt.Sprintf("length %d runs past the end of the segment", length)
		default:
			payload = slices.Grow(payload[:0], int(length))[:length]
			if _, err := io.ReadFull(r, payload); err != nil {
				return false, fmt.Errorf("write-ahead log segment %q: %w", path, err)
			}
			if crc(fh[0:4], payload) != binary.LittleEndian.Uint32(fh[4:8]) {
				reason = "checksum mismatch"
			}
		}
		if reason == "" {
			off += frameHeader + length
			continue
		}
		if !last {
			return false, &CorruptionError{Segment: path, Offset: off, Reason: reason}
		}
		if validFrameAfter(f, off, size) {
			return false, &CorruptionError{Segment: path, Offset: off, Reason: reason, Followed: true}
		}
		l.logger.Warn("truncating a torn write at the tail of the write-ahead log", "segment", path, "offset", off, "reason", reason, "bytes_dropped", size-off)
		l.m.repaired.Inc()
		if err := f.Truncate(off); err != nil {
			return false, fmt.Errorf("truncating a torn write-ahead log segment: %w", err)
		}
		if err := f.Sync(); err != nil {
			return false, fmt.Errorf("truncating a torn write-ahead log segment: %w", err)
		}
		size = off
		break
	}
	l.m.size.Add(float64(size))
	return true, nil
}

// validFrameAfter reports whether a valid frame begins anywhere after the
// bad one at off. It tries every offset: a bad length field tells nothing
// of where the next frame would be. The bytes are the torn tail (small)
// or evidence of corruption (an error either way), so the cost is fine.
func validFrameAfter(f *os.File, off, size int64) bool {
	b := make([]byte, size-off)
	if _, err := f.ReadAt(b, off); err != nil {
		return false
	}
	for i := 1; i+frameHeader < len(b); i++ {
		length := int(binary.LittleEndian.Uint32(b[i:]))
		if length == 0 || length > len(b)-i-frameHeader {
			continue
		}
		if crc(b[i:i+4], b[i+frameHeader:i+frameHeader+length]) == binary.LittleEndian.Uint32(b[i+4:]) {
			return true
		}
	}
	return false
}

// allZero reports whether r holds nothing but zero bytes until EOF.
func allZero(r io.Reader) (bool, error) {
	var b [64 << 10]byte
	for {
		n, err := r.Read(b[:])
		for _, c := range b[:n] {
			if c != 0 {
				return false, nil
			}
		}
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}

func crc(length, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, castagnoli), castagnoli, payload)
}

func appendFrame(b, rec []byte) []byte {
	var fh [frameHeader]byte
	binary.LittleEndian.PutUint32(fh[0:4], uint32(len(rec)))
	binary.LittleEndian.PutUint32(fh[4:8], crc(fh[0:4], rec))
	return append(append(b, fh[:]...), rec...)
}

// create begins segment idx and makes it the active one: header written,
// file and directory synced, so that the segment exists after a crash.
func (l *Log) create(idx int) error {
	path := l.segmentPath(idx)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("creating write-ahead log segment: %w", err)
	}
	if _, err := f.WriteString(segmentHeader); err != nil {
		f.Close()
		return fmt.Errorf("writing write-ahead log segment %q: %w", path, err)
	}
	if err := l.fsync(f); err != nil {
		f.Close()
		return fmt.Errorf("syncing write-ahead log segment %q: %w", path, err)
	}
	if err := syncDir(l.opts.Dir); err != nil {
		f.Close()
		return err
	}
	l.install(f, idx, headerSize, false)
	return nil
}

// install makes f, of size bytes on disk, segment idx and the active one.
func (l *Log) install(f *os.File, idx int, size int64, prealloc bool) {
	l.f, l.size, l.fileSize, l.prealloc, l.dirty = f, headerSize, size, prealloc, false
	l.m.size.Add(float64(size))
	l.mu.Lock()
	l.segs = append(l.segs, idx)
	l.end = Pos{Segment: idx, Offset: headerSize}
	n := len(l.segs)
	l.mu.Unlock()
	l.m.segments.Set(float64(n))
}

// prepare zero-fills the next segment file and hands it to the writer.
// Writing into blocks that hold zeros already changes no file size and
// allocates nothing, so the fsync of a group flushes data only: on ext4
// several times faster than appending (docs/benchmarks.md, Durability).
func (l *Log) prepare() {
	f, err := l.zeroFill(filepath.Join(l.opts.Dir, prepName))
	l.next <- prepared{f: f, err: err}
}

var errStopped = errors.New("stopped")

func (l *Log) zeroFill(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("preallocating a write-ahead log segment: %w", err)
	}
	zeros := make([]byte, 1<<20)
	copy(zeros, segmentHeader)
	for off := int64(0); off < l.opts.SegmentSize; off += int64(len(zeros)) {
		select {
		case <-l.stopPrep:
			f.Close()
			return nil, errStopped
		default:
		}
		b := zeros[:min(int64(len(zeros)), l.opts.SegmentSize-off)]
		if _, err := f.Write(b); err != nil {
			f.Close()
			return nil, fmt.Errorf("preallocating a write-ahead log segment: %w", err)
		}
		if off == 0 {
			clear(zeros[:headerSize])
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("preallocating a write-ahead log segment: %w", err)
	}
	return f, nil
}

// takePrepared installs the prepared segment as segment idx, and starts
// preparing the next. It reports false if there was none to take (the
// preparation failed: the caller creates a plain segment).
func (l *Log) takePrepared(p prepared, idx int) bool {
	defer func() { go l.prepare() }()
	l.prepFailed = true
	if p.err != nil {
		l.logger.Warn("could not preallocate a write-ahead log segment; appending to a plain one", "err", p.err)
		return false
	}
	tmp := filepath.Join(l.opts.Dir, prepName)
	if err := os.Rename(tmp, l.segmentPath(idx)); err != nil {
		p.f.Close()
		l.logger.Warn("could not preallocate a write-ahead log segment; appending to a plain one", "err", err)
		return false
	}
	if err := syncDir(l.opts.Dir); err != nil {
		// The segment may be missing after a machine crash: it holds
		// nothing yet, so go on, and let the next fsync say.
		l.logger.Warn("syncing the write-ahead log directory", "err", err)
	}
	l.install(p.f, idx, l.opts.SegmentSize, true)
	l.prepFailed = false
	return true
}

func (l *Log) fsync(f *os.File) error {
	start := time.Now()
	err := l.sync(f)
	l.m.fsyncs.Inc()
	l.m.fsyncDuration.Observe(time.Since(start).Seconds())
	return err
}

func syncDir(dir string) error {
	if err := atomicfile.SyncDir(dir); err != nil {
		return fmt.Errorf("syncing the write-ahead log directory: %w", err)
	}
	return nil
}

// Append writes records as one unit of group commit and returns the
// position after them once they are durable (as the fsync mode says).
// Records must be non-empty and at most MaxRecordSize bytes; the log does
// not keep them after Append returns.
func (l *Log) Append(recs [][]byte) (Pos, error) { return l.AppendThen(recs, nil) }

// AppendThen is Append, and calls then(end) on the writer goroutine once
// the records are durable, in log order, before Append returns. then must
// not block for long: every appender waits for it.
func (l *Log) AppendThen(recs [][]byte, then func(end Pos)) (Pos, error) {
	r := &request{recs: recs, then: then, done: make(chan error, 1)}
	for _, rec := range recs {
		if err := checkRecord(rec); err != nil {
			return Pos{}, err
		}
		r.size += frameHeader + len(rec)
	}
	l.sendMu.RLock()
	if l.closed {
		l.sendMu.RUnlock()
		return Pos{}, ErrClosed
	}
	l.reqs <- r
	l.sendMu.RUnlock()
	if err := <-r.done; err != nil {
		return Pos{}, err
	}
	return r.end, nil
}

// Post writes rec with the next group commit (or alone within postDelay
// if no append comes) and returns at once; then, if not nil, runs on the
// writer goroutine once rec is durable, in log order. It never blocks, whatever the log is waiting for: the engine
// posts its batch marks from its own goroutine while the log's callbacks
// may be waiting for the engine. A failed write is reported to the
// appenders of its group (and makes the log fail), not here: then never
// runs.
func (l *Log) Post(rec []byte, then func(end Pos)) error {
	if err := checkRecord(rec); err != nil {
		return err
	}
	l.sendMu.RLock()
	defer l.sendMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	l.postMu.Lock()
	l.posted = append(l.posted, &request{recs: [][]byte{rec}, size: frameHeader + len(rec), then: then})
	l.postMu.Unlock()
	select {
	case l.postWake <- struct{}{}:
	default:
	}
	return nil
}

func checkRecord(rec []byte) error {
	if len(rec) == 0 || len(rec) > MaxRecordSize {
		return fmt.Errorf("record of %d bytes: must be 1 to %d", len(rec), MaxRecordSize)
	}
	return nil
}

// postDelay is how long posted records wait for an append to ride with
// before the writer writes them alone.
const postDelay = 10 * time.Millisecond

// takePosted appends the posted records to group.
func (l *Log) takePosted(group []*request) []*request {
	l.postMu.Lock()
	defer l.postMu.Unlock()
	group = append(group, l.posted...)
	clear(l.posted)
	l.posted = l.posted[:0]
	return group
}

// Close writes and syncs what is queued, then closes the active segment.
// Later appends fail with ErrClosed.
func (l *Log) Close() error {
	l.sendMu.Lock()
	if !l.closed {
		l.closed = true
		close(l.reqs)
	}
	l.sendMu.Unlock()
	<-l.done
	return l.err
}

// run is the writer goroutine.
func (l *Log) run() {
	defer close(l.done)
	postTimer := time.NewTimer(time.Hour)
	postTimer.Stop()
	defer postTimer.Stop()
	var postC <-chan time.Time // set while posted records wait for an append
	var tick <-chan time.Time
	if l.opts.Fsync == FsyncInterval {
		t := time.NewTicker(l.opts.FsyncInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case r, ok := <-l.reqs:
			if !ok {
				l.finish()
				return
			}
			// Posted records ride with the group: they are marks of
			// batches whose records the log wrote before.
			l.group = append(l.takePosted(l.group[:0]), r)
			bytes := r.size
			open := true
		gather:
			for bytes < maxGroupBytes {
				select {
				case r, ok := <-l.reqs:
					if !ok {
						open = false
						break gather
					}
					l.group = append(l.group, r)
					bytes += r.size
				default:
					break gather
				}
			}
			l.commit(l.group)
			clear(l.group)
			if !open {
				l.finish()
				return
			}
		case <-l.postWake:
			// Not at once: under load an append comes within
			// milliseconds and takes the posted records along, where a
			// group of their own would cost an fsync that the appenders
			// then queue behind.
			if postC == nil {
				postTimer.Reset(postDelay)
				postC = postTimer.C
			}
		case <-postC:
			postC = nil
			if l.group = l.takePosted(l.group[:0]); len(l.group) > 0 {
				l.commit(l.group)
				clear(l.group)
			}
		case <-tick:
			if l.dirty && l.err == nil {
				if err := l.fsync(l.f); err != nil {
					l.fail(fmt.Errorf("syncing write-ahead log segment %q: %w", l.f.Name(), err))
				}
				l.dirty = false
			}
		}
	}
}

func (l *Log) finish() {
	// Close waited for Post's read lock: nothing is posted after this.
	if l.group = l.takePosted(l.group[:0]); len(l.group) > 0 {
		l.commit(l.group)
		clear(l.group)
	}
	if l.err == nil {
		l.seal()
	} else {
		_ = l.f.Close()
	}
	close(l.stopPrep)
	if p := <-l.next; p.err == nil {
		p.f.Close()
	}
	_ = os.Remove(filepath.Join(l.opts.Dir, prepName))
}

// seal cuts the preallocated rest off the active segment, syncs and
// closes it: a segment that is not the last ends with its last record.
func (l *Log) seal() bool {
	if l.fileSize > l.size {
		if err := l.f.Truncate(l.size); err != nil {
			l.fail(fmt.Errorf("truncating write-ahead log segment %q: %w", l.f.Name(), err))
			return false
		}
		l.m.size.Sub(float64(l.fileSize - l.size))
		l.fileSize = l.size
		l.dirty = true
	}
	if l.dirty {
		if err := l.fsync(l.f); err != nil {
			l.fail(fmt.Errorf("syncing write-ahead log segment %q: %w", l.f.Name(), err))
			return false
		}
		l.dirty = false
	}
	if err := l.f.Close(); err != nil {
		l.fail(fmt.Errorf("closing write-ahead log segment %q: %w", l.f.Name(), err))
		return false
	}
	return true
}

// fail makes err sticky: after a failed write or fsync the file's state is
// unknown (the kernel may have dropped the dirty pages), so nothing more
// is acknowledged; a restart recovers from what is on disk.
func (l *Log) fail(err error) {
	if l.err == nil {
		l.err = err
		l.m.failures.Inc()
		l.logger.Error("write-ahead log failed; ingest is refused until siftd restarts", "err", err)
	}
}

// commit writes a group with one write per segment touched, syncs it as
// the mode says, then runs the callbacks and wakes the appenders in order.
func (l *Log) commit(group []*request) {
	if l.err == nil && !l.prealloc && !l.prepFailed {
		select {
		case p := <-l.next:
			// A grown segment (the first after Open, or after a failed
			// preallocation): move to the preallocated one now.
			l.switchTo(p)
		default:
		}
	}
	if l.err == nil {
		l.write(group)
	}
	if l.err != nil {
		for _, r := range group {
			if r.done != nil {
				r.done <- l.err
			}
		}
		return
	}
	l.m.groupSize.Observe(float64(len(group)))
	l.mu.Lock()
	l.end = group[len(group)-1].end
	l.mu.Unlock()
	for _, r := range group {
		if r.done != nil { // not posted: an append
			l.m.appends.Inc()
		}
		l.m.records.Add(float64(len(r.recs)))
		l.m.bytes.Add(float64(r.size))
		if r.then != nil {
			r.then(r.end)
		}
		if r.done != nil {
			r.done <- nil
		}
	}
}

func (l *Log) write(group []*request) {
	buf := l.buf[:0]
	flush := func() bool {
		if len(buf) == 0 {
			return true
		}
		if _, err := l.f.WriteAt(buf, l.size); err != nil {
			l.fail(fmt.Errorf("writing write-ahead log segment %q: %w", l.f.Name(), err))
			return false
		}
		l.size += int64(len(buf))
		if l.size > l.fileSize {
			l.m.size.Add(float64(l.size - l.fileSize))
			l.fileSize = l.size
		}
		l.dirty = true
		buf = buf[:0]
		return true
	}
	for _, r := range group {
		for _, rec := range r.recs {
			n := int64(frameHeader + len(rec))
			if used := l.size + int64(len(buf)); used > headerSize && used+n > l.opts.SegmentSize {
				if !flush() || !l.roll() {
					return
				}
			}
			buf = appendFrame(buf, rec)
		}
		r.end = Pos{Segment: l.segIndex(), Offset: l.size + int64(len(buf))}
	}
	if !flush() {
		return
	}
	if cap(buf) <= maxGroupBytes {
		l.buf = buf[:0]
	}
	if l.opts.Fsync == FsyncAlways {
		if err := l.fsync(l.f); err != nil {
			l.fail(fmt.Errorf("syncing write-ahead log segment %q: %w", l.f.Name(), err))
			return
		}
		l.dirty = false
	}
}

func (l *Log) segIndex() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.segs[len(l.segs)-1]
}

// switchTo moves from a grown segment to the prepared one: in its place
// if nothing was written to it yet, else after it.
func (l *Log) switchTo(p prepared) {
	idx := l.segIndex()
	if l.size == headerSize {
		if err := l.f.Close(); err != nil {
			l.fail(fmt.Errorf("closing write-ahead log segment %q: %w", l.f.Name(), err))
			return
		}
		l.m.size.Sub(float64(l.fileSize))
		l.mu.Lock()
		l.segs = l.segs[:len(l.segs)-1]
		l.mu.Unlock()
		if l.takePrepared(p, idx) { // the rename replaces the empty one
			return
		}
		if err := os.Remove(l.segmentPath(idx)); err != nil {
			l.fail(fmt.Errorf("replacing write-ahead log segment: %w", err))
			return
		}
	} else {
		if !l.seal() {
			if p.err == nil {
				p.f.Close()
			}
			go l.prepare()
			return
		}
		idx++
		if l.takePrepared(p, idx) {
			return
		}
	}
	if err := l.create(idx); err != nil {
		l.fail(err)
	}
}

// roll seals the active segment (synced whatever the mode, so that only
// the last segment can ever hold a torn write) and begins the next,
// waiting for its preallocation if need be.
func (l *Log) roll() bool {
	if !l.seal() {
		return false
	}
	idx := l.segIndex() + 1
	if l.takePrepared(<-l.next, idx) {
		return true
	}
	if err := l.create(idx); err != nil {
		l.fail(err)
		return false
	}
	return true
}

// Replay calls fn with every record from position from (the zero Pos: the
// start of the log) up to the end of the log when Replay was called, in
// order, with the position after the record. rec is valid only during the
// call. An error from fn stops the replay and is returned.
func (l *Log) Replay(from Pos, fn func(end Pos, rec []byte) error) error {
	l.mu.Lock()
	segs, end := slices.Clone(l.segs), l.end
	l.mu.Unlock()
	if len(segs) == 0 {
		return nil
	}
	if from != (Pos{}) && from.Segment < segs[0] {
		return fmt.Errorf("replaying from %s: the log begins at segment %08d", from, segs[0])
	}
	var payload []byte
	for _, idx := range segs {
		if idx < from.Segment || idx > end.Segment {
			continue
		}
		off := headerSize
		if idx == from.Segment && from.Offset > off {
			off = from.Offset
		}
		limit := int64(-1)
		if idx == end.Segment {
			limit = end.Offset
		}
		var err error
		if payload, err = l.replaySegment(idx, off, limit, payload, fn); err != nil {
			return err
		}
	}
	return nil
}

func (l *Log) replaySegment(idx int, off, limit int64, payload []byte, fn func(Pos, []byte) error) ([]byte, error) {
	path := l.segmentPath(idx)
	f, err := os.Open(path)
	if err != nil {
		return payload, fmt.Errorf("replaying the write-ahead log: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return payload, fmt.Errorf("replaying write-ahead log segment %q: %w", path, err)
	}
	r := bufio.NewReaderSize(f, 1<<20)
	for limit < 0 || off < limit {
		var fh [frameHeader]byte
		n, err := io.ReadFull(r, fh[:])
		if n == 0 && errors.Is(err, io.EOF) {
			return payload, nil
		}
		length := int64(binary.LittleEndian.Uint32(fh[0:4]))
		if err != nil || length == 0 || length > MaxRecordSize {
			return payload, &CorruptionError{Segment: path, Offset: off, Reason: "bad frame header during replay"}
		}
		payload = slices.Grow(payload[:0], int(length))[:length]
		if _, err := io.ReadFull(r, payload); err != nil {
			return payload, &CorruptionError{Segment: path, Offset: off, Reason: "short record during replay"}
		}
		if crc(fh[0:4], payload) != binary.LittleEndian.Uint32(fh[4:8]) {
			return payload, &CorruptionError{Segment: path, Offset: off, Reason: "checksum mismatch during replay"}
		}
		off += frameHeader + length
		if err := fn(Pos{Segment: idx, Offset: off}, payload); err != nil {
			return payload, err
		}
	}
	return payload, nil
}

// Truncate deletes the segments that end before the segment of pos: a
// snapshot covers everything before pos. The active segment is never
// deleted.
func (l *Log) Truncate(before Pos) error {
	l.mu.Lock()
	var drop []int
	for len(l.segs) > 1 && l.segs[0] < before.Segment {
		drop = append(drop, l.segs[0])
		l.segs = l.segs[1:]
	}
	n := len(l.segs)
	l.mu.Unlock()
	l.m.segments.Set(float64(n))
	var errs []error
	for _, idx := range drop {
		if st, err := os.Stat(l.segmentPath(idx)); err == nil {
			l.m.size.Sub(float64(st.Size()))
		}
		if err := os.Remove(l.segmentPath(idx)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("deleting write-ahead log segment: %w", err))
		}
	}
	if len(drop) > 0 {
		errs = append(errs, syncDir(l.opts.Dir))
	}
	return errors.Join(errs...)
}
