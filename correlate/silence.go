package correlate

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/sift-itsm/sift/ingest"
)

// Silence mutes alerts whose labels match all its matchers while it is
// active (StartsAt <= t < EndsAt): a silenced alert is kept, with the
// silence as its reason, but joins no incident. A row of the silences
// table; immutable once inserted.
type Silence struct {
	ID        string
	Matchers  labels.Matchers
	StartsAt  time.Time
	EndsAt    time.Time
	CreatedBy string
	Comment   string
	CreatedAt time.Time
	// UpdatedAt is when it was created or expired early.
	UpdatedAt time.Time
}

// Active reports whether the silence mutes at t.
func (s *Silence) Active(t time.Time) bool { return !t.Before(s.StartsAt) && t.Before(s.EndsAt) }

// State is "pending", "active" or "expired" at t, as in Alertmanager.
func (s *Silence) State(t time.Time) string {
	switch {
	case t.Before(s.StartsAt):
		return "pending"
	case t.Before(s.EndsAt):
		return "active"
	}
	return "expired"
}

// Mutes reports whether the silence's matchers all match ls.
func (s *Silence) Mutes(ls ingest.Labels) bool {
	for _, m := range s.Matchers {
		v, _ := ls.Get(m.Name)
		if !m.Matches(v) {
			return false
		}
	}
	return true
}

// Validate checks a silence before the engine takes it.
func (s *Silence) Validate() error {
	switch {
	case len(s.Matchers) == 0:
		return fieldErr("matchers", "at least one matcher is required")
	case s.EndsAt.IsZero():
		return fieldErr("ends_at", "required")
	case !s.EndsAt.After(s.StartsAt):
		return fieldErr("ends_at", "must be after starts_at")
	case s.CreatedBy == "":
		return fieldErr("created_by", "required")
	case s.Comment == "":
		return fieldErr("comment", "required")
	}
	for _, m := range s.Matchers {
		if m.Matches("") && (m.Type == labels.MatchEqual || m.Type == labels.MatchRegexp) && len(s.Matchers) == 1 {
			// As Alertmanager: a silence must not match every alert.
			return fieldErr("matchers", fmt.Sprintf("%s matches the empty value: it would silence every alert without the label", m))
		}
	}
	return nil
}

// FieldError names the field of a bad silence.
type FieldError struct{ Field, Msg string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, msg string) error { return &FieldError{Field: field, Msg: msg} }

// ErrNoSilence is the error of expiring a silence sift does not hold.
var ErrNoSilence = errors.New("no such silence, or it has already ended")

const tableSilences = "silences"

func silenceTable() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableSilences,
		Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
		},
	}
}

// silenceOp is a change to the silences: set a new one, or expire one.
type silenceOp struct {
	set    *Silence
	expire string
}

// silencedBy returns the id of an active silence that mutes ls at t.
func (s *state) silencedBy(ls ingest.Labels, t time.Time) string {
	for _, sil := range s.silences {
		if sil.Active(t) && sil.Mutes(ls) {
			return sil.ID
		}
	}
	return ""
}

// applySilence applies a silence change at now: a new silence mutes alerts
// that fire from then on; an expired one lets the firing alerts it muted
// correlate.
func (s *state) applySilence(op *silenceOp, now time.Time, set *Settings) (*Silence, error) {
	tx := s.db.Txn(true)
	defer tx.Abort()
	if op.set != nil {
		s.silSeq++
		sil := *op.set
		sil.ID = fmt.Sprintf("SIL%07d", s.silSeq)
		sil.CreatedAt, sil.UpdatedAt = now, now
		s.silences = append(s.silences, &sil)
		if err := tx.Insert(tableSilences, &sil); err != nil {
			return nil, err
		}
		tx.Commit()
		return &sil, nil
	}
	for i, sil := range s.silences {
		if sil.ID != op.expire {
			continue
		}
		if !sil.EndsAt.After(now) {
			break // ended, and not yet dropped by the next batch
		}
		n := *sil
		n.EndsAt = now
		if n.StartsAt.After(now) {
			n.StartsAt = now
		}
		n.UpdatedAt = now
		s.silences[i] = &n
		if err := tx.Insert(tableSilences, &n); err != nil {
			return nil, err
		}
		tx.Commit()
		return &n, nil
	}
	return nil, ErrNoSilence
}

// unsilence correlates the firing alerts muted by silences that ended by
// now, unless another silence mutes them. Run at the start of each batch;
// it costs nothing while no silence has ended.
func (s *state) unsilence(tx *lazyTxn, now time.Time, set *Settings, b *Batch) {
	kept := s.silences[:0]
	var ended []*Silence
	for _, sil := range s.silences {
		if sil.EndsAt.After(now) {
			kept = append(kept, sil)
		} else {
			ended = append(ended, sil)
		}
	}
	s.silences = kept
	for _, sil := range ended {
		fps := s.mutedBy[sil.ID]
		delete(s.mutedBy, sil.ID)
		for _, fp := range fps {
			e := s.alerts[fp]
			if e == nil || e.row.Suppressed() != "silence "+sil.ID {
				continue
			}
			n := *e.row
			n.setSuppressed("")
			n.Version++
			if n.Status == ingest.StatusFiring {
				// At the silence's end, not at this batch's clock: the
				// incident is the same whichever batch (an idle tick
				// live, the next record on replay) gets here first.
				ev := ingest.Event{StartsAt: n.StartsAt(), ReceivedAt: sil.EndsAt}
				s.correlate(e, &n, &ev, set)
			}
			e.row = &n
			tx.insert(&n)
			b.Changes = append(b.Changes, Change{Kind: AlertUpdated, Alert: &n})
		}
	}
}
