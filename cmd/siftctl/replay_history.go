package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/incident/history"
	"github.com/sift-itsm/sift/ingest"
)

// historySource is what replay --from-clickhouse reads: *history.Store.
type historySource interface {
	ScanEvents(ctx context.Context, from, to time.Time, f func(*history.StoredEvent) error) error
}

// ruleDiff is how the incidents of the candidate rules differ from what
// happened, event by event: each stored event carries the incident the
// live engine put its alert in, and the replay says which incident the
// candidate rules put it in.
type ruleDiff struct {
	From   time.Time              `json:"from"`
	To     time.Time              `json:"to"`
	Stats  correlate.OfflineStats `json:"stats"`
	Events int                    `json:"events"`
	// Incidents that happened (with events in the range) and that the
	// candidate rules make; events in an incident before and after.
	Incidents          int `json:"incidents"`
	CandidateIncidents int `json:"candidate_incidents"`
	EventsInIncidents  int `json:"events_in_incidents"`
	EventsInCandidates int `json:"events_in_candidate_incidents"`
	// Same: incidents made of the same events under both.
	Same int `json:"same"`
	// Merges: candidate incidents holding events of several incidents
	// that happened; Splits: incidents that happened whose events the
	// candidate rules spread over several.
	Merges []diffGroup `json:"merges"`
	Splits []diffGroup `json:"splits"`
	// New: candidate incidents of events that were in no incident; Gone:
	// incidents that happened whose events would be in none.
	New  []string `json:"new"`
	Gone []string `json:"gone"`
}

// diffGroup is one incident on one side and the incidents on the other
// side its events were in, with how many events each.
type diffGroup struct {
	ID      string         `json:"id"`
	Events  int            `json:"events"`
	Members map[string]int `json:"members"`
}

// noIncident stands for "in no incident" in the members of a group.
const noIncident = "-"

// replayHistory replays the events stored in ClickHouse over the range
// through the engine with the candidate rules, and writes how incidents
// would differ.
func replayHistory(src historySource, from, to time.Time, eng *correlate.Offline, w, stderr io.Writer) error {
	type pair struct{ actual, cand string }
	counts := map[pair]int{}
	var (
		batch  []ingest.Event
		actual []string
		n      int
	)
	flush := func() {
		eng.ApplyReceived(batch)
		for i := range batch {
			cand := noIncident
			if a, ok := eng.Alert(batch[i].Fingerprint); ok && a.IncidentSeq != 0 && a.Suppressed() == "" {
				cand = incident.ID(a.IncidentSeq)
			}
			counts[pair{actual[i], cand}]++
		}
		batch, actual = batch[:0], actual[:0]
	}
	err := src.ScanEvents(context.Background(), from, to, func(se *history.StoredEvent) error {
		ev := se.Event
		// The clock follows the time each event was received, as the live
		// engine's did; the event keeps its own start time (grouping
		// windows run in event time).
		batch = append(batch, ev)
		a := se.IncidentID
		if a == "" {
			a = noIncident
		}
		actual = append(actual, a)
		n++
		if len(batch) >= replayBatch {
			flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	flush()
	eng.Drain()

	d := ruleDiff{From: from.UTC(), To: to.UTC(), Stats: eng.Stats(), Events: n, Merges: []diffGroup{}, Splits: []diffGroup{},
		New: []string{}, Gone: []string{}}
	byActual, byCand := map[string]map[string]int{}, map[string]map[string]int{}
	add := func(m map[string]map[string]int, k, v string, c int) {
		if m[k] == nil {
			m[k] = map[string]int{}
		}
		m[k][v] += c
	}
	for p, c := range counts {
		if p.actual != noIncident {
			add(byActual, p.actual, p.cand, c)
			d.EventsInIncidents += c
		}
		if p.cand != noIncident {
			add(byCand, p.cand, p.actual, c)
			d.EventsInCandidates += c
		}
	}
	d.Incidents, d.CandidateIncidents = len(byActual), len(byCand)
	sum := func(m map[string]int) int {
		t := 0
		for _, c := range m {
			t += c
		}
		return t
	}
	for id, m := range byCand {
		if len(m) == 1 {
			if _, none := m[noIncident]; none {
				d.New = append(d.New, id)
			}
			continue
		}
		if inIncidents(m) > 1 {
			d.Merges = append(d.Merges, diffGroup{ID: id, Events: sum(m), Members: m})
		}
	}
	for id, m := range byActual {
		if len(m) == 1 {
			if _, none := m[noIncident]; none {
				d.Gone = append(d.Gone, id)
				continue
			}
			for c := range m {
				if len(byCand[c]) == 1 {
					d.Same++
				}
			}
			continue
		}
		if inIncidents(m) > 1 {
			d.Splits = append(d.Splits, diffGroup{ID: id, Events: sum(m), Members: m})
		}
	}
	byID := func(a, b diffGroup) int { return cmp.Compare(a.ID, b.ID) }
	slices.SortFunc(d.Merges, byID)
	slices.SortFunc(d.Splits, byID)
	slices.Sort(d.New)
	slices.Sort(d.Gone)

	if err := writeJSON(w, d); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	fmt.Fprintf(stderr, "replayed %d stored events from %s to %s: %d incidents happened, %d with the candidate rules; %d the same, %d merges, %d splits, %d new, %d gone\n",
		d.Events, d.From.Format(time.RFC3339), d.To.Format(time.RFC3339), d.Incidents, d.CandidateIncidents, d.Same,
		len(d.Merges), len(d.Splits), len(d.New), len(d.Gone))
	return nil
}

// inIncidents is how many of the members are incidents.
func inIncidents(members map[string]int) int {
	n := len(members)
	if _, ok := members[noIncident]; ok {
		n--
	}
	return n
}

// openHistory opens the ClickHouse history at addr for a replay.
func openHistory(addr, database string) (*history.Store, error) {
	return history.Open(history.Options{Addresses: []string{addr}, Database: database, ReadTimeout: 10 * time.Minute})
}

// sinceRange is [now - since, now).
func sinceRange(since string, now time.Time) (time.Time, time.Time, error) {
	d, err := model.ParseDuration(since)
	if err != nil || d <= 0 {
		return time.Time{}, time.Time{}, fmt.Errorf("--since %q: want a duration like 7d or 12h", since)
	}
	return now.Add(-time.Duration(d)), now, nil
}

// outputFile is standard output for "" or "-", else the file created.
func outputFile(name string, stdout io.Writer) (io.Writer, func(), error) {
	if name == "" || name == "-" {
		return stdout, func() {}, nil
	}
	f, err := os.Create(name)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { _ = f.Close() }, nil
}
