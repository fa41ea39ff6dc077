package incident

import (
	"fmt"
	"time"

	"github.com/hashicorp/go-memdb"
)

// ProblemOpenedMark is the From of the problem timeline entry of the
// incident whose recurrence opened the problem.
const ProblemOpenedMark = "opened"

// ProblemState is a problem's place in its lifecycle (ITSM.md).
type ProblemState uint8

// The problem states, in lifecycle order.
const (
	ProblemNew ProblemState = iota
	ProblemInvestigating
	ProblemKnownError
	ProblemResolved
	ProblemClosed
)

var problemStateNames = [...]string{"new", "investigating", "known_error", "resolved", "closed"}

func (s ProblemState) String() string {
	if int(s) < len(problemStateNames) {
		return problemStateNames[s]
	}
	return fmt.Sprintf("ProblemState(%d)", s)
}

// ParseProblemState parses a problem state name.
func ParseProblemState(s string) (ProblemState, error) {
	i, err := parseName(problemStateNames[:], "problem state", s)
	return ProblemState(i), err
}

// MarshalText implements encoding.TextMarshaler.
func (s ProblemState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *ProblemState) UnmarshalText(b []byte) error {
	v, err := ParseProblemState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Open reports whether incidents with the problem's signature still link
// to it.
func (s ProblemState) Open() bool { return s < ProblemResolved }

// ProblemID formats a problem's sequence number as its id.
func ProblemID(seq uint64) string { return fmt.Sprintf("PRB%07d", seq) }

// ParseProblemID returns the sequence number of a problem id.
func ParseProblemID(id string) (uint64, error) { return parseSeq("problem", "PRB", id) }

// Problem groups incidents that recur with one signature. Immutable once
// published, like Incident.
type Problem struct {
	Seq       uint64
	Title     string
	State     ProblemState
	Signature string
	// IncidentIDs are the linked incidents, in the order linked; CIs the
	// CIs of their alerts, in the order first seen.
	IncidentIDs     []string
	CIs             []string
	FirstOccurrence time.Time
	LastOccurrence  time.Time
	Occurrences     int
	RootCause       string
	Workaround      string
	RunbookURL      string
	OpenedAt        time.Time
	UpdatedAt       time.Time
	// ResolvedAt is when the problem moved to resolved, zero while it is
	// not resolved; ClosedAt when it closed.
	ResolvedAt time.Time
	ClosedAt   time.Time
	Version    uint64
}

// ID is the problem's id.
func (p *Problem) ID() string { return ProblemID(p.Seq) }

// ProblemJSON is the API representation of a problem.
type ProblemJSON struct {
	ID              string       `json:"id"`
	Title           string       `json:"title"`
	State           ProblemState `json:"state"`
	Signature       string       `json:"signature"`
	IncidentIDs     []string     `json:"incident_ids"`
	CIs             []string     `json:"cis"`
	FirstOccurrence time.Time    `json:"first_occurrence"`
	LastOccurrence  time.Time    `json:"last_occurrence"`
	Occurrences     int          `json:"occurrences"`
	RootCause       string       `json:"root_cause,omitempty"`
	Workaround      string       `json:"workaround,omitempty"`
	RunbookURL      string       `json:"runbook_url,omitempty"`
	OpenedAt        time.Time    `json:"opened_at"`
	UpdatedAt       time.Time    `json:"updated_at"`
	Version         uint64       `json:"version"`
}

// ToJSON returns the API representation of p.
func (p *Problem) ToJSON() ProblemJSON {
	return ProblemJSON{
		ID: p.ID(), Title: p.Title, State: p.State, Signature: p.Signature,
		IncidentIDs: append([]string{}, p.IncidentIDs...), CIs: append([]string{}, p.CIs...),
		FirstOccurrence: p.FirstOccurrence.UTC(), LastOccurrence: p.LastOccurrence.UTC(), Occurrences: p.Occurrences,
		RootCause: p.RootCause, Workaround: p.Workaround, RunbookURL: p.RunbookURL,
		OpenedAt: p.OpenedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(), Version: p.Version,
	}
}

// ProblemUpdate is a user's change to a problem (PATCH): nil fields stay.
type ProblemUpdate struct {
	ID         string
	Actor      string
	State      *ProblemState
	Title      *string
	RootCause  *string
	Workaround *string
	RunbookURL *string
	// Link and Unlink add or remove an incident.
	Link, Unlink string
}

// ProblemTransitionError is a state change the problem does not allow.
type ProblemTransitionError struct {
	ID   string
	From ProblemState
	To   ProblemState
}

func (e *ProblemTransitionError) Error() string {
	return fmt.Sprintf("problem %s is %s: cannot move it to %s", e.ID, e.From, e.To)
}

// CheckProblemTransition says whether a problem may move from one state to
// another: forward only, any open state to any later one, resolved to
// closed; closed is final. A problem may also go back from resolved to
// investigating when the failure is found to be not fixed.
func CheckProblemTransition(id string, from, to ProblemState) error {
	ok := from == to && from != ProblemClosed ||
		from.Open() && to > from ||
		from == ProblemResolved && (to == ProblemClosed || to == ProblemInvestigating)
	if !ok {
		return &ProblemTransitionError{ID: id, From: from, To: to}
	}
	return nil
}

// ProblemTable is the name of the problems table.
const ProblemTable = "problems"

// ProblemTableSchema is the problems table for the engine's schema,
// indexed by sequence number like the incidents.
func ProblemTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: ProblemTable,
		Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: seqIndexer[*Problem]{"problem", func(p *Problem) uint64 { return p.Seq }}},
		},
	}
}
