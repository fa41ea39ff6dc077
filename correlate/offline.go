package correlate

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/rules"
)

// Offline runs the engine's state synchronously with the clock following
// the events, for siftctl replay and rule tests: no goroutine, no queue,
// and the same incidents as the live engine given the same events.
type Offline struct {
	st    *state
	set   Settings
	clock time.Time
	// incs is the newest version of every incident, from the change
	// stream: closed incidents leave memory, not this.
	incs  map[uint64]*incident.Incident
	probs map[uint64]*incident.Problem
	stats OfflineStats
}

// OfflineStats count what an offline run saw.
type OfflineStats struct {
	Events     int `json:"events"`
	Alerts     int `json:"alerts"`
	Suppressed int `json:"suppressed_alerts"`
	Incidents  int `json:"incidents"`
	Problems   int `json:"problems"`
	Breaches   int `json:"sla_breaches"`
}

// NewOffline returns an offline engine with the settings, rules (nil:
// the defaults) and CMDB (nil: none).
func NewOffline(set Settings, rs *rules.Set, topo Topology) *Offline {
	o := &Offline{st: newState(), set: set, incs: map[uint64]*incident.Incident{}, probs: map[uint64]*incident.Problem{}}
	o.st.topo = topo
	o.st.setRules(rs)
	return o
}

// Clock is the time of the latest event or advance.
func (o *Offline) Clock() time.Time { return o.clock }

// Apply applies events as one batch. Each event is received at its own
// time (StartsAt), or the clock if that is earlier: the clock never runs
// backwards.
func (o *Offline) Apply(events []ingest.Event) {
	for i := range events {
		events[i].ReceivedAt = events[i].StartsAt
	}
	o.ApplyReceived(events)
}

// ApplyReceived applies events recorded with their receive times (from
// history or the write-ahead log), keeping their own start times: the
// clock follows ReceivedAt, never running backwards, as the live engine's
// did.
func (o *Offline) ApplyReceived(events []ingest.Event) {
	for i := range events {
		e := &events[i]
		if e.ReceivedAt.After(o.clock) {
			o.clock = e.ReceivedAt
		}
		e.ReceivedAt = o.clock
	}
	o.stats.Events += len(events)
	o.record(o.st.apply(o.clock, events, &o.set))
}

// Advance runs the timers due by t.
func (o *Offline) Advance(t time.Time) {
	if t.After(o.clock) {
		o.clock = t
	}
	o.record(o.st.apply(o.clock, nil, &o.set))
}

// Drain runs every timer there is, in time order, until none is left:
// alerts expire and leave memory, incidents resolve and close.
func (o *Offline) Drain() {
	for {
		next := int64(-1)
		if len(o.st.timers) > 0 {
			next = o.st.timers[0].at
		}
		if len(o.st.incTimers) > 0 && (next < 0 || o.st.incTimers[0].at < next) {
			next = o.st.incTimers[0].at
		}
		if next < 0 {
			return
		}
		o.Advance(fromUnixNano(max(next, unixNano(o.clock))))
	}
}

func (o *Offline) record(b *Batch) {
	o.stats.Breaches += len(b.Breaches)
	for _, c := range b.Changes {
		switch {
		case c.Problem != nil:
			if _, seen := o.probs[c.Problem.Seq]; !seen {
				o.stats.Problems++
			}
			o.probs[c.Problem.Seq] = c.Problem
		case c.Incident != nil:
			if _, seen := o.incs[c.Incident.Seq]; !seen {
				o.stats.Incidents++
			}
			o.incs[c.Incident.Seq] = c.Incident
		case c.Kind == AlertOpened && c.Alert.Version == 1:
			o.stats.Alerts++
			if c.Alert.Suppressed() != "" {
				o.stats.Suppressed++
			}
		}
	}
}

// Incidents returns the newest version of every incident the run made,
// oldest first.
func (o *Offline) Incidents() []*incident.Incident {
	return slices.SortedFunc(maps.Values(o.incs), func(a, b *incident.Incident) int { return cmp.Compare(a.Seq, b.Seq) })
}

// AddChanges keeps change events, as POST /api/v1/changes does, at the
// current clock. Replay adds them all before the events: only their start
// times matter.
func (o *Offline) AddChanges(cs []ChangeEvent) error {
	if err := validateChanges(cs); err != nil {
		return err
	}
	o.record(o.st.applyChanges(o.clock, cs, &o.set))
	return nil
}

// Problems returns the newest version of every problem, oldest first.
func (o *Offline) Problems() []*incident.Problem {
	return slices.SortedFunc(maps.Values(o.probs), func(a, b *incident.Problem) int { return cmp.Compare(a.Seq, b.Seq) })
}

// Alert returns an alert still in memory.
func (o *Offline) Alert(fp model.Fingerprint) (*Alert, bool) {
	e := o.st.alerts[fp]
	if e == nil {
		return nil, false
	}
	return e.row, true
}

// Stats are the counts so far.
func (o *Offline) Stats() OfflineStats { return o.stats }
