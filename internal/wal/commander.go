package wal

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sift-itsm/sift/correlate"
)

// Enqueuer is the engine's command queue: correlate.Engine.Enqueue.
type Enqueuer interface {
	Enqueue(*correlate.Command) (*correlate.Pending, error)
}

// Commander is the engine's durable command log (correlate.CommandLog):
// users' actions on incidents, silences, problem updates, change events
// and notification-log records are written to the log, in the same order
// as the events around them, before the engine applies them.
//
// The engine validates a command and stamps it with its clock before it
// calls LogCommand, so a request the API refuses is never logged; one the
// engine's state refuses (an action the incident's state does not allow)
// is logged and refused again on replay, the engine being deterministic.
//
// Order: the command is queued in the engine from the log's writer
// goroutine, in log order (Log.AppendThen), like the Submitter's events;
// the caller then waits for the outcome outside it.
type Commander struct {
	log    *Log
	eng    Enqueuer
	logger *slog.Logger
	count  prometheus.Counter
}

// NewCommander returns a Commander that logs to l and queues in eng.
func NewCommander(l *Log, eng Enqueuer, logger *slog.Logger, reg prometheus.Registerer) *Commander {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Commander{log: l, eng: eng, logger: logger,
		count: promauto.With(reg).NewCounter(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "wal", Name: "commands_total",
			Help: "Commands (incident actions, silences, problem updates, change events, notification records) written to the write-ahead log.",
		}),
	}
}

// LogCommand writes c, waits until it is durable, and queues it in the
// engine. It returns ingest.ErrClosed when the log is closed (nothing was
// written), or when the engine closed after the write: the command is
// then applied at the next start.
func (c *Commander) LogCommand(cmd *correlate.Command) (*correlate.Pending, error) {
	rec, err := AppendCommand(nil, cmd)
	if err != nil {
		return nil, err
	}
	var (
		p    *correlate.Pending
		qErr error
	)
	_, err = c.log.AppendThen([][]byte{Compress(nil, rec)}, func(Pos) { p, qErr = c.eng.Enqueue(cmd) })
	if err != nil {
		return nil, intakeErr(err)
	}
	c.count.Inc()
	if qErr != nil {
		c.logger.Warn("engine closed after a command was logged; it is applied at the next start", "err", qErr)
	}
	return p, qErr
}
