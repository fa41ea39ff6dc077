package correlate

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/sift-itsm/sift/incident"
)

// The notification log: which notification of which incident event went
// to which receiver, kept in the engine state so that it is applied,
// snapshotted and (with the write-ahead log) recovered like everything
// else. The notify package reads it before it sends and records what it
// sent through RecordNotification; a change processed twice, or again
// after a restart, then sends nothing twice.

const tableNotifications = "notifications"

// Notification results.
const (
	// NotificationSent: the receiver took it.
	NotificationSent = "sent"
	// NotificationFailed: every attempt failed; the event may be sent
	// again when it is processed again.
	NotificationFailed = "failed"
	// NotificationHeld: held back (a flapping incident) and never to be
	// sent.
	NotificationHeld = "held"
)

// NotificationKey identifies one notification: an event of an incident
// for one receiver (a receiver's integration, "team/slack"). Occurrence
// tells events of the same kind apart: the notify package numbers them by
// the timeline entry they come from, so the key is the same however often
// and in whichever batches the change is processed.
type NotificationKey struct {
	Receiver   string
	Incident   string
	Event      string
	Occurrence uint64
}

func (k NotificationKey) String() string {
	return fmt.Sprintf("%s %s %s#%d", k.Incident, k.Receiver, k.Event, k.Occurrence)
}

// NotificationRecord is a row of the notification log; immutable once
// inserted.
type NotificationRecord struct {
	NotificationKey
	// Version is the incident version the event was taken from.
	Version uint64
	// Result is NotificationSent, NotificationFailed or NotificationHeld.
	Result string
	// Ticket is the id the receiver's platform gave the incident (a
	// ticketing receiver); stored on the incident's Tickets under
	// Receiver.
	Ticket string
	// Attempts counts the deliveries tried; Error is the last one's error.
	Attempts int
	Error    string
	// At is the engine clock when the record was applied.
	At time.Time
}

// Final reports whether the event needs no further delivery.
func (r *NotificationRecord) Final() bool {
	return r.Result == NotificationSent || r.Result == NotificationHeld
}

// Validate checks a record before the engine takes it.
func (r *NotificationRecord) Validate() error {
	switch {
	case r.Receiver == "":
		return fieldErr("receiver", "required")
	case r.Incident == "":
		return fieldErr("incident", "required")
	case r.Event == "":
		return fieldErr("event", "required")
	}
	switch r.Result {
	case NotificationSent, NotificationFailed, NotificationHeld:
	default:
		return fieldErr("result", fmt.Sprintf("unknown %q", r.Result))
	}
	if _, err := incident.ParseID(r.Incident); err != nil {
		return fieldErr("incident", err.Error())
	}
	return nil
}

// notifyOp is a command on the notification log.
type notifyOp struct {
	record *NotificationRecord
	// prune drops the records of incidents no longer in memory.
	prune bool
}

func notificationsTable() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableNotifications,
		Indexes: map[string]*memdb.IndexSchema{
			// Incident first: a prefix scan finds an incident's records.
			"id": {Name: "id", Unique: true, Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
				&memdb.StringFieldIndex{Field: "Incident"},
				&memdb.StringFieldIndex{Field: "Receiver"},
				&memdb.StringFieldIndex{Field: "Event"},
				&memdb.UintFieldIndex{Field: "Occurrence"},
			}}},
		},
	}
}

// Notification returns the log's record of a notification.
func (e *Engine) Notification(k NotificationKey) (*NotificationRecord, bool) {
	return NotificationIn(e.st.db.Txn(false), k)
}

// NotificationIn returns the log's record of a notification from a read
// transaction.
func NotificationIn(txn *memdb.Txn, k NotificationKey) (*NotificationRecord, bool) {
	raw, err := txn.First(tableNotifications, "id", k.Incident, k.Receiver, k.Event, k.Occurrence)
	if err != nil || raw == nil {
		return nil, false
	}
	return raw.(*NotificationRecord), true
}

// NotificationsOf lists an incident's records, by receiver, event and
// occurrence.
func NotificationsOf(txn *memdb.Txn, id string) []*NotificationRecord {
	it, err := txn.Get(tableNotifications, "id_prefix", id)
	if err != nil {
		return nil
	}
	var out []*NotificationRecord
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if r := raw.(*NotificationRecord); r.Incident == id {
			out = append(out, r)
		}
	}
	return out
}

// RecordNotification records a notification's outcome after everything
// submitted before it. A sent or failed notification is also a timeline
// entry of the incident (a new version), and a ticket id is stored on the
// incident's Tickets. A record of an event already recorded as sent or
// held changes nothing and returns that record. It returns the record as
// stored.
func (e *Engine) RecordNotification(ctx context.Context, r NotificationRecord) (*NotificationRecord, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	v, err := e.command(ctx, &Command{Notification: &r})
	if err != nil {
		return nil, err
	}
	return v.(*NotificationRecord), nil
}

// PruneNotifications drops the records of incidents no longer in memory
// and returns how many it dropped.
func (e *Engine) PruneNotifications(ctx context.Context) (int, error) {
	v, err := e.command(ctx, &Command{PruneNotifications: true})
	if err != nil {
		return 0, err
	}
	return v.(int), nil
}

// applyNotify applies a notification-log command at now in a batch of its
// own, after the timers due by then (as act does).
func (s *state) applyNotify(now time.Time, op *notifyOp, set *Settings) (any, *Batch, error) {
	var (
		v   any
		err error
	)
	b := s.command(now, set, func(tx *lazyTxn, at int64, _ *Batch) {
		if op.prune {
			v, err = s.pruneNotifications(tx)
		} else {
			v, err = s.recordNotification(tx, op.record, now, at)
		}
	})
	return v, b, err
}

func (s *state) recordNotification(tx *lazyTxn, r *NotificationRecord, now time.Time, at int64) (*NotificationRecord, error) {
	txn := tx.open()
	if old, ok := NotificationIn(txn, r.NotificationKey); ok && old.Final() {
		return old, nil
	}
	rec := *r
	rec.At = now
	if err := txn.Insert(tableNotifications, &rec); err != nil {
		return nil, fmt.Errorf("recording notification: %w", err)
	}
	if rec.Result == NotificationHeld {
		return &rec, nil
	}
	seq, _ := incident.ParseID(rec.Incident) // validated
	is := s.incidents[seq]
	if is == nil || is.removed {
		return &rec, nil // gone from memory: the log alone records it
	}
	inc := s.mut(is, at)
	text := "notified " + rec.Receiver + " (" + rec.Event + ")"
	if rec.Result == NotificationFailed {
		text = "notification to " + rec.Receiver + " (" + rec.Event + ") failed: " + rec.Error
	}
	if rec.Ticket != "" && inc.Tickets[rec.Receiver] != rec.Ticket {
		// Versions share the map: copy on write.
		t := maps.Clone(inc.Tickets)
		if t == nil {
			t = map[string]string{}
		}
		t[rec.Receiver] = rec.Ticket
		inc.Tickets = t
		text += ", ticket " + rec.Ticket
	}
	inc.Log(incident.Entry{At: now, Actor: incident.SystemActor, Kind: incident.EntryNotification, Text: text, To: rec.Receiver})
	return &rec, nil
}

func (s *state) pruneNotifications(tx *lazyTxn) (int, error) {
	read := s.db.Txn(false)
	it, err := read.Get(tableNotifications, "id")
	if err != nil {
		return 0, err
	}
	var gone []any
	for raw := it.Next(); raw != nil; raw = it.Next() {
		r := raw.(*NotificationRecord)
		seq, err := incident.ParseID(r.Incident)
		if is := s.incidents[seq]; err != nil || is == nil || is.removed {
			gone = append(gone, r)
		}
	}
	if len(gone) == 0 {
		return 0, nil
	}
	txn := tx.open()
	for _, r := range gone {
		if err := txn.Delete(tableNotifications, r); err != nil {
			return 0, fmt.Errorf("pruning notifications: %w", err)
		}
	}
	return len(gone), nil
}
