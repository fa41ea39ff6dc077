package history

import (
	"fmt"
	"math"
	"time"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
)

// EventID identifies an event row: the writer run (its start time, Unix
// nanoseconds, so ids stay unique across restarts), the engine batch
// sequence and the event's index in that batch. It is deterministic for a
// given batch, so a re-sent batch collapses onto its first copy.
type EventID struct {
	Run uint64
	Seq uint64
	Idx uint32
}

func (id EventID) String() string { return fmt.Sprintf("%x-%x-%x", id.Run, id.Seq, id.Idx) }

// EventRow is one row of the events table: one accepted event.
type EventRow struct {
	ID          EventID
	Fingerprint uint64
	// Times are Unix nanoseconds; 0 when the source gave none.
	ReceivedNs   int64
	EventNs      int64 // the event's time: its start, never after receipt
	StartsNs     int64
	EndsNs       int64
	Source       string
	Producer     string
	Status       ingest.Status
	Severity     ingest.Severity
	RawSeverity  string
	Labels       ingest.Labels
	Annotations  ingest.Labels
	GeneratorURL string
	Acknowledge  bool
	// IncidentID is the incident the alert was in when the writer
	// batched the event; empty for none.
	IncidentID string
}

// AlertStateRow is one row of alert_states: an alert as it was after one
// change.
type AlertStateRow struct {
	Run          uint64
	Seq          uint64
	ChangedNs    int64 // the engine clock of the batch
	Fingerprint  uint64
	Version      uint64
	Kind         correlate.ChangeKind
	Expired      bool
	Status       ingest.Status
	Severity     ingest.Severity
	RawSeverity  string
	Source       string
	Producer     string
	GeneratorURL string
	Acknowledged bool
	Labels       ingest.Labels
	Annotations  ingest.Labels
	FirstSeenNs  int64
	StartsNs     int64
	EndsNs       int64
	ResolvedNs   int64
	LastSeenNs   int64
	Count        uint64
	IncidentID   string
}

// IncidentRow is one version of an incident. The incident package fills
// it; the table keeps the highest Version per ID.
type IncidentRow struct {
	ID                string
	Version           uint64
	UpdatedNs         int64
	OpenedNs          int64
	State             uint8 // 1 new .. 6 closed, as the table's enum
	Priority          uint8 // 1..5
	Impact            uint8
	Urgency           uint8
	Title             string
	Rule              string
	GroupKey          string
	Signature         string
	ProblemID         string
	CIIDs             []string
	ProbableCauseCI   string
	Services          []string
	SupportGroup      string
	Assignee          string
	AlertFingerprints []uint64
	Severity          ingest.Severity
	AcknowledgedNs    int64
	ResolvedNs        int64
	ClosedNs          int64
	RespondDueNs      int64
	ResolveDueNs      int64
	RespondBreached   bool
	ResolveBreached   bool
	Labels            ingest.Labels
}

// TimelineRow is one incident timeline entry; (IncidentID, Entry) is its
// identity.
type TimelineRow struct {
	IncidentID  string
	Entry       uint32
	AtNs        int64
	Kind        string
	Actor       string
	FromState   string
	ToState     string
	Fingerprint uint64
	Message     string
	Fields      ingest.Labels
}

// ProblemRow is one version of a problem; the table keeps the highest
// Version per ID.
type ProblemRow struct {
	ID          string
	Version     uint64
	UpdatedNs   int64
	OpenedNs    int64
	State       uint8 // 1 new .. 5 closed, as the table's enum
	Title       string
	Signature   string
	IncidentIDs []string
	// IncidentCount is the problem's occurrences: its incidents.
	IncidentCount uint32
	CIIDs         []string
	// Services are those of its incidents, as far as the writer saw
	// their alerts (see tracker).
	Services          []string
	Workaround        string
	RunbookURL        string
	RootCause         string
	FirstOccurrenceNs int64
	LastOccurrenceNs  int64
	ResolvedNs        int64
	ClosedNs          int64
}

// NotificationRow is one notification attempt; (ID, Attempt) is its
// identity.
type NotificationRow struct {
	ID                string
	Attempt           uint32
	AtNs              int64
	IncidentID        string
	Receiver          string
	Integration       string
	Status            uint8 // 1 sent, 2 failed, 3 held, 4 suppressed
	Error             string
	DurationNs        int64
	AlertFingerprints []uint64
}

// Rows is a batch of rows for every table: the unit the writer sends and
// spools.
type Rows struct {
	Events        []EventRow
	AlertStates   []AlertStateRow
	Incidents     []IncidentRow
	Timeline      []TimelineRow
	Problems      []ProblemRow
	Notifications []NotificationRow
}

// counts is the number of rows per table, in Tables order.
type counts [6]uint32

func (r *Rows) counts() counts {
	return counts{uint32(len(r.Events)), uint32(len(r.AlertStates)), uint32(len(r.Incidents)),
		uint32(len(r.Timeline)), uint32(len(r.Problems)), uint32(len(r.Notifications))}
}

// Len is the number of rows over all tables.
func (r *Rows) Len() int {
	return len(r.Events) + len(r.AlertStates) + len(r.Incidents) + len(r.Timeline) + len(r.Problems) + len(r.Notifications)
}

func (r *Rows) append(o *Rows) {
	r.Events = append(r.Events, o.Events...)
	r.AlertStates = append(r.AlertStates, o.AlertStates...)
	r.Incidents = append(r.Incidents, o.Incidents...)
	r.Timeline = append(r.Timeline, o.Timeline...)
	r.Problems = append(r.Problems, o.Problems...)
	r.Notifications = append(r.Notifications, o.Notifications...)
}

func (c *counts) add(d counts) {
	for i := range c {
		c[i] += d[i]
	}
}

func (c counts) total() int {
	n := 0
	for _, v := range c {
		n += int(v)
	}
	return n
}

// item is what Consume queues: an engine batch, with the alerts' shared
// counters read at the batch's commit (they move on with later events).
type item struct {
	seq uint64
	// mark is the batch's mark in the write-ahead log (0: none): the
	// batcher takes the item once the mark is durable.
	mark    uint64
	now     time.Time
	events  []ingest.Event
	changes []changeSnap
	// incidents and problems are the batch's incident and problem
	// versions.
	incidents []*incident.Incident
	problems  []*incident.Problem
	// rows is set instead for rows from other producers (Writer.Add).
	rows *Rows
}

type changeSnap struct {
	c        correlate.Change
	count    uint64
	lastSeen int64
	endsAt   int64
}

func (it *item) len() int {
	if it.rows != nil {
		return it.rows.Len()
	}
	return len(it.events) + len(it.changes) + len(it.incidents) + len(it.problems)
}

// unixNano is t in Unix nanoseconds, 0 for the zero time, clamped to
// what int64 holds.
func unixNano(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// dateTime is the DateTime (seconds, 1970 to 2106) of Unix nanoseconds,
// clamped to that range.
func dateTime(ns int64) int64 {
	if ns <= 0 {
		return 0
	}
	return min(ns/1e9, math.MaxUint32)
}

func fromNs(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
