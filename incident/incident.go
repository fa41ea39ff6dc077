package incident

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// State is an incident's place in its lifecycle (ITSM.md).
type State uint8

// The states, in lifecycle order.
const (
	StateNew State = iota
	StateAcknowledged
	StateInProgress
	StateOnHold
	StateResolved
	StateClosed
)

var stateNames = [...]string{"new", "acknowledged", "in_progress", "on_hold", "resolved", "closed"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", s)
}

// ParseState parses a state name.
func ParseState(s string) (State, error) {
	i, err := parseName(stateNames[:], "state", s)
	return State(i), err
}

// parseName returns the index of s in names; kind names the value in the
// error, which lists names.
func parseName(names []string, kind, s string) (int, error) {
	if i := slices.Index(names, s); i >= 0 {
		return i, nil
	}
	return 0, fmt.Errorf("unknown %s %q: want one of %s", kind, s, strings.Join(names, ", "))
}

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Open reports whether the incident is neither resolved nor closed.
func (s State) Open() bool { return s < StateResolved }

// ID formats an incident's sequence number as its human readable id.
func ID(seq uint64) string { return fmt.Sprintf("INC%07d", seq) }

// ParseID returns the sequence number of an incident id.
func ParseID(id string) (uint64, error) { return parseSeq("incident", "INC", id) }

// parseSeq returns the sequence number of an id made of prefix and
// digits; kind names the object in the error.
func parseSeq(kind, prefix, id string) (uint64, error) {
	var seq uint64
	if len(id) <= len(prefix) || id[:len(prefix)] != prefix {
		return 0, fmt.Errorf("%s id %q: want %s followed by digits", kind, id, prefix)
	}
	for _, c := range id[len(prefix):] {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%s id %q: want %s followed by digits", kind, id, prefix)
		}
		seq = seq*10 + uint64(c-'0')
	}
	return seq, nil
}

// SystemActor is the actor of what sift does by itself.
const SystemActor = "system"

// Incident is one version of an incident: a row of the incidents table.
// See the package doc for what may change between versions.
type Incident struct {
	Seq   uint64
	Title string
	State State
	// Rule and GroupKey say which correlation rule made the incident and
	// for which group; together they are its default recurrence
	// signature.
	Rule     string
	GroupKey string

	Priority Priority
	Impact   int
	Urgency  int

	// Alerts are the fingerprints of the incident's alerts in the order
	// they joined; CIs the ids of the CIs they bind to, in the order first
	// seen. ProbableCause is the most upstream alerting CI, if any.
	Alerts        []model.Fingerprint
	CIs           []string
	ProbableCause string

	SupportGroup string
	Assignee     string

	OpenedAt       time.Time
	UpdatedAt      time.Time
	AcknowledgedAt time.Time
	ResolvedAt     time.Time
	ClosedAt       time.Time
	// LastAlertAt is the event time of the newest alert that joined or
	// fired again: a rule's window runs from it.
	LastAlertAt time.Time
	// Acknowledged stays true once someone acknowledged the incident; a
	// reopen goes back to in_progress then, else to new.
	Acknowledged bool

	// SLA are the incident's service level clocks (see SLA).
	SLA SLA

	// Signature is the recurrence signature: incidents with equal ones
	// recur (by default the rule and the group key). ProblemID links the
	// problem it recurs under; Workaround is the known error's workaround
	// (and runbook) attached when it opened.
	Signature  string
	ProblemID  string
	Workaround string
	// ProbableChanges are the changes on its CIs (or what they depend
	// on) shortly before it opened, most likely first.
	ProbableChanges []ProbableChange
	// Tickets are the ids the ticketing platforms gave the incident, by
	// notify receiver ("itsm/servicenow"). Versions share the map: set
	// it on a copy (maps.Clone), never in place.
	Tickets map[string]string

	Timeline []Entry
	Version  uint64
}

// ProbableChange is a change that may have caused an incident.
type ProbableChange struct {
	ID      string    `json:"id"`
	CI      string    `json:"ci"`
	Summary string    `json:"summary"`
	Start   time.Time `json:"start"`
	URL     string    `json:"url,omitempty"`
	// Hops is 0 for a change on one of the incident's CIs, else how far
	// upstream it is.
	Hops int `json:"hops"`
}

// SLA is an incident's respond and resolve clocks: due times from the
// targets of its priority, and whether they were breached. The resolve
// clock stops while the incident is on hold (if configured), which moves
// ResolveDue later by the time held.
type SLA struct {
	RespondDue      time.Time
	ResolveDue      time.Time
	RespondBreached bool
	ResolveBreached bool
}

// ID is the incident's human readable id.
func (inc *Incident) ID() string { return ID(inc.Seq) }

// EntryKind says what a timeline entry records.
type EntryKind string

// Timeline entry kinds.
const (
	EntryOpened       EntryKind = "opened"
	EntryState        EntryKind = "state"
	EntryAlertAdded   EntryKind = "alert_added"
	EntryAlertResolve EntryKind = "alert_resolved"
	EntryAlertFiring  EntryKind = "alert_firing"
	EntryPriority     EntryKind = "priority"
	EntryAssigned     EntryKind = "assigned"
	EntryNote         EntryKind = "note"
	EntryCause        EntryKind = "probable_cause"
	EntryNotification EntryKind = "notification"
	EntrySLABreach    EntryKind = "sla_breach"
	EntryProblem      EntryKind = "problem"
	EntryWorkaround   EntryKind = "workaround"
)

// Entry is one line of an incident's timeline.
type Entry struct {
	At    time.Time `json:"at"`
	Actor string    `json:"actor"`
	Kind  EntryKind `json:"kind"`
	Text  string    `json:"text"`
	// Fingerprint names the alert of alert entries.
	Fingerprint string `json:"fingerprint,omitempty"`
	// From and To are the old and new value of state and priority
	// changes.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// Revise returns a copy of inc with the next version, to change.
func (inc *Incident) Revise(now time.Time) *Incident {
	n := *inc
	n.Version++
	n.UpdatedAt = now
	return &n
}

// Log appends a timeline entry. Only for the newest version (see the
// package doc).
func (inc *Incident) Log(e Entry) { inc.Timeline = append(inc.Timeline, e) }

// HasCI reports whether the incident touches the CI.
func (inc *Incident) HasCI(id string) bool { return slices.Contains(inc.CIs, id) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
