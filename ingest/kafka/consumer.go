package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/sift-itsm/sift/ingest"
)

// Engine is what the consumer needs of the engine (correlate.Engine):
// Submit never blocks and takes all the events or refuses them with
// ingest.ErrQueueFull; Flush returns once everything submitted before it is
// applied.
type Engine interface {
	Submit([]ingest.Event) error
	Flush(context.Context) error
}

// queue is implemented by an Engine that tells how full it is; the
// consumer then waits for room instead of being refused, so that the
// engine's drop counter counts only real drops (HTTP 503s).
type queue interface {
	QueueLength() int
	QueueCapacity() int
}

// Log makes the consumer's events durable: the write-ahead log's
// Submitter (internal/wal, through internal/app). With a Log the consumer
// submits through it and commits an offset once the log holds the events
// up to it (not once the engine applied them), and a partition resumes
// after the last offset the log holds when that is past the committed one.
type Log interface {
	// SubmitLogged writes events with, per partition, the offset of the
	// last message they come from (last may hold partitions whose
	// messages gave no events: dead letters), waits until the record is
	// durable and queues the events in the engine. ingest.ErrQueueFull:
	// nothing was written, the queue has no room yet.
	SubmitLogged(events []ingest.Event, last []Offset) error
	// LastLogged is the last offset of a partition the log holds.
	LastLogged(topic string, partition int) (int64, bool)
}

// Offset is a message's place: its topic, partition and offset.
type Offset struct {
	Topic     string
	Partition int
	Offset    int64
}

// Topic is one consumed topic and the wire format of its messages.
type Topic struct {
	Name   string
	Format ingest.Source
}

// Options configures a Consumer.
type Options struct {
	Brokers  []string
	GroupID  string
	ClientID string
	Topics   []Topic
	// DeadLetterTopic receives undecodable messages; empty means they are
	// counted, logged and skipped.
	DeadLetterTopic string
	// Dialer carries TLS and SASL for the consumer (ClientID overrides
	// its client id); Transport the same for the dead-letter writer,
	// client id included. Plain TCP when nil.
	Dialer    *kafkago.Dialer
	Transport *kafkago.Transport

	Engine Engine
	// Log, when set, makes the events durable before their offsets are
	// committed (see Log); Engine then still tells the queue's room.
	Log        Log
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now stamps ReceivedAt on decoded events; time.Now when nil.
	Now func() time.Time

	// DecodeWorkers decode in parallel; GOMAXPROCS when 0.
	DecodeWorkers int
	// CommitInterval is how often applied offsets are committed; 1s when 0.
	CommitInterval time.Duration
	// StopTimeout bounds the drain at stop: submitting what was fetched
	// and the final commit. 30s when 0.
	StopTimeout time.Duration

	// Group timings passed to kafka-go; its defaults when 0. Tests shorten
	// them so that rebalances take milliseconds, not seconds.
	HeartbeatInterval time.Duration
	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
	// MaxWait is how long a fetch waits on the broker for new messages.
	MaxWait time.Duration
}

// Consumer reads the configured topics as a member of a consumer group,
// decodes each message with its topic's parser and submits the events to
// the engine, committing offsets at least once: an offset is committed only
// after the engine has applied every event up to it, or, with a Log, once
// the log holds them.
//
// # Concurrency
//
// Run owns a pipeline of goroutines: one fetches, DecodeWorkers decode,
// one submits in fetch order (so a partition's events reach the engine in
// partition order), and one commits every CommitInterval. Commit may also
// be called from any goroutine; commits are serialised.
type Consumer struct {
	o      Options
	logger *slog.Logger
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	group  kafkago.ConsumerGroupConfig
	reader kafkago.ReaderConfig // per partition: Topic and Partition set at use
	dlq    messageWriter
	topics map[string]*topicState
	m      *metrics

	mu      sync.Mutex // guards applied and gen
	applied map[partition]position
	// gen is the current group generation: positions of older ones are
	// not kept after a failed commit (their partitions may be another
	// member's now).
	gen *kafkago.Generation
	// commitMu serialises commits, so that an older position can never
	// overwrite a newer one.
	commitMu sync.Mutex
}

// messageWriter is the part of a kafka-go Writer the consumer uses.
type messageWriter interface {
	WriteMessages(context.Context, ...kafkago.Message) error
	Close() error
}

type partition struct {
	topic string
	id    int
}

// position is the last message of a partition whose events were
// submitted, and the generation it was fetched in.
type position struct {
	offset int64
	gen    *kafkago.Generation
}

type topicState struct {
	format ingest.Source
	decode decoder
	m      *topicMetrics
}

// maxSubmit bounds the events gathered from consecutive messages into one
// engine submission.
const maxSubmit = 8192

// New validates o and returns a consumer; Run starts it. It does not
// connect: a broker that is down is retried by Run, not an error here.
func New(o Options) (*Consumer, error) {
	if len(o.Brokers) == 0 {
		return nil, errors.New("no brokers")
	}
	if o.GroupID == "" {
		return nil, errors.New("no group id")
	}
	if len(o.Topics) == 0 {
		return nil, errors.New("no topics")
	}
	if o.Engine == nil {
		return nil, errors.New("no engine")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DecodeWorkers <= 0 {
		o.DecodeWorkers = runtime.GOMAXPROCS(0)
	}
	if o.CommitInterval <= 0 {
		o.CommitInterval = time.Second
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 30 * time.Second
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 500 * time.Millisecond
	}
	c := &Consumer{
		o:       o,
		logger:  o.Logger,
		now:     o.Now,
		sleep:   sleep,
		topics:  map[string]*topicState{},
		m:       newMetrics(o.Registerer),
		applied: map[partition]position{},
	}
	names := make([]string, 0, len(o.Topics))
	for _, t := range o.Topics {
		dec, ok := decoderFor(t.Format)
		if !ok {
			return nil, fmt.Errorf("topic %q: unknown format %q", t.Name, t.Format)
		}
		if _, dup := c.topics[t.Name]; dup {
			return nil, fmt.Errorf("topic %q is listed twice", t.Name)
		}
		c.topics[t.Name] = &topicState{format: t.Format, decode: dec, m: c.m.forTopic(t.Name)}
		names = append(names, t.Name)
	}
	dialer := o.Dialer
	if dialer == nil {
		dialer = &kafkago.Dialer{Timeout: 10 * time.Second, DualStack: true}
	}
	if o.ClientID != "" {
		d := *dialer
		d.ClientID = o.ClientID
		dialer = &d
	}
	logger := kafkago.LoggerFunc(func(msg string, args ...any) {
		if o.Logger.Enabled(context.Background(), slog.LevelDebug) {
			o.Logger.Debug(fmt.Sprintf(msg, args...))
		}
	})
	errLogger := kafkago.LoggerFunc(func(msg string, args ...any) {
		o.Logger.Warn(fmt.Sprintf(msg, args...))
	})
	c.group = kafkago.ConsumerGroupConfig{
		ID:      o.GroupID,
		Brokers: o.Brokers,
		Dialer:  dialer,
		Topics:  names,
		// A new group starts at the oldest message: at-least-once
		// includes what was produced before siftd first joined.
		StartOffset:           kafkago.FirstOffset,
		WatchPartitionChanges: true,
		HeartbeatInterval:     o.HeartbeatInterval,
		SessionTimeout:        o.SessionTimeout,
		RebalanceTimeout:      o.RebalanceTimeout,
		JoinGroupBackoff:      min(max(o.HeartbeatInterval, 100*time.Millisecond)*2, 5*time.Second),
		Logger:                logger,
		ErrorLogger:           errLogger,
	}
	c.reader = kafkago.ReaderConfig{
		Brokers:       o.Brokers,
		Dialer:        dialer,
		MaxWait:       o.MaxWait,
		MaxBytes:      16 << 20,
		QueueCapacity: 1000,
		Logger:        logger,
		ErrorLogger:   errLogger,
	}
	if o.DeadLetterTopic != "" {
		tr := o.Transport
		if tr == nil {
			tr = &kafkago.Transport{ClientID: o.ClientID}
		}
		c.dlq = &kafkago.Writer{
			Addr:         kafkago.TCP(o.Brokers...),
			Topic:        o.DeadLetterTopic,
			Balancer:     &kafkago.Hash{},
			RequiredAcks: kafkago.RequireAll,
			// Dead letters are written one at a time and waited for:
			// do not hold them for a batch.
			BatchTimeout: time.Millisecond,
			Transport:    tr,
		}
	}
	return c, nil
}

// SetLog makes the consumer submit through l (Options.Log). Call it
// before Run.
func (c *Consumer) SetLog(l Log) { c.o.Log = l }

// job is one fetched message on its way through the pipeline, or a marker.
type job struct {
	msg    kafkago.Message
	gen    *kafkago.Generation
	topic  *topicState
	events []ingest.Event
	err    error
	done   chan struct{} // closed when decoded
	// reached, on a marker (no message), is closed when the submitter
	// reaches it: every job queued before it has been handled.
	reached chan struct{}
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Run consumes until ctx is cancelled, then stops in order: stop fetching,
// submit what was already fetched, wait for the engine to apply it, commit
// its offsets, leave the group. After a clean stop nothing is lost and
// nothing is applied twice on the next start. The drain is bounded by
// Options.StopTimeout.
//
// Each generation of the group (the partitions assigned to this member
// between two rebalances) runs one fetcher per partition. When the
// generation ends, each fetcher drains its partition the same way before
// the member rejoins, so a partition changes hands with its offset
// committed up to what this member applied.
func (c *Consumer) Run(ctx context.Context) error {
	// Work goes on past ctx, to drain, until the stop timeout.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopDrain := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(c.o.StopTimeout, cancelWork)
		context.AfterFunc(workCtx, func() { t.Stop() })
	})
	defer stopDrain()
	fetchCtx, cancelFetch := context.WithCancel(ctx)
	defer cancelFetch()

	cg, err := kafkago.NewConsumerGroup(c.group)
	if err != nil {
		return fmt.Errorf("kafka consumer group: %w", err)
	}
	work := make(chan *job, 4*c.o.DecodeWorkers)
	order := make(chan *job, 256)
	var decoders sync.WaitGroup
	for range c.o.DecodeWorkers {
		decoders.Go(func() {
			for j := range work {
				j.events, j.err = j.topic.decode(&j.msg, c.now())
				close(j.done)
			}
		})
	}
	submitErr := make(chan error, 1)
	go func() { submitErr <- c.submitLoop(workCtx, order, cancelFetch) }()
	commitDone := make(chan struct{})
	go func() {
		defer close(commitDone)
		c.commitLoop(fetchCtx)
	}()

	c.logger.Info("kafka consumer started", "brokers", c.o.Brokers, "group", c.o.GroupID, "topics", len(c.topics))
	var fetchers sync.WaitGroup
	for {
		gen, err := cg.Next(fetchCtx)
		if err != nil {
			if fetchCtx.Err() != nil {
				break
			}
			// kafka-go backs off and rejoins by itself.
			c.logger.Warn("kafka consumer group: no generation yet; retrying", "err", err)
			continue
		}
		c.mu.Lock()
		c.gen = gen
		c.mu.Unlock()
		n := 0
		for topic, as := range gen.Assignments {
			t := c.topics[topic]
			for _, a := range as {
				n++
				fetchers.Add(1)
				gen.Start(func(genCtx context.Context) {
					defer fetchers.Done()
					c.fetchPartition(fetchCtx, workCtx, genCtx, gen, t, topic, a, work, order)
				})
			}
		}
		c.m.assigned.Set(float64(n))
		c.logger.Info("kafka consumer group generation", "generation", gen.ID, "partitions", n)
	}
	fetchers.Wait()
	errLeave := cg.Close()
	close(work)
	close(order)
	decoders.Wait()
	errSubmit := <-submitErr
	<-commitDone
	errCommit := c.Commit(workCtx)
	errs := []error{errSubmit, errCommit, errLeave}
	if c.dlq != nil {
		errs = append(errs, c.dlq.Close())
	}
	c.logger.Info("kafka consumer stopped")
	return errors.Join(errs...)
}

// fetchPartition feeds one partition's messages to the decoders and, in
// the same order, to the submitter, until the generation ends or the
// consumer stops. Then it waits until the submitter has handled them, and
// commits.
func (c *Consumer) fetchPartition(runCtx, workCtx, genCtx context.Context, gen *kafkago.Generation, t *topicState, topic string,
	a kafkago.PartitionAssignment, work, order chan<- *job) {
	ctx, cancel := context.WithCancel(runCtx)
	defer cancel()
	defer context.AfterFunc(genCtx, cancel)()

	rc := c.reader
	rc.Topic, rc.Partition = topic, a.ID
	r := kafkago.NewReader(rc)
	offset := c.resumeAt(gen, topic, a)
	if err := r.SetOffset(offset); err != nil {
		c.logger.Error("kafka partition: cannot set offset", "topic", topic, "partition", a.ID, "offset", offset, "err", err)
	}
	lag := c.m.lagGauge(topic, a.ID)
	delay := minBackoff
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			// kafka-go retries broker errors itself and reports them
			// here too; keep going.
			c.logger.Warn("kafka fetch failed; retrying", "topic", topic, "partition", a.ID, "err", err)
			if c.sleep(ctx, delay) != nil {
				break
			}
			delay = min(2*delay, maxFetchBackoff)
			continue
		}
		delay = minBackoff
		t.m.messages.Inc()
		t.m.bytes.Add(float64(len(m.Value)))
		lag.Set(float64(max(m.HighWaterMark-m.Offset-1, 0)))
		j := &job{msg: m, gen: gen, topic: t, done: make(chan struct{})}
		// The submitter waits for j.done, so j goes to the decoders
		// whatever happens after it was queued.
		order <- j
		work <- j
	}
	_ = r.Close()
	// Hand over: everything fetched from this partition is submitted,
	// applied and committed in this generation, which the coordinator
	// still accepts until this member rejoins.
	marker := &job{done: closedChan, reached: make(chan struct{})}
	order <- marker
	<-marker.reached
	if err := c.Commit(workCtx); err != nil {
		c.logger.Warn("kafka offset commit at partition hand-over failed; the uncommitted messages will be consumed again", "topic", topic, "partition", a.ID, "err", err)
	}
}

// resumeAt is where a partition assigned in gen is read from: its
// committed offset (a.Offset; negative when the group has none), or,
// with a Log, the message after the last one the log holds if that is
// further: those were logged (and will be replayed, or were) but their
// offsets not committed before the stop. The logged offset is then
// committed with the next commit, so that the group's offsets catch up.
func (c *Consumer) resumeAt(gen *kafkago.Generation, topic string, a kafkago.PartitionAssignment) int64 {
	if c.o.Log == nil {
		return a.Offset
	}
	last, ok := c.o.Log.LastLogged(topic, a.ID)
	if !ok || last < a.Offset {
		return a.Offset
	}
	c.m.resumedFromLog.Inc()
	c.logger.Info("kafka partition resumes after the write-ahead log's last offset, past the committed one",
		"topic", topic, "partition", a.ID, "committed", a.Offset, "logged", last)
	c.mu.Lock()
	p := partition{topic, a.ID}
	if cur, ok := c.applied[p]; !ok || cur.offset < last {
		c.applied[p] = position{last, gen}
	}
	c.mu.Unlock()
	return last + 1
}

// submitLoop submits decoded events to the engine in fetch order, a few
// messages at a time, and records their positions for the next commit.
// After a failure it drains the pipeline without submitting and returns
// the error; the positions after the failure are never committed.
func (c *Consumer) submitLoop(ctx context.Context, order <-chan *job, stopFetching func()) error {
	var (
		failed  error
		batch   []*job
		markers []*job
	)
	for first := range order {
		<-first.done
		batch, markers = batch[:0], markers[:0]
		n := 0
		add := func(j *job) {
			if j.reached != nil {
				markers = append(markers, j)
				return
			}
			batch = append(batch, j)
			n += len(j.events)
		}
		add(first)
	gather:
		for n < maxSubmit && len(markers) == 0 {
			select {
			case j, ok := <-order:
				if !ok {
					break gather
				}
				<-j.done
				add(j)
			default:
				break gather
			}
		}
		if failed == nil && len(batch) > 0 {
			if err := c.submitBatch(ctx, batch, n); err != nil {
				failed = err
				stopFetching()
				c.logger.Error("kafka consumer stopped submitting; uncommitted messages will be consumed again", "err", err)
			}
		}
		for _, m := range markers {
			close(m.reached)
		}
	}
	return failed
}

func (c *Consumer) submitBatch(ctx context.Context, batch []*job, n int) error {
	var events []ingest.Event
	for _, j := range batch {
		if j.err != nil {
			if err := c.deadLetter(ctx, j); err != nil {
				return err
			}
			continue
		}
		if len(batch) == 1 || events == nil && len(j.events) == n {
			events = j.events // the only events of the batch: no copy
			continue
		}
		if events == nil {
			events = make([]ingest.Event, 0, n)
		}
		events = append(events, j.events...)
	}
	var last []Offset
	if c.o.Log != nil {
		// The batch is in fetch order: a partition's last job has its
		// highest offset.
		at := map[partition]int{}
		for _, j := range batch {
			p := partition{j.msg.Topic, j.msg.Partition}
			if i, ok := at[p]; ok {
				last[i].Offset = j.msg.Offset
				continue
			}
			at[p] = len(last)
			last = append(last, Offset{Topic: p.topic, Partition: p.id, Offset: j.msg.Offset})
		}
	}
	if err := c.submit(ctx, events, last); err != nil {
		return err
	}
	c.mu.Lock()
	for _, j := range batch {
		c.applied[partition{j.msg.Topic, j.msg.Partition}] = position{j.msg.Offset, j.gen}
	}
	c.mu.Unlock()
	for _, j := range batch {
		j.topic.m.events.Add(float64(len(j.events)))
	}
	return nil
}

const (
	minBackoff      = time.Millisecond
	maxSubmitWait   = 50 * time.Millisecond
	maxFetchBackoff = 5 * time.Second
)

// submit hands events to the engine, or with a Log to the log with the
// offsets of their messages (last), waiting with backoff while the queue
// is full: never dropped, since their offsets are not committed until the
// engine applied them or the log holds them. A batch larger than the
// whole queue goes in parts, the offsets with the last (a stop between
// the parts consumes the batch's messages again: at least once).
func (c *Consumer) submit(ctx context.Context, events []ingest.Event, last []Offset) error {
	q, hasQueue := c.o.Engine.(queue)
	for first := true; first || len(events) > 0; first = false {
		chunk := events
		if hasQueue {
			chunk = events[:min(len(events), max(q.QueueCapacity(), 1))]
		}
		var offsets []Offset
		if len(chunk) == len(events) {
			offsets = last
		}
		delay := minBackoff
		for {
			if !hasQueue || q.QueueLength()+len(chunk) <= q.QueueCapacity() {
				err := c.send(chunk, offsets)
				if err == nil {
					break
				}
				if !errors.Is(err, ingest.ErrQueueFull) {
					return err
				}
			}
			c.m.submitRetries.Inc()
			if err := c.sleep(ctx, delay); err != nil {
				return err
			}
			delay = min(2*delay, maxSubmitWait)
		}
		events = events[len(chunk):]
	}
	return nil
}

// send submits one part of a batch to the log or the engine.
func (c *Consumer) send(events []ingest.Event, last []Offset) error {
	switch {
	case len(events) == 0 && len(last) == 0:
		return nil
	case c.o.Log != nil:
		return c.o.Log.SubmitLogged(events, last)
	}
	return c.o.Engine.Submit(events)
}

// deadLetter counts an undecodable message and writes it, with headers
// naming the error and where it came from, to the dead-letter topic,
// retrying until it is written: its offset is committed only after.
func (c *Consumer) deadLetter(ctx context.Context, j *job) error {
	j.topic.m.decodeErrors.Inc()
	m := &j.msg
	if c.dlq == nil {
		c.logger.Warn("kafka message failed to decode; skipped (no dead_letter_topic)",
			"topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", j.err)
		return nil
	}
	dead := kafkago.Message{
		Key:   m.Key,
		Value: m.Value,
		Headers: append(append(make([]kafkago.Header, 0, len(m.Headers)+5), m.Headers...),
			kafkago.Header{Key: HeaderError, Value: []byte(j.err.Error())},
			kafkago.Header{Key: HeaderFormat, Value: []byte(j.topic.format)},
			kafkago.Header{Key: HeaderTopic, Value: []byte(m.Topic)},
			kafkago.Header{Key: HeaderPartition, Value: []byte(strconv.Itoa(m.Partition))},
			kafkago.Header{Key: HeaderOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
		),
	}
	delay := 10 * time.Millisecond
	for {
		err := c.dlq.WriteMessages(ctx, dead)
		if err == nil {
			j.topic.m.deadLetters.Inc()
			c.logger.Debug("kafka message failed to decode; sent to the dead-letter topic",
				"topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", j.err)
			return nil
		}
		c.m.deadLetterErr.Inc()
		c.logger.Warn("writing to the dead-letter topic failed; retrying", "topic", c.o.DeadLetterTopic, "err", err)
		if err := c.sleep(ctx, delay); err != nil {
			return fmt.Errorf("writing to dead-letter topic %q: %w", c.o.DeadLetterTopic, err)
		}
		delay = min(2*delay, maxFetchBackoff)
	}
}

// Headers added to a dead letter; its original headers come first.
const (
	HeaderError     = "sift-error"
	HeaderFormat    = "sift-format"
	HeaderTopic     = "sift-source-topic"
	HeaderPartition = "sift-source-partition"
	HeaderOffset    = "sift-source-offset"
)

func (c *Consumer) commitLoop(ctx context.Context) {
	t := time.NewTicker(c.o.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Commit(ctx); err != nil && ctx.Err() == nil {
				c.logger.Warn("kafka offset commit failed; retrying at the next interval", "err", err)
			}
		}
	}
}

// Commit waits until the engine has applied every event submitted so far
// (with a Log, they are in the log already: no wait), then commits the
// offsets of their messages, each in the generation it was fetched in:
// the coordinator refuses a generation that has ended, so an old position
// never overwrites a new owner's. On failure the current generation's
// offsets stay pending for the next commit.
func (c *Consumer) Commit(ctx context.Context) error {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	c.mu.Lock()
	if len(c.applied) == 0 {
		c.mu.Unlock()
		return nil
	}
	taken := c.applied
	c.applied = make(map[partition]position, len(taken))
	c.mu.Unlock()

	start := time.Now()
	if c.o.Log == nil {
		if err := c.o.Engine.Flush(ctx); err != nil {
			c.restore(taken)
			return fmt.Errorf("waiting for the engine: %w", err)
		}
	}
	byGen := map[*kafkago.Generation]map[string]map[int]int64{}
	for p, pos := range taken {
		g := byGen[pos.gen]
		if g == nil {
			g = map[string]map[int]int64{}
			byGen[pos.gen] = g
		}
		if g[p.topic] == nil {
			g[p.topic] = map[int]int64{}
		}
		g[p.topic][p.id] = pos.offset + 1
	}
	var errs []error
	for gen, offsets := range byGen {
		err := gen.CommitOffsets(offsets)
		if err != nil {
			c.m.commitErrors.Inc()
			errs = append(errs, fmt.Errorf("committing offsets of generation %d: %w", gen.ID, err))
		}
		for p, pos := range taken {
			if pos.gen == gen && err == nil {
				delete(taken, p)
			}
		}
	}
	if len(errs) > 0 {
		c.restore(taken)
		return errors.Join(errs...)
	}
	c.m.commitTime.Observe(time.Since(start).Seconds())
	return nil
}

// restore puts back positions whose commit failed, unless a newer one was
// recorded since or their generation is over.
func (c *Consumer) restore(taken map[partition]position) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, pos := range taken {
		if pos.gen != c.gen {
			continue
		}
		if cur, ok := c.applied[p]; !ok || cur.offset < pos.offset {
			c.applied[p] = pos
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
