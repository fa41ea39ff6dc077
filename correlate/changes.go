package correlate

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/sift-itsm/sift/incident"
)

// ChangeEvent is a change to a CI (a deploy, a config push, a patch), as
// an ITSM change or a CD pipeline reports it: the engine keeps it for the
// change lookback and names it among an incident's probable changes.
type ChangeEvent struct {
	ID      string    `json:"id"`
	CI      string    `json:"ci"`
	Summary string    `json:"summary"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end,omitzero"`
	Source  string    `json:"source,omitempty"`
	URL     string    `json:"url,omitempty"`
}

// Validate checks a change event, naming the field at fault.
func (c *ChangeEvent) Validate() error {
	switch {
	case c.ID == "":
		return fieldErr("id", "required")
	case c.CI == "":
		return fieldErr("ci", "required")
	case c.Start.IsZero():
		return fieldErr("start", "required (RFC 3339)")
	case !c.End.IsZero() && c.End.Before(c.Start):
		return fieldErr("end", "must not be before start")
	}
	return nil
}

// DecodeChanges reads one change event or a JSON array of them, as POST
// /api/v1/changes and siftctl replay --changes take them; unknown fields
// are errors. It does not validate them (the engine does).
func DecodeChanges(b []byte) ([]ChangeEvent, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		var c ChangeEvent
		if err := dec.Decode(&c); err != nil {
			return nil, err
		}
		return []ChangeEvent{c}, nil
	}
	var cs []ChangeEvent
	return cs, dec.Decode(&cs)
}

// validateChanges checks each change event, naming the bad one's index.
func validateChanges(cs []ChangeEvent) error {
	for i := range cs {
		if err := cs[i].Validate(); err != nil {
			return &IndexedError{Index: i, Err: err}
		}
	}
	return nil
}

// IndexedError is a bad element of a list, by index.
type IndexedError struct {
	Index int
	Err   error
}

func (e *IndexedError) Error() string { return fmt.Sprintf("change %d: %v", e.Index, e.Err) }
func (e *IndexedError) Unwrap() error { return e.Err }

const tableChanges = "changes"

func changeTable() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableChanges,
		Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
		},
	}
}

// maxProbableChanges bounds the list on an incident.
const maxProbableChanges = 5

// changeHops is how far upstream of an incident's CIs a change counts.
const changeHops = 2

// addChanges keeps change events (a repeated id replaces the earlier
// one), sorted by start.
func (s *state) addChanges(tx *lazyTxn, cs []ChangeEvent) {
	for _, c := range cs {
		tx.write(tableChanges, &c)
		if i := slices.IndexFunc(s.changes, func(o ChangeEvent) bool { return o.ID == c.ID }); i >= 0 {
			s.changes = slices.Delete(s.changes, i, i+1)
		}
		s.changes = append(s.changes, c)
	}
	slices.SortStableFunc(s.changes, func(a, b ChangeEvent) int { return a.Start.Compare(b.Start) })
}

// pruneChanges forgets changes that started more than the lookback before
// now: no incident opening from now on can list them.
func (s *state) pruneChanges(tx *lazyTxn, now time.Time, set *Settings) {
	cut := 0
	for cut < len(s.changes) && s.changes[cut].Start.Before(now.Add(-set.ChangeLookback)) {
		tx.remove(tableChanges, &s.changes[cut])
		cut++
	}
	if cut > 0 {
		s.changes = slices.Delete(s.changes, 0, cut)
	}
}

// noteChanges records how near the incident's new CI ci is to each change
// that started within the lookback before the incident opened: 0 for a
// change on ci itself, else how far upstream of ci (within two hops), the
// nearest over the incident's CIs kept. One walk upstream per CI, as CIs
// join, rather than one per change and CI every time.
func (s *state) noteChanges(is *incState, ci string, set *Settings) {
	if onCI := s.changesBefore(is.row.OpenedAt, set); onCI != nil {
		s.noteNear(is, onCI, ci)
	}
}

// changesBefore indexes by CI the changes (their indexes in s.changes)
// that started within the lookback before opened; nil when none did.
func (s *state) changesBefore(opened time.Time, set *Settings) map[string][]int {
	from := opened.Add(-set.ChangeLookback)
	var onCI map[string][]int
	for i, c := range s.changes {
		if !c.Start.Before(from) && !c.Start.After(opened) {
			if onCI == nil {
				onCI = map[string][]int{}
			}
			onCI[c.CI] = append(onCI[c.CI], i)
		}
	}
	return onCI
}

// noteNear records in is.chHops how near ci is to each change of onCI
// (changesBefore): 0 on ci itself, else its hops upstream of ci, the
// nearest kept.
func (s *state) noteNear(is *incState, onCI map[string][]int, ci string) {
	note := func(target string, hops int) {
		for _, i := range onCI[target] {
			id := s.changes[i].ID
			if old, ok := is.chHops[id]; !ok || hops < old {
				if is.chHops == nil {
					is.chHops = map[string]int{}
				}
				is.chHops[id] = hops
			}
		}
	}
	note(ci, 0)
	if s.topo != nil {
		s.topo.Upstream(ci, changeHops, func(up string, hops int) bool {
			note(up, hops)
			return true
		})
	}
}

// rankChanges lists the incident's noted changes still held, nearest in
// topology first, then the latest first, at most maxProbableChanges.
func (s *state) rankChanges(is *incState) []incident.ProbableChange {
	if len(is.chHops) == 0 {
		return nil
	}
	var out []incident.ProbableChange
	for _, c := range s.changes {
		if hops, ok := is.chHops[c.ID]; ok {
			out = append(out, incident.ProbableChange{ID: c.ID, CI: c.CI, Summary: c.Summary, Start: c.Start, URL: c.URL, Hops: hops})
		}
	}
	slices.SortStableFunc(out, func(a, b incident.ProbableChange) int {
		if c := cmp.Compare(a.Hops, b.Hops); c != 0 {
			return c
		}
		return b.Start.Compare(a.Start) // the latest first
	})
	if len(out) > maxProbableChanges {
		out = out[:maxProbableChanges]
	}
	return out
}

// applyChanges keeps change events at now, in a batch of their own, and
// brings the probable changes of open incidents up to date (a CD pipeline
// may report a deploy only once it finished).
func (s *state) applyChanges(now time.Time, cs []ChangeEvent, set *Settings) *Batch {
	return s.command(now, set, func(tx *lazyTxn, at int64, _ *Batch) {
		s.addChanges(tx, cs)
		s.pruneChanges(tx, now, set)
		for _, is := range s.incidents {
			if !is.row.State.Open() || is.removed {
				continue
			}
			is.chHops = nil
			// The window is the incident's: index it once for all its CIs.
			if onCI := s.changesBefore(is.row.OpenedAt, set); onCI != nil {
				for _, ci := range is.row.CIs {
					s.noteNear(is, onCI, ci)
				}
			}
			if pc := s.rankChanges(is); !slices.Equal(pc, is.row.ProbableChanges) {
				s.mut(is, at).ProbableChanges = pc
			}
		}
	})
}
