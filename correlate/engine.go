package correlate

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/rules"
)

// DefaultQueueCapacity is how many events may wait for the engine.
const DefaultQueueCapacity = 1 << 18

// maxQueueSlots bounds the submissions (requests) waiting, whatever their
// size. A slot costs 32 bytes whether used or not, so sizing the channel
// by events would spend 8 MiB on the default capacity; many thousands of
// waiting requests mean overload anyway, and are refused like a full queue.
const maxQueueSlots = 1 << 14

// Sink receives every committed batch, in order, on the engine's
// goroutine. Consume must not block and must not modify the batch: a sink
// that does slow work queues the batch and counts what it drops.
type Sink interface {
	Consume(*Batch)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(*Batch)

// Consume calls f(b).
func (f SinkFunc) Consume(b *Batch) { f(b) }

// Options configures an Engine.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the engine clock; time.Now when nil. Tests and replay pass
	// their own.
	Now func() time.Time
	// QueueCapacity bounds the events waiting to be applied; it is fixed
	// for the life of the engine.
	QueueCapacity int
	Settings      Settings
	// Rules returns the rule set in force, read at every batch (a reload
	// swaps it); rules.Default() when nil.
	Rules func() *rules.Set
	// Topology returns the CMDB in force, read at every batch; nil (or a
	// nil result) for none. SetTopology overrides it.
	Topology func() Topology
}

// Engine deduplicates events into alerts. One goroutine (Run) applies
// micro-batches of submitted events to the state in one go-memdb write
// transaction each, then hands the batch to the sinks.
//
// Concurrency: Submit and Flush may be called from any goroutine; readers
// use read transactions on the memdb (DB) and never block the writer;
// SetSettings takes effect at the next batch. Everything else is owned by
// the Run goroutine.
type Engine struct {
	topoFn func() Topology
	rules  func() *rules.Set
	logger *slog.Logger
	now    func() time.Time
	st     *state
	m      *metrics

	settings atomic.Pointer[Settings]
	topology atomic.Pointer[Topology]
	sinks    []Sink

	// The queue holds whole submissions. queued counts the events in it,
	// against capacity, so that memory is bounded by events, not requests.
	queue    chan item
	queued   atomic.Int64
	capacity int64
	mu       sync.RWMutex // guards closed against sends on a closed queue
	closed   bool
	done     chan struct{}

	// cmdLog, when set (before Run), makes commands durable (command.go);
	// markLog marks batches in the same log (marks.go).
	cmdLog  CommandLog
	markLog MarkLog
	// clock is the clock of the last batch applied, owned by Run (or
	// Replay before it): a command never applies before it.
	clock time.Time
}

type item struct {
	events []ingest.Event
	// flushed, when set, is closed once everything before it is applied.
	flushed chan struct{}
	// cmd, with reply, is a command (a user's action, a silence, a
	// problem update, change events, a notification-log record): applied
	// after everything before it, in a batch of its own, its outcome sent
	// to reply.
	cmd   *Command
	reply chan commandResult

	// snapshot, when set, asks for the state after everything before it.
	snapshot chan<- SnapshotState
}

type commandResult struct {
	v   any
	err error
}

// ErrNoIncident is the error of an action on an incident sift does not
// hold (never opened, or closed and gone from memory).
var ErrNoIncident = errors.New("no such incident in memory")

// New returns an engine; call Run to start it.
func New(o Options) *Engine {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.QueueCapacity <= 0 {
		o.QueueCapacity = DefaultQueueCapacity
	}
	if o.Settings == (Settings{}) {
		o.Settings = DefaultSettings()
	}
	if o.Rules == nil {
		def := rules.Default()
		o.Rules = func() *rules.Set { return def }
	}
	e := &Engine{
		topoFn:   o.Topology,
		rules:    o.Rules,
		logger:   o.Logger,
		now:      o.Now,
		st:       newState(),
		capacity: int64(o.QueueCapacity),
		queue:    make(chan item, min(o.QueueCapacity, maxQueueSlots)),
		done:     make(chan struct{}),
	}
	e.SetSettings(o.Settings)
	e.m = newMetrics(o.Registerer, e)
	return e
}

// SetSettings replaces the reloadable settings. Zero batch, expiry and
// tick fields take defaults; the incident durations are used as given (0
// means at once).
func (e *Engine) SetSettings(s Settings) {
	d := DefaultSettings()
	if s.BatchMaxEvents <= 0 {
		s.BatchMaxEvents = d.BatchMaxEvents
	}
	if s.BatchMaxWait <= 0 {
		s.BatchMaxWait = d.BatchMaxWait
	}
	if s.ResolveTimeout <= 0 {
		s.ResolveTimeout = d.ResolveTimeout
	}
	if s.ResolvedRetention <= 0 {
		s.ResolvedRetention = d.ResolvedRetention
	}
	if s.TickInterval <= 0 {
		s.TickInterval = d.TickInterval
	}
	if s.ImpactSpread <= 0 {
		s.ImpactSpread = d.ImpactSpread
	}
	e.settings.Store(&s)
}

// Settings returns the settings in force.
func (e *Engine) Settings() Settings { return *e.settings.Load() }

// QueueCapacity is the event capacity of the queue, fixed at New.
func (e *Engine) QueueCapacity() int { return int(e.capacity) }

// QueueLength is the number of events waiting to be applied.
func (e *Engine) QueueLength() int { return int(e.queued.Load()) }

// Subscribe adds a sink. Call it before Run.
func (e *Engine) Subscribe(s Sink) { e.sinks = append(e.sinks, s) }

// DB is the live state for readers: open read transactions only.
func (e *Engine) DB() *memdb.MemDB { return e.st.db }

// Submit queues a validated batch of events. It never blocks: when the
// queue cannot take all of them it takes none and returns
// ingest.ErrQueueFull; after Close it returns ingest.ErrClosed.
func (e *Engine) Submit(events []ingest.Event) error {
	n := int64(len(events))
	if n == 0 {
		return nil
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return ingest.ErrClosed
	}
	if e.queued.Add(n) > e.capacity {
		e.queued.Add(-n)
		e.m.dropped.Add(float64(n))
		return ingest.ErrQueueFull
	}
	select {
	case e.queue <- item{events: events}:
		return nil
	default:
		e.queued.Add(-n)
		e.m.dropped.Add(float64(n))
		return ingest.ErrQueueFull
	}
}

// Flush waits until every event submitted before the call is applied and
// its batch handed to the sinks.
func (e *Engine) Flush(ctx context.Context) error {
	ch := make(chan struct{})
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		select {
		case <-e.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case e.queue <- item{flushed: ch}:
	case <-ctx.Done():
		e.mu.RUnlock()
		return ctx.Err()
	}
	e.mu.RUnlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops intake: later Submits fail with ingest.ErrClosed. Run then
// applies what is queued and returns.
func (e *Engine) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed {
		e.closed = true
		close(e.queue)
	}
}

// Done is closed when Run has returned.
func (e *Engine) Done() <-chan struct{} { return e.done }

// Run applies submitted events until Close, then drains the queue and
// returns. Cancelling ctx stops it without draining.
func (e *Engine) Run(ctx context.Context) error {
	defer close(e.done)
	set := e.settings.Load()
	tick := time.NewTicker(set.TickInterval)
	defer tick.Stop()
	wait := time.NewTimer(time.Hour)
	wait.Stop()

	var (
		pending    []ingest.Event
		parts      int
		waiters    []chan struct{}
		timerArmed bool
	)
	flush := func() {
		e.applyBatch(pending, parts)
		pending, parts = nil, 0
		for _, w := range waiters {
			close(w)
		}
		waiters = waiters[:0]
		if timerArmed {
			wait.Stop()
			timerArmed = false
		}
	}
	for {
		select {
		case it, ok := <-e.queue:
			if !ok {
				flush()
				return nil
			}
			if it.flushed != nil {
				waiters = append(waiters, it.flushed)
				flush()
				continue
			}
			if it.snapshot != nil {
				flush()
				it.snapshot <- e.copyState()
				continue
			}
			if it.reply != nil { // a command
				// The events before it first, as a batch. With none, no
				// batch of its own: the command runs the timers due by
				// its clock itself, and replay, which has no such
				// batch either, applies it to the same state.
				if parts > 0 {
					flush()
				}
				_, _, _ = e.execute(it.cmd, it.reply, time.Time{}, markFor{records: 1, command: true})
				continue
			}
			if parts == 0 {
				pending = it.events
			} else {
				if parts == 1 {
					// Copy the first submission rather than append to a
					// slice its receiver handed over.
					pending = append(make([]ingest.Event, 0, 2*len(pending)+len(it.events)), pending...)
				}
				pending = append(pending, it.events...)
			}
			parts++
			if s := e.settings.Load(); len(pending) >= s.BatchMaxEvents {
				flush()
			} else if !timerArmed {
				wait.Reset(s.BatchMaxWait)
				timerArmed = true
			}
		case <-wait.C:
			timerArmed = false
			flush()
		case <-tick.C:
			if s := e.settings.Load(); s.TickInterval != set.TickInterval {
				set = s
				tick.Reset(s.TickInterval)
			}
			if parts == 0 {
				flush() // expiry only
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// applyBatch applies the events of the submissions the queue gave.
func (e *Engine) applyBatch(events []ingest.Event, submissions int) {
	e.applyAt(e.now(), events, int64(len(events)), markFor{records: submissions})
}

// Replay applies events as one batch at engine clock reading now, on the
// caller's goroutine, and hands the batch to the sinks. Recovery replays
// the write-ahead log through it, with the clock following the recorded
// receive times; the events are one record the log has not marked
// (ReplayMarked is for those it has). Call it only before Run.
func (e *Engine) Replay(now time.Time, events []ingest.Event) {
	e.applyAt(now, events, 0, markFor{records: 1})
}

// applyAt applies a batch at now; dequeued is how many of its events
// leave the queue.
func (e *Engine) applyAt(now time.Time, events []ingest.Event, dequeued int64, m markFor) *Batch {
	start := time.Now() // for the metric only: the engine clock is now
	e.begin(now)
	b := e.st.apply(now, events, e.settings.Load())
	e.queued.Add(-dequeued)
	e.mark(b, m)
	e.publish(b, start)
	return b
}

// begin readies the state for a batch at now: the clock advances to it
// and the batch reads the CMDB and rules in force.
func (e *Engine) begin(now time.Time) {
	if now.After(e.clock) {
		e.clock = now
	}
	e.st.topo = e.Topology()
	e.st.setRules(e.rules())
}

// publish records a batch applied since start in the metrics and hands it
// to the sinks unless nothing happened (an idle tick, a refused command).
func (e *Engine) publish(b *Batch, start time.Time) {
	e.m.observe(b, time.Since(start), e.st)
	if b.Seq == 0 {
		return
	}
	for _, s := range e.sinks {
		s.Consume(b)
	}
}

// execute applies a command at c.At, or at the clock of the batch before
// it if that is later (at, when set, overrides both: the clock its mark
// recorded), in a batch of its own, and hands the batch to the sinks;
// reply, when set, gets the outcome first. The engine is deterministic in
// its commands and their clocks, so replaying a logged command gives the
// outcome (a refusal included) it had live.
func (e *Engine) execute(c *Command, reply chan<- commandResult, at time.Time, m markFor) (any, *Batch, error) {
	start := time.Now() // for the metric only
	now := at
	if now.IsZero() {
		now = c.At
		if now.Before(e.clock) {
			now = e.clock
		}
	}
	e.begin(now)
	var (
		v   any
		b   *Batch
		err error
	)
	set := e.settings.Load()
	switch {
	case c.Action != nil:
		v, b, err = e.st.act(now, c.Action, set)
	case c.Problem != nil:
		v, b, err = e.st.updateProblem(now, c.Problem, set)
	case len(c.Changes) > 0:
		b = e.st.applyChanges(now, c.Changes, set)
		v = len(c.Changes)
	case c.Notification != nil:
		v, b, err = e.st.applyNotify(now, &notifyOp{record: c.Notification}, set)
	case c.PruneNotifications:
		v, b, err = e.st.applyNotify(now, &notifyOp{prune: true}, set)
	case c.Silence != nil:
		b = &Batch{Now: now}
		v, err = e.st.applySilence(&silenceOp{set: c.Silence}, now, set)
	case c.ExpireSilence != "":
		b = &Batch{Now: now}
		v, err = e.st.applySilence(&silenceOp{expire: c.ExpireSilence}, now, set)
	default:
		b, err = &Batch{Now: now}, errEmptyCommand
	}
	e.mark(b, m)
	if reply != nil {
		reply <- commandResult{v: v, err: err}
	}
	e.publish(b, start)
	return v, b, err
}

// command runs c, stamped with the engine clock, after everything
// submitted before it, and waits for its outcome: through the command
// log when there is one (SetCommandLog), else straight into the queue.
func (e *Engine) command(ctx context.Context, c *Command) (any, error) {
	c.At = e.now()
	var (
		p   *Pending
		err error
	)
	if e.cmdLog != nil {
		p, err = e.cmdLog.LogCommand(c)
	} else {
		p, err = e.enqueue(ctx, c)
	}
	if err != nil {
		return nil, err
	}
	return p.Wait(ctx)
}

// enqueue queues c after everything submitted before it.
func (e *Engine) enqueue(ctx context.Context, c *Command) (*Pending, error) {
	it := item{cmd: c, reply: make(chan commandResult, 1)}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, ingest.ErrClosed
	}
	select {
	case e.queue <- it:
		return &Pending{reply: it.reply}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Act applies a user's action to an incident, after every event submitted
// before it, and returns the new version. An action the incident's state
// does not allow is an *incident.TransitionError; an unknown incident
// ErrNoIncident.
func (e *Engine) Act(ctx context.Context, a incident.Action) (*incident.Incident, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	v, err := e.command(ctx, &Command{Action: &a})
	if err != nil {
		return nil, err
	}
	return v.(*incident.Incident), nil
}

// UpdateProblem applies a user's change to a problem (state, texts, link
// or unlink an incident) and returns the new version. A state change the
// problem does not allow is an *incident.ProblemTransitionError; unknown
// problems ErrNoProblem, unknown incidents ErrNoIncident.
func (e *Engine) UpdateProblem(ctx context.Context, u incident.ProblemUpdate) (*incident.Problem, error) {
	v, err := e.command(ctx, &Command{Problem: &u})
	if err != nil {
		return nil, err
	}
	return v.(*incident.Problem), nil
}

// AddChanges validates and keeps change events (for change_lookback); the
// probable changes of open incidents follow.
func (e *Engine) AddChanges(ctx context.Context, cs []ChangeEvent) error {
	if err := validateChanges(cs); err != nil {
		return err
	}
	if len(cs) == 0 {
		return nil
	}
	_, err := e.command(ctx, &Command{Changes: cs})
	return err
}

// AddSilence validates and stores a silence and returns it with its id. It
// mutes alerts that fire (or fire again) while it is active.
func (e *Engine) AddSilence(ctx context.Context, s Silence) (*Silence, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	v, err := e.command(ctx, &Command{Silence: &s})
	if err != nil {
		return nil, err
	}
	return v.(*Silence), nil
}

// ExpireSilence ends a silence now; the firing alerts it muted correlate
// (as of now) with the next batch or command. Unknown or ended silences
// are ErrNoSilence.
func (e *Engine) ExpireSilence(ctx context.Context, id string) (*Silence, error) {
	v, err := e.command(ctx, &Command{ExpireSilence: id})
	if err != nil {
		return nil, err
	}
	return v.(*Silence), nil
}

// SetTopology replaces the CMDB the engine binds alerts to, from the next
// batch on; nil for none.
func (e *Engine) SetTopology(t Topology) {
	if t == nil {
		e.topology.Store(nil)
		return
	}
	e.topology.Store(&t)
}

// Topology is the CMDB the engine binds alerts to, nil if none.
func (e *Engine) Topology() Topology {
	if p := e.topology.Load(); p != nil {
		return *p
	}
	if e.topoFn != nil {
		return e.topoFn()
	}
	return nil
}

// Alert returns the alert with fingerprint fp.
func (e *Engine) Alert(fp model.Fingerprint) (*Alert, bool) {
	return AlertIn(e.st.db.Txn(false), fp)
}
