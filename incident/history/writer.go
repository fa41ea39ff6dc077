package history

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sift-itsm/sift/correlate"
)

// Destination is where the writer sends rows: *Store in production.
type Destination interface {
	// Insert writes one table's rows of r.
	Insert(ctx context.Context, table string, r *Rows) error
	// EnforceRetention drops data past retention where the server cannot.
	EnforceRetention(ctx context.Context) (int, error)
}

// WriterOptions configures a Writer. Zero fields take the defaults.
type WriterOptions struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the writer's clock: batch age and the run id.
	Now func() time.Time
	// Run identifies this writer's rows (see EventID); Now().UnixNano()
	// when 0. Event ids are (Run, batch Seq, index): with the
	// write-ahead log, batch numbers continue across restarts and a
	// replayed batch has its live number, so siftd passes an id kept
	// with its storage, and a re-sent batch gets the ids it had.
	Run uint64
	// Durable, when set, is the last write-ahead log mark that is
	// durable (wal.Marks): a batch is held until its mark is, so that
	// what is sent is what a replay after a crash makes again, row for
	// row (docs/durability.md, "Sinks resume").
	Durable func() uint64
	// A batch is sent when it holds BatchMaxRows rows (default 200000)
	// or its first row is BatchMaxWait old (default 1s). Each batch makes
	// a part per table on the server, which merges them: fewer, larger
	// parts cost it less per row.
	BatchMaxRows int
	BatchMaxWait time.Duration
	// QueueMaxRows bounds the rows held in memory (default 1000000, five
	// full batches: one being sent, one open, room for a slow insert):
	// past it, batches go to the spool; past twice it, Consume drops
	// rows.
	QueueMaxRows int
	// SpoolDir holds spooled batches (required); SpoolMaxBytes bounds them
	// (default 1 GiB): past it the oldest are deleted and counted.
	SpoolDir      string
	SpoolMaxBytes int64
	// RetryMin and RetryMax bound the backoff between attempts (defaults
	// 100ms, 30s).
	RetryMin, RetryMax time.Duration
	// MaxAttempts is how often a batch ClickHouse rejects (an exception,
	// not a network error) is tried before it is dropped (default 5).
	MaxAttempts int
	// FlushTimeout bounds the final send at shutdown (default 10s); what
	// is not sent by then is spooled.
	FlushTimeout time.Duration
	// RetentionInterval is how often EnforceRetention runs (default 1h).
	RetentionInterval time.Duration
	// ServiceLabel is the alert label naming an incident's services
	// (default "service").
	ServiceLabel string
}

func (o *WriterOptions) validate() error {
	if o.SpoolDir == "" {
		return errors.New("history writer: no spool directory")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Run == 0 {
		o.Run = uint64(o.Now().UnixNano())
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.BatchMaxRows, 200000)
	def(&o.QueueMaxRows, 1000000)
	def(&o.MaxAttempts, 5)
	defd(&o.BatchMaxWait, time.Second)
	defd(&o.RetryMin, 100*time.Millisecond)
	defd(&o.RetryMax, 30*time.Second)
	defd(&o.FlushTimeout, 10*time.Second)
	defd(&o.RetentionInterval, time.Hour)
	if o.ServiceLabel == "" {
		o.ServiceLabel = DefaultServiceLabel
	}
	if o.SpoolMaxBytes <= 0 {
		o.SpoolMaxBytes = 1 << 30
	}
	return nil
}

// Writer is the engine sink that records history. Consume queues; Run
// batches, sends and spools.
type Writer struct {
	o     WriterOptions
	dst   Destination
	m     *metrics
	spool *spool

	mu         sync.Mutex
	in         []item // consumed, not yet batched
	memRows    int    // rows in memory: in, the open batch, pending in memory
	pending    []*pbatch
	spoolBytes int64
	spoolCount int
	down       bool // the last send failed: batches go to disk
	closed     bool
	nextFile   uint64 // spool file number of the next sealed batch
	// lastMark is the highest mark consumed; openMark the lowest in the
	// open batch (0: none). With the pending batches' and the queue's,
	// they say which marks are confirmed (Confirmed).
	lastMark, openMark uint64
	// progress is closed (and replaced) when batches leave memory.
	progress chan struct{}
	// urgent is the mark a WaitConfirmed waits for: the batcher seals
	// the open batch at once if it holds it, rather than at its age.
	urgent atomic.Uint64

	wakeBatcher chan struct{}
	wakeSender  chan struct{}
	// tr belongs to the batcher goroutine.
	tr *tracker
}

// pbatch is a sealed batch waiting to be sent, in memory or on disk.
type pbatch struct {
	rows     *Rows
	file     *spoolFile
	n        uint64 // its spool file number
	minMark  uint64 // the lowest mark of its items, 0 if none
	counts   counts
	sent     [len(counts{})]bool // tables already inserted; a retry skips them
	busy     bool                // the sender or the spooler holds it
	attempts int
}

// NewWriter returns a writer sending to dst. It reads the spool
// directory: batches left there by an earlier run are sent first.
func NewWriter(dst Destination, o WriterOptions) (*Writer, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	w := &Writer{o: o, dst: dst, wakeBatcher: make(chan struct{}, 1), wakeSender: make(chan struct{}, 1),
		tr: newTracker(o.Run, o.ServiceLabel)}
	w.m = newMetrics(o.Registerer, w)
	sp, files, bad, err := openSpool(o.SpoolDir)
	if err != nil {
		return nil, err
	}
	w.spool = sp
	w.nextFile = sp.next
	for _, path := range bad {
		o.Logger.Error("unreadable history spool file; deleting it", "file", path)
		w.m.errors.WithLabelValues(errSpool).Inc()
		sp.remove(spoolFile{path: path})
	}
	for i := range files {
		f := files[i]
		w.pending = append(w.pending, &pbatch{file: &f, counts: f.counts})
		w.spoolBytes += f.size
		w.spoolCount++
	}
	if len(files) > 0 {
		o.Logger.Info("history spool holds batches from an earlier run; sending them first", "batches", len(files), "bytes", w.spoolBytes)
	}
	return w, nil
}

// Consume queues an engine batch. It never blocks: it reads the alerts'
// shared counters (they move on with later batches) and appends to a
// queue; when more than twice QueueMaxRows rows are held in memory it
// drops the batch and counts it.
func (w *Writer) Consume(b *correlate.Batch) {
	it := item{seq: b.Seq, mark: b.Mark, now: b.Now, events: b.Events}
	for _, c := range b.Changes {
		// Incident and problem versions are immutable once published:
		// the batcher reads them later.
		if c.Incident != nil {
			it.incidents = append(it.incidents, c.Incident)
			continue
		}
		if c.Problem != nil {
			it.problems = append(it.problems, c.Problem)
			continue
		}
		if c.Alert == nil {
			continue
		}
		it.changes = append(it.changes, changeSnap{c: c, count: c.Alert.Count(),
			lastSeen: unixNano(c.Alert.LastSeen()), endsAt: unixNano(c.Alert.EndsAt())})
	}
	w.enqueue(it)
}

// Add queues rows from another producer (incidents, problems,
// notifications), with the same guarantees as Consume.
func (w *Writer) Add(r *Rows) {
	w.enqueue(item{rows: r})
}

func (w *Writer) enqueue(it item) {
	n := it.len()
	if n == 0 {
		return
	}
	w.mu.Lock()
	w.lastMark = max(w.lastMark, it.mark)
	if w.closed || w.memRows+n > 2*w.o.QueueMaxRows {
		reason := dropQueueFull
		if w.closed {
			reason = dropClosed
		}
		w.mu.Unlock()
		w.m.drop(it.counts(), reason)
		return
	}
	w.in = append(w.in, it)
	w.memRows += n
	w.mu.Unlock()
	signal(w.wakeBatcher)
}

func (it *item) counts() counts {
	if it.rows != nil {
		return it.rows.counts()
	}
	// The timeline entries an incident version adds are not known
	// before the batcher has compared it with the last one written.
	return counts{uint32(len(it.events)), uint32(len(it.changes)), uint32(len(it.incidents)), 0, uint32(len(it.problems))}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// QueueLength is the number of rows held in memory.
func (w *Writer) QueueLength() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.memRows
}

// SpoolSize is the bytes and number of batches on disk.
func (w *Writer) SpoolSize() (int64, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.spoolBytes, w.spoolCount
}

// Pending is the number of sealed batches not yet sent, in memory or on
// disk.
func (w *Writer) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

// Run batches and sends until ctx is cancelled, then sends what it holds
// for up to FlushTimeout, spools the rest and returns. Call it once;
// Consume after Run returned drops and counts.
func (w *Writer) Run(ctx context.Context) error {
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	senderDone := make(chan struct{})
	stopping := make(chan struct{})
	go func() {
		defer close(senderDone)
		w.sender(sendCtx, stopping)
	}()

	w.batcher(ctx)

	// Shutdown: everything consumed is sealed and the queue closed; the
	// sender gets FlushTimeout to send what is in memory, then the rest
	// is spooled.
	close(stopping)
	signal(w.wakeSender)
	t := time.NewTimer(w.o.FlushTimeout)
	select {
	case <-senderDone:
	case <-t.C:
		w.o.Logger.Warn("history flush timed out; spooling what is left", "timeout", w.o.FlushTimeout)
	}
	t.Stop()
	cancelSend()
	<-senderDone
	for w.spoolOne(func(*pbatch) bool { return true }) {
	}
	bytes, n := w.SpoolSize()
	if n > 0 {
		w.o.Logger.Info("history writer stopped; batches left in the spool for the next start", "batches", n, "bytes", bytes)
	}
	return nil
}

// batcher turns queued engine batches into row batches until ctx ends,
// then seals what it has.
func (w *Writer) batcher(ctx context.Context) {
	var (
		open      = &Rows{}
		openSince time.Time
		tr        = w.tr
		timer     = time.NewTimer(time.Hour)
	)
	timer.Stop()
	defer timer.Stop()
	// seal moves the open batch to pending; next is the lowest mark of
	// the items the new open batch is about to take (0: none), set in the
	// same critical section so that Confirmed never misses them.
	seal := func(next uint64) {
		if open.Len() == 0 {
			return
		}
		b := &pbatch{rows: open, counts: open.counts()}
		open = &Rows{}
		w.mu.Lock()
		b.minMark, w.openMark = w.openMark, next
		b.n = w.nextFile
		w.nextFile++
		w.pending = append(w.pending, b)
		w.mu.Unlock()
		signal(w.wakeSender)
	}
	// take batches the queued items whose marks are durable, and reports
	// whether some wait for theirs. At the last, those are dropped.
	take := func(last bool) (held bool) {
		durable := uint64(math.MaxUint64)
		if w.o.Durable != nil {
			durable = w.o.Durable()
		}
		w.mu.Lock()
		n := len(w.in)
		for i, it := range w.in {
			if it.mark > durable {
				n = i
				break
			}
		}
		in, rest := w.in[:n], w.in[n:]
		w.in = nil
		if len(rest) > 0 && !last {
			w.in = slices.Clone(rest)
		}
		if first := firstMark(in); first != 0 && w.openMark == 0 {
			w.openMark = first
		}
		// The last take closes the queue in the same critical section,
		// so nothing can be queued behind it and never batched.
		w.closed = w.closed || last
		if last && len(rest) > 0 {
			var c counts
			for i := range rest {
				c.add(rest[i].counts())
				w.memRows -= rest[i].len()
			}
			w.o.Logger.Error("history batches whose write-ahead log mark is not durable; the next start replays them", "rows", c.total())
			w.m.drop(c, dropNotDurable)
		}
		w.mu.Unlock()
		for i := range in {
			if open.Len() == 0 {
				openSince = w.o.Now()
			}
			before := open.Len()
			tr.appendTo(open, &in[i])
			// An incident version was counted as one row when queued; it
			// becomes one plus its new timeline entries.
			if d := open.Len() - before - in[i].len(); d != 0 {
				w.mu.Lock()
				w.memRows += d
				w.mu.Unlock()
			}
			if open.Len() >= w.o.BatchMaxRows {
				seal(firstMark(in[i+1:]))
			}
		}
		return len(rest) > 0 && !last
	}
	for {
		stop := false
		select {
		case <-ctx.Done():
			stop = true
		case <-w.wakeBatcher:
		case <-timer.C:
		}
		timer.Stop() // reset below as needed (no stale fire since Go 1.23)
		held := take(stop)
		// openMark is the batcher's own: no lock to read it here.
		waited := w.openMark != 0 && w.openMark <= w.urgent.Load()
		if open.Len() > 0 && (stop || waited || w.o.Now().Sub(openSince) >= w.o.BatchMaxWait) {
			seal(0) // take batched everything it took
		}
		wait := time.Duration(-1)
		if open.Len() > 0 {
			wait = max(w.o.BatchMaxWait-w.o.Now().Sub(openSince), time.Millisecond)
		}
		if held && (wait < 0 || wait > markPoll) {
			// Marks become durable with the log's next group commit:
			// look again shortly.
			wait = markPoll
		}
		if wait >= 0 {
			timer.Reset(wait)
		}
		// Memory: batches past QueueMaxRows, and all of them while
		// ClickHouse is down, go to disk, newest first (the oldest are
		// next to be sent).
		for w.spoolOne(w.shouldSpool) {
		}
		if stop {
			return
		}
	}
}

// markPoll is how often the batcher looks again for items whose marks
// were not durable yet: a group commit of the log is milliseconds.
const markPoll = 2 * time.Millisecond

func firstMark(items []item) uint64 {
	for i := range items {
		if items[i].mark != 0 {
			return items[i].mark
		}
	}
	return 0
}

// Confirmed is the highest write-ahead log mark up to which every batch
// consumed is inserted, spooled to disk or dropped (and counted): what a
// snapshot may cover without a crash after it losing history rows.
func (w *Writer) Confirmed() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if low := w.lowestHeldLocked(); low != 0 {
		return low - 1
	}
	return w.lastMark
}

// lowestHeldLocked is the lowest mark of a batch consumed and not yet
// confirmed, 0 if none.
func (w *Writer) lowestHeldLocked() uint64 {
	low := firstMark(w.in)
	if w.openMark != 0 && (low == 0 || w.openMark < low) {
		low = w.openMark
	}
	for _, p := range w.pending {
		if p.rows != nil && p.minMark != 0 && (low == 0 || p.minMark < low) {
			low = p.minMark
		}
	}
	return low
}

// Consumed is the highest write-ahead log mark consumed.
func (w *Writer) Consumed() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastMark
}

// WaitConfirmed returns once every batch consumed with a mark up to mark
// is confirmed (inserted, spooled or dropped), or with ctx's error. Marks
// of batches the writer never saw count as confirmed: the engine does not
// publish a batch that changed nothing (a refused action), and it hands
// every batch to the sinks before it takes a snapshot, so nothing up to a
// snapshot's mark is still on its way. The open batch is sealed at once
// rather than at its age if it holds a mark up to mark.
func (w *Writer) WaitConfirmed(ctx context.Context, mark uint64) error {
	done := func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		low := w.lowestHeldLocked()
		return low == 0 || low > mark
	}
	if done() {
		return nil
	}
	for {
		u := w.urgent.Load()
		if u >= mark || w.urgent.CompareAndSwap(u, mark) {
			break
		}
	}
	signal(w.wakeBatcher)
	return w.waitFor(ctx, done)
}

// WaitRoom returns once the rows in memory are at most QueueMaxRows (the
// rest spooled or sent), or with ctx's error: recovery paces the replay
// by it, so that replayed batches are not dropped for want of room.
func (w *Writer) WaitRoom(ctx context.Context) error {
	return w.waitFor(ctx, func() bool { return w.QueueLength() <= w.o.QueueMaxRows })
}

func (w *Writer) waitFor(ctx context.Context, done func() bool) error {
	for {
		w.mu.Lock()
		if w.progress == nil {
			w.progress = make(chan struct{})
		}
		ch := w.progress
		w.mu.Unlock()
		if done() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// progressedLocked wakes the waiters of waitFor: rows left memory.
func (w *Writer) progressedLocked() {
	if w.progress != nil {
		close(w.progress)
		w.progress = nil
	}
}

// shouldSpool is called with w.mu held.
func (w *Writer) shouldSpool(*pbatch) bool {
	return w.down || w.memRows > w.o.QueueMaxRows
}

// spoolOne writes the newest in-memory batch that is not busy to disk if
// cond says so, and reports whether it did.
func (w *Writer) spoolOne(cond func(*pbatch) bool) bool {
	w.mu.Lock()
	var b *pbatch
	for i := len(w.pending) - 1; i >= 0; i-- {
		if p := w.pending[i]; p.rows != nil && !p.busy {
			b = p
			break
		}
	}
	if b == nil || !cond(b) {
		w.mu.Unlock()
		return false
	}
	b.busy = true
	w.mu.Unlock()
	w.toDisk(b)
	signal(w.wakeSender)
	return true
}

// toDisk spools b, which the caller has marked busy, and releases it. A
// batch that cannot be written is dropped and counted: memory is bounded
// and the disk said no.
func (w *Writer) toDisk(b *pbatch) {
	f, err := w.spool.write(b.rows, b.n)
	w.mu.Lock()
	defer w.mu.Unlock()
	b.busy = false
	n := b.rows.Len()
	if err != nil {
		w.o.Logger.Error("cannot spool history batch; dropping it", "rows", n, "err", err)
		w.m.errors.WithLabelValues(errSpool).Inc()
		w.m.drop(b.counts, dropSpoolIO)
		w.removeLocked(b)
		w.memRows -= n
		return
	}
	b.file = &f
	b.rows = nil
	w.memRows -= n
	w.progressedLocked()
	w.spoolBytes += f.size
	w.spoolCount++
	// Bound the spool: drop the oldest files that nobody holds.
	for i := 0; w.spoolBytes > w.o.SpoolMaxBytes && i < len(w.pending); {
		p := w.pending[i]
		if p.file == nil || p.busy || p == b {
			i++
			continue
		}
		w.o.Logger.Warn("history spool full; dropping its oldest batch", "rows", p.counts.total(), "max_bytes", w.o.SpoolMaxBytes)
		w.m.drop(p.counts, dropSpoolFull)
		w.removeLocked(p)
	}
}

// removeLocked takes p out of pending and deletes its file.
func (w *Writer) removeLocked(p *pbatch) {
	defer w.progressedLocked()
	for i, q := range w.pending {
		if q == p {
			w.pending = append(w.pending[:i], w.pending[i+1:]...)
			break
		}
	}
	if p.file != nil {
		w.spool.remove(*p.file)
		w.spoolBytes -= p.file.size
		w.spoolCount--
		p.file = nil
	}
}

// sender inserts pending batches in order until ctx ends, or until
// stopping is closed and nothing is left in memory (spooled batches wait
// for the next start rather than hold up a shutdown).
func (w *Writer) sender(ctx context.Context, stopping <-chan struct{}) {
	backoff := w.o.RetryMin
	var lastRetention time.Time
	for {
		if ctx.Err() != nil {
			return
		}
		if now := w.o.Now(); now.Sub(lastRetention) >= w.o.RetentionInterval {
			lastRetention = now
			if _, err := w.dst.EnforceRetention(ctx); err != nil && ctx.Err() == nil {
				// Try again in a minute, not with every batch: while
				// ClickHouse is away each try costs a dial timeout.
				lastRetention = now.Add(min(time.Minute, w.o.RetentionInterval) - w.o.RetentionInterval)
				w.m.errors.WithLabelValues(errRetention).Inc()
				w.o.Logger.Warn("history retention failed; retrying in a minute", "err", err)
			}
		}
		w.mu.Lock()
		var head *pbatch
		if len(w.pending) > 0 && !w.pending[0].busy {
			head = w.pending[0]
			head.busy = true
		}
		stopped := isClosed(stopping)
		if stopped && (w.down || !w.anyInMemoryLocked()) {
			if head != nil {
				head.busy = false
			}
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		if head == nil {
			select {
			case <-w.wakeSender:
			case <-ctx.Done():
				return
			case <-stopping:
			}
			continue
		}
		err := w.send(ctx, head)
		if err == nil {
			backoff = w.o.RetryMin
			continue
		}
		if ctx.Err() != nil {
			w.release(head)
			return
		}
		reason := reasonOf(err)
		w.m.errors.WithLabelValues(reason).Inc()
		w.m.up.Set(0)
		head.attempts++
		if errors.Is(err, errCorrupt) || reason == errInvalid || reason == errServer && head.attempts >= w.o.MaxAttempts {
			why := dropRejected
			if errors.Is(err, errCorrupt) {
				why = dropCorrupt
			}
			w.o.Logger.Error("dropping history batch", "reason", why, "attempts", head.attempts, "rows", head.counts.total(), "err", err)
			w.mu.Lock()
			w.m.drop(w.unsent(head), why)
			if head.rows != nil {
				w.memRows -= head.rows.Len()
			}
			w.removeLocked(head)
			w.mu.Unlock()
			continue
		}
		w.mu.Lock()
		wasDown := w.down
		w.down = true
		w.mu.Unlock()
		if !wasDown {
			w.o.Logger.Warn("ClickHouse cannot take history; spooling to disk until it can", "reason", reason, "err", err)
		}
		if head.rows != nil {
			w.toDisk(head) // releases it
		} else {
			w.release(head)
		}
		signal(w.wakeBatcher) // spool the rest
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
		case <-stopping:
		}
		t.Stop()
		backoff = min(2*backoff, w.o.RetryMax)
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (w *Writer) anyInMemoryLocked() bool {
	for _, p := range w.pending {
		if p.rows != nil {
			return true
		}
	}
	return false
}

func (w *Writer) release(b *pbatch) {
	w.mu.Lock()
	b.busy = false
	w.mu.Unlock()
}

// unsent is the counts of b's tables not yet inserted.
func (w *Writer) unsent(b *pbatch) counts {
	c := b.counts
	for i, done := range b.sent {
		if done {
			c[i] = 0
		}
	}
	return c
}

// send inserts b, which the caller has marked busy, table by table,
// skipping tables a previous attempt inserted; on success it removes b.
func (w *Writer) send(ctx context.Context, b *pbatch) error {
	rows := b.rows
	if rows == nil {
		r, err := w.spool.read(*b.file)
		if err != nil {
			w.m.errors.WithLabelValues(errSpool).Inc()
			if !errors.Is(err, errCorrupt) {
				err = fmt.Errorf("%w: %w", errCorrupt, err)
			}
			return err
		}
		rows = r
	}
	for i, t := range Tables {
		if b.sent[i] || b.counts[i] == 0 {
			continue
		}
		start := time.Now()
		if err := w.dst.Insert(ctx, t, rows); err != nil {
			return err
		}
		w.m.duration.WithLabelValues(t).Observe(time.Since(start).Seconds())
		w.m.written.WithLabelValues(t).Add(float64(b.counts[i]))
		b.sent[i] = true
	}
	w.m.batch.Observe(float64(b.counts.total()))
	w.m.up.Set(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.down {
		w.down = false
		w.o.Logger.Info("ClickHouse takes history again; draining the spool")
	}
	if b.rows != nil {
		w.memRows -= b.rows.Len()
	}
	w.removeLocked(b)
	return nil
}
