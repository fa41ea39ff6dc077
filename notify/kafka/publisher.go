package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/sift-itsm/sift/correlate"
)

// Envelope is one published change.
type Envelope struct {
	// Type is what changed: "alert" (later "incident", "problem").
	Type string `json:"type"`
	// Kind is the change: for alerts "opened", "updated", "resolved",
	// "expired".
	Kind string `json:"kind"`
	// ID identifies the object and is the message key: an alert's
	// fingerprint.
	ID string `json:"id"`
	// Version is the object's version after the change; it grows with
	// every change of one object.
	Version uint64 `json:"version"`
	// Batch is the engine batch that made the change; it grows with every
	// batch.
	Batch uint64 `json:"batch"`
	// Time is the engine clock when the change was made.
	Time time.Time `json:"time"`
	// Object is the object after the change, as the API shows it.
	Object any `json:"object"`

	// mark is the batch's write-ahead log mark (correlate.Batch.Mark).
	mark uint64
}

// Name is the change name configuration uses: "<type>.<kind>".
func (e *Envelope) Name() string { return e.Type + "." + e.Kind }

// Headers set on every message, so that consumers can filter without
// decoding the value.
const (
	HeaderType = "sift-type"
	HeaderKind = "sift-kind"
)

// Writer is the part of a kafka-go Writer the publisher uses.
type Writer interface {
	WriteMessages(context.Context, ...kafkago.Message) error
	Close() error
}

// Options configures a Publisher.
type Options struct {
	Brokers []string
	Topic   string
	// Changes names the changes to publish ("alert.opened", ...); all of
	// ChangeNames when nil.
	Changes []string
	// QueueCapacity bounds the changes waiting; 10000 when 0.
	QueueCapacity int
	// Transport carries TLS, SASL and the client id; plain TCP when nil.
	Transport *kafkago.Transport
	// Writer replaces the kafka-go writer (tests); Brokers, Topic and
	// Transport are then unused.
	Writer     Writer
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Sleep waits between retries; a timer when nil.
	Sleep func(context.Context, time.Duration) error
	// Durable, when set, is the last write-ahead log mark that is
	// durable (wal.Marks): a change is published only once its batch's
	// mark is, so that a replay after a crash publishes the same
	// envelope again (the same id, version and object), never another
	// one under the same version.
	Durable func() uint64
}

// ChangeNames are the changes the engine makes today.
var ChangeNames = []string{"alert.opened", "alert.updated", "alert.resolved", "alert.expired", "incident.opened", "incident.updated", "problem.opened", "problem.updated"}

// maxBatch bounds the messages written in one round trip.
const maxBatch = 1000

// Publisher is a correlate.Sink that publishes changes to Kafka.
type Publisher struct {
	w       Writer
	logger  *slog.Logger
	sleep   func(context.Context, time.Duration) error
	durable func() uint64
	publish map[string]bool
	queue   chan *Envelope

	produced prometheus.Counter
	errors   prometheus.Counter
	dropped  prometheus.Counter
	length   prometheus.GaugeFunc
}

// New returns a publisher; Run starts publishing.
func New(o Options) (*Publisher, error) {
	if o.Writer == nil && (len(o.Brokers) == 0 || o.Topic == "") {
		return nil, errors.New("no brokers or no topic")
	}
	if o.Changes == nil {
		o.Changes = ChangeNames
	}
	if o.QueueCapacity <= 0 {
		o.QueueCapacity = 10000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	p := &Publisher{w: o.Writer, logger: o.Logger, sleep: o.Sleep, durable: o.Durable, publish: map[string]bool{}, queue: make(chan *Envelope, o.QueueCapacity)}
	for _, c := range o.Changes {
		if !slices.Contains(ChangeNames, c) {
			return nil, fmt.Errorf("unknown change %q (known: %v)", c, ChangeNames)
		}
		p.publish[c] = true
	}
	if p.w == nil {
		tr := o.Transport
		if tr == nil {
			tr = &kafkago.Transport{}
		}
		p.w = &kafkago.Writer{
			Addr:  kafkago.TCP(o.Brokers...),
			Topic: o.Topic,
			// The key picks the partition: one object, one partition.
			Balancer:     &kafkago.Hash{},
			RequiredAcks: kafkago.RequireAll,
			BatchTimeout: time.Millisecond,
			BatchSize:    maxBatch,
			Transport:    tr,
		}
	}
	f := promauto.With(o.Registerer)
	const ns, sub = "sift", "kafka_producer"
	p.produced = f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "messages_total",
		Help: "Changes published to Kafka."})
	p.errors = f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "errors_total",
		Help: "Failed attempts to publish a batch of changes (each is retried)."})
	p.dropped = f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "dropped_changes_total",
		Help: "Changes not published because the queue was full."})
	p.length = f.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "queue_length_changes",
		Help: "Changes waiting to be published."}, func() float64 { return float64(len(p.queue)) })
	f.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "queue_capacity_changes",
		Help: "Changes the publish queue holds at most."}).Set(float64(o.QueueCapacity))
	return p, nil
}

// Consume implements correlate.Sink: it queues the batch's selected
// changes and never blocks; a change that does not fit is dropped and
// counted.
func (p *Publisher) Consume(b *correlate.Batch) {
	for i := range b.Changes {
		e := envelope(b, &b.Changes[i])
		if !p.publish[e.Name()] {
			continue
		}
		e.mark = b.Mark
		select {
		case p.queue <- e:
		default:
			p.dropped.Inc()
		}
	}
}

func envelope(b *correlate.Batch, c *correlate.Change) *Envelope {
	if p := c.Problem; p != nil {
		kind := "updated"
		if c.Kind == correlate.ProblemOpened {
			kind = "opened"
		}
		return &Envelope{Type: "problem", Kind: kind, ID: p.ID(), Version: p.Version, Batch: b.Seq, Time: b.Now.UTC(), Object: p.ToJSON()}
	}
	if inc := c.Incident; inc != nil {
		kind := "updated"
		if c.Kind == correlate.IncidentOpened {
			kind = "opened"
		}
		return &Envelope{Type: "incident", Kind: kind, ID: inc.ID(), Version: inc.Version, Batch: b.Seq, Time: b.Now.UTC(), Object: inc.ToJSON(true)}
	}
	kind := c.Kind.String()
	if c.Expired {
		kind = "expired"
	}
	return &Envelope{
		Type:    "alert",
		Kind:    kind,
		ID:      c.Alert.Fingerprint.String(),
		Version: c.Alert.Version,
		Batch:   b.Seq,
		Time:    b.Now.UTC(),
		Object:  c.Alert,
	}
}

// Run publishes queued changes until ctx is cancelled, then publishes
// what is still queued until drain is done (a failed write is then given
// up, and its changes counted as dropped), and closes the writer.
func (p *Publisher) Run(ctx, drain context.Context) error {
	batch := make([]*Envelope, 0, maxBatch)
	for {
		select {
		case e := <-p.queue:
			batch = p.fill(append(batch[:0], e))
			if !p.waitDurable(drain, batch[len(batch)-1].mark) {
				p.dropped.Add(float64(len(batch)))
				p.logger.Warn("kafka output stopped with changes whose write-ahead log mark is not durable; the next start replays them", "changes", len(batch))
				continue
			}
			p.write(ctx, drain, batch)
		case <-ctx.Done():
			for len(p.queue) > 0 && drain.Err() == nil {
				batch = p.fill(batch[:0])
				if p.waitDurable(drain, batch[len(batch)-1].mark) {
					p.write(drain, drain, batch)
				} else {
					p.dropped.Add(float64(len(batch)))
				}
			}
			if n := len(p.queue); n > 0 {
				p.dropped.Add(float64(n))
				p.logger.Warn("kafka output stopped with changes unpublished", "changes", n)
			}
			return p.w.Close()
		}
	}
}

// markPoll is how often a batch waiting for its mark looks again: marks
// are durable with the log's next group commit, milliseconds away.
const markPoll = 2 * time.Millisecond

// waitDurable waits until mark is durable; false if ctx ended first.
// Marks grow with the queue's order, so the last envelope's covers a
// batch.
func (p *Publisher) waitDurable(ctx context.Context, mark uint64) bool {
	for p.durable != nil && mark > p.durable() {
		if p.sleep(ctx, markPoll) != nil {
			return false
		}
	}
	return true
}

// fill adds what is queued, up to maxBatch, without waiting.
func (p *Publisher) fill(batch []*Envelope) []*Envelope {
	for len(batch) < maxBatch {
		select {
		case e := <-p.queue:
			batch = append(batch, e)
		default:
			return batch
		}
	}
	return batch
}

// write publishes batch, retrying with backoff until it is written or
// drain is done.
func (p *Publisher) write(ctx, drain context.Context, batch []*Envelope) {
	msgs := make([]kafkago.Message, 0, len(batch))
	for _, e := range batch {
		v, err := json.Marshal(e)
		if err != nil {
			// Only a bug makes an object unmarshalable; never block on it.
			p.errors.Inc()
			p.dropped.Inc()
			p.logger.Error("kafka output: cannot encode change", "id", e.ID, "err", err)
			continue
		}
		msgs = append(msgs, kafkago.Message{
			Key:     []byte(e.ID),
			Value:   v,
			Headers: []kafkago.Header{{Key: HeaderType, Value: []byte(e.Type)}, {Key: HeaderKind, Value: []byte(e.Kind)}},
		})
	}
	delay := 10 * time.Millisecond
	for {
		err := p.w.WriteMessages(drain, msgs...)
		if err == nil {
			p.produced.Add(float64(len(msgs)))
			return
		}
		p.errors.Inc()
		p.logger.Warn("kafka output: publishing failed; retrying", "changes", len(msgs), "err", err)
		// While running, retry until it works (the queue absorbs, then
		// drops, what comes meanwhile); at stop, until drain is done.
		wait := drain
		if ctx.Err() == nil {
			wait = ctx
		}
		if p.sleep(wait, delay) != nil && drain.Err() != nil {
			p.dropped.Add(float64(len(msgs)))
			return
		}
		delay = min(2*delay, 5*time.Second)
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
