package notify

import (
	"context"
	"log/slog"
	"time"

	"github.com/sift-itsm/sift/correlate"
)

// worker delivers one integration's notifications, one at a time and in
// order, so that a ticket is created before it is updated; every
// integration has its own, so a slow or failing one delays only itself.
type worker struct {
	n       *Notifier
	r       Receiver
	in      NamedIntegration
	name    string
	queue   chan delivery
	limiter bucket
	logger  *slog.Logger // with the integration's name
	// tickets are the tickets this integration filed, by incident seq:
	// the record that stores them on the incident lands later. Owned by
	// run.
	tickets map[uint64]string
}

type delivery struct {
	m    *Message
	key  correlate.NotificationKey
	held bool
}

func newWorker(n *Notifier, r Receiver, in NamedIntegration, name string) *worker {
	if r.QueueCapacity <= 0 {
		r.QueueCapacity = 1000
	}
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = 1
	}
	if r.Timeout <= 0 {
		r.Timeout = 10 * time.Second
	}
	return &worker{
		n: n, r: r, in: in, name: name,
		queue:   make(chan delivery, r.QueueCapacity),
		limiter: bucket{rate: r.RatePerSecond, burst: float64(max(r.Burst, 1))},
		tickets: map[uint64]string{},
		logger:  n.opts.Logger.With("integration", name),
	}
}

// offer queues a notification unless the log or the queue already has
// it; it never blocks.
func (w *worker) offer(m *Message, held bool) {
	key := correlate.NotificationKey{Receiver: w.name, Incident: m.Incident.ID(), Event: m.Event.String(), Occurrence: m.Occurrence.Occurrence}
	if !w.n.claim(key) {
		w.count(m.Event, ResultDeduplicated)
		return
	}
	select {
	case w.queue <- delivery{m: m, key: key, held: held}:
	default:
		w.n.release(key)
		w.count(m.Event, ResultDropped)
		w.logger.Warn("notification dropped: the integration's queue is full", "incident", key.Incident, "event", key.Event)
	}
}

func (w *worker) count(ev Event, result string) {
	w.n.m.notifications.WithLabelValues(w.r.Name, w.in.Type, ev.String(), result).Inc()
}

// run delivers until the queue is closed and empty, or ctx is done
// (what is left is dropped).
func (w *worker) run(ctx context.Context) {
	for d := range w.queue {
		if ctx.Err() != nil {
			w.count(d.m.Event, ResultDropped)
			w.n.release(d.key)
			continue
		}
		if d.held {
			w.record(ctx, d, correlate.NotificationHeld, "", 0, nil)
			w.count(d.m.Event, ResultHeld)
			continue
		}
		w.deliver(ctx, d)
	}
}

func (w *worker) deliver(ctx context.Context, d delivery) {
	m := d.m
	seq := m.Incident.Seq
	m.Ticket = w.tickets[seq]
	if m.Ticket == "" {
		m.Ticket = m.Incident.Tickets[w.name]
	}
	if m.Ticket == "" {
		// The version the event came from may predate the record that
		// stored the ticket (a restart): look at the newest.
		if cur := w.n.opts.Incident(m.Incident.ID()); cur != nil {
			m.Ticket = cur.Tickets[w.name]
		}
	}
	var (
		ticket string
		err    error
		n      int
	)
	for n = 1; ; n++ {
		if wait := w.limiter.take(w.n.opts.Now()); wait > 0 {
			if serr := w.n.opts.Sleep(ctx, wait); serr != nil {
				if err == nil {
					err = serr // stopped before the first attempt
				}
				break
			}
		}
		actx, cancel := context.WithTimeout(ctx, w.r.Timeout)
		start := w.n.opts.Now()
		var t string
		t, err = w.in.Notify(actx, m)
		cancel()
		if t != "" {
			// Kept even when the attempt failed after filing it: a
			// retry updates that ticket rather than file another.
			ticket, m.Ticket, w.tickets[seq] = t, t, t
		}
		w.n.m.latency.WithLabelValues(w.r.Name, w.in.Type).Observe(w.n.opts.Now().Sub(start).Seconds())
		if err == nil || !Retryable(err) || n >= w.r.MaxAttempts || ctx.Err() != nil {
			break
		}
		w.n.m.retries.WithLabelValues(w.r.Name, w.in.Type).Inc()
		wait := backoff(n, w.r.InitialBackoff, w.r.MaxBackoff, w.n.opts.Rand())
		w.logger.Debug("notification failed; retrying", "incident", d.key.Incident, "event", d.key.Event, "attempt", n, "wait", wait, "err", err)
		if w.n.opts.Sleep(ctx, wait) != nil {
			break
		}
	}
	if err != nil {
		w.logger.Warn("notification failed", "incident", d.key.Incident, "event", d.key.Event, "attempts", n, "err", err)
		w.count(m.Event, ResultFailed)
		w.record(ctx, d, correlate.NotificationFailed, ticket, n, err)
		return
	}
	if m.Event == EventClosed {
		delete(w.tickets, seq)
	}
	w.count(m.Event, ResultSent)
	w.record(ctx, d, correlate.NotificationSent, ticket, n, nil)
}

// record writes the outcome to the notification log and then releases
// the key: from then on the log answers for it.
func (w *worker) record(ctx context.Context, d delivery, result, ticket string, attempts int, err error) {
	defer w.n.release(d.key)
	r := correlate.NotificationRecord{NotificationKey: d.key, Version: d.m.Incident.Version, Result: result, Ticket: ticket, Attempts: attempts}
	if err != nil {
		r.Error = err.Error()
	}
	if _, rerr := w.n.opts.Log.RecordNotification(ctx, r); rerr != nil {
		w.n.m.unrecorded.Inc()
		w.logger.Warn("notification outcome not recorded; it may be sent again after a restart", "incident", d.key.Incident, "event", d.key.Event, "result", result, "err", rerr)
	}
}

// backoff is the wait after attempt n (from 1): initial doubled per
// attempt up to max, the upper half of it jittered by r in [0, 1).
func backoff(n int, initial, maxWait time.Duration, r float64) time.Duration {
	d := initial
	for i := 1; i < n && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	return d/2 + time.Duration(r*float64(d/2))
}

// bucket is a token bucket on an injected clock: rate tokens a second,
// burst at most. take reserves a token and says how long to wait for it.
type bucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func (b *bucket) take(now time.Time) time.Duration {
	if b.rate <= 0 {
		return 0
	}
	if b.last.IsZero() {
		b.tokens = b.burst
	} else if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(b.burst, b.tokens+el*b.rate)
	}
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}
