package correlate

import (
	"context"
	"errors"
	"time"

	"github.com/sift-itsm/sift/incident"
)

// Command is one of the engine's commands, as the write-ahead log records
// it (internal/wal, record kind "command", this type as JSON): exactly one
// of the fields after At is set. At is the engine clock when the command
// was submitted; the engine applies it then, or at the clock of the batch
// before it if that is later, so that replaying the command applies it as
// it was applied live.
//
// The JSON names (and those of the types inside) are a file format:
// changing them makes older logs unreadable (internal/wal's golden test
// says so).
type Command struct {
	At            time.Time               `json:"at"`
	Action        *incident.Action        `json:"action,omitempty"`
	Silence       *Silence                `json:"silence,omitempty"`
	ExpireSilence string                  `json:"expire_silence,omitempty"`
	Problem       *incident.ProblemUpdate `json:"problem,omitempty"`
	Changes       []ChangeEvent           `json:"changes,omitempty"`
	Notification  *NotificationRecord     `json:"notification,omitempty"`
	// PruneNotifications drops the notification-log records of
	// incidents no longer in memory.
	PruneNotifications bool `json:"prune_notifications,omitempty"`
}

var errEmptyCommand = errors.New("empty command")

// CommandLog makes the engine's commands durable: the write-ahead log's
// commander (internal/wal). LogCommand writes c (validated, At set) and,
// once it is durable, in log order, queues it with Engine.Enqueue and
// returns what Enqueue returned. It must not wait for the outcome: the
// engine does, outside the log's ordering. An error means c was not
// queued; if it was written, it is applied at the next start.
type CommandLog interface {
	LogCommand(c *Command) (*Pending, error)
}

// SetCommandLog routes every command (Act, UpdateProblem, AddChanges,
// AddSilence, ExpireSilence, RecordNotification, PruneNotifications)
// through l: validated first (a refused request is never logged), then
// logged, then applied. Call it before Run and before any command.
func (e *Engine) SetCommandLog(l CommandLog) { e.cmdLog = l }

// Now is a reading of the engine clock (Options.Now).
func (e *Engine) Now() time.Time { return e.now() }

// Pending is a queued command's outcome.
type Pending struct{ reply chan commandResult }

// Wait returns the command's outcome once the engine applied it, or
// ctx's error (the command is applied all the same).
func (p *Pending) Wait(ctx context.Context) (any, error) {
	select {
	case r := <-p.reply:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Enqueue queues c after everything submitted before it, without
// validating it: the command log calls it with commands the engine
// validated before they were logged. It blocks only while the queue has
// no free slot (the engine drains it); after Close it returns
// ingest.ErrClosed.
func (e *Engine) Enqueue(c *Command) (*Pending, error) {
	return e.enqueue(context.Background(), c)
}

// ReplayCommand applies a logged command on the caller's goroutine, as
// Enqueue would have had it applied, and hands its batch to the sinks. It
// returns the command's outcome: an action the incident refused live (a
// *incident.TransitionError, ErrNoIncident) is refused again. Recovery
// calls it; only before Run.
func (e *Engine) ReplayCommand(c *Command) (any, error) {
	v, _, err := e.execute(c, nil, time.Time{}, markFor{records: 1, command: true})
	return v, err
}
