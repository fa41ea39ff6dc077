package correlate

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
)

// graph is a small in-test CMDB: CIs bind by their id in the "ci" or
// "instance" label; edges run from -> to ("from needs to").
type graph struct {
	cis  map[string]CIInfo
	up   map[string][]string // from -> to
	down map[string][]string // to -> from
}

func newGraph() *graph {
	return &graph{cis: map[string]CIInfo{}, up: map[string][]string{}, down: map[string][]string{}}
}

func (g *graph) ci(id string, criticality int, group string) *graph {
	g.cis[id] = CIInfo{Name: id, Criticality: criticality, SupportGroup: group}
	return g
}

func (g *graph) rel(from, to string) *graph {
	g.up[from] = append(g.up[from], to)
	g.down[to] = append(g.down[to], from)
	return g
}

func (g *graph) Bind(ls ingest.Labels) (string, bool) {
	for _, l := range []string{"ci", "instance"} {
		if v, ok := ls.Get(l); ok {
			if _, ok := g.cis[v]; ok {
				return v, true
			}
		}
	}
	return "", false
}

func (g *graph) CI(id string) (CIInfo, bool) { c, ok := g.cis[id]; return c, ok }

func (g *graph) Attr(id, name string) (string, bool) {
	c, ok := g.cis[id]
	switch {
	case !ok:
		return "", false
	case name == "id":
		return id, true
	case name == "support_group":
		return c.SupportGroup, true
	}
	return "", false
}

// Near follows every relation: the test graph has no relation types.
func (g *graph) Near(id string, hops int, _ func(string) bool, f func(string) bool) {
	seen := map[string]bool{id: true}
	frontier := []string{id}
	for h := 0; h < hops && len(frontier) > 0; h++ {
		var next []string
		for _, c := range frontier {
			for _, n := range append(append([]string{}, g.up[c]...), g.down[c]...) {
				if !seen[n] {
					seen[n] = true
					if !f(n) {
						return
					}
					next = append(next, n)
				}
			}
		}
		frontier = next
	}
}

func (g *graph) Upstream(id string, hops int, f func(string, int) bool) {
	seen := map[string]bool{id: true}
	frontier := []string{id}
	for h := 1; h <= hops && len(frontier) > 0; h++ {
		var next []string
		for _, c := range frontier {
			for _, n := range g.up[c] {
				if !seen[n] {
					seen[n] = true
					if !f(n, h) {
						return
					}
					next = append(next, n)
				}
			}
		}
		frontier = next
	}
}

func (g *graph) DependsOn(a, b string, hops int) bool {
	frontier := []string{a}
	for h := 0; h < hops && len(frontier) > 0; h++ {
		var next []string
		for _, c := range frontier {
			for _, n := range g.up[c] {
				if n == b {
					return true
				}
				next = append(next, n)
			}
		}
		frontier = next
	}
	return false
}

// alert is a firing Prometheus-style event at t0+at on a CI.
func alertOn(at time.Duration, name, instance, severity string) ingest.Event {
	return ev(at, "alertname", name, "instance", instance, "severity", severity)
}

// incidents returns the incidents in memory, oldest first.
func incidents(t *testing.T, s *state) []*incident.Incident {
	t.Helper()
	it, err := s.db.Txn(false).Get(incident.Table, "id")
	require.NoError(t, err)
	var out []*incident.Incident
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*incident.Incident))
	}
	return out
}

// datacenter: core switch sw1 (criticality 2), 40 hosts connected to it,
// an app on each host; a database host db1 with five services depending
// on the database; an unrelated host far away.
func datacenter() *graph {
	g := newGraph().ci("sw1", 2, "network").ci("sw2", 2, "network")
	for i := 0; i < 40; i++ {
		h, app := fmt.Sprintf("host%02d", i), fmt.Sprintf("app%02d", i)
		g.ci(h, 3, "unix").ci(app, 3, "apps").rel(h, "sw1").rel(app, h)
	}
	g.ci("dbhost", 3, "unix").rel("dbhost", "sw2").ci("db1", 1, "dba").rel("db1", "dbhost")
	for i := 0; i < 5; i++ {
		svc := fmt.Sprintf("svc%d", i)
		g.ci(svc, 2, "web").rel(svc, "db1")
	}
	g.ci("far", 4, "unix").ci("farsw", 4, "network").rel("far", "farsw")
	return g
}

func TestCoreSwitchFailureIsOneIncident(t *testing.T) {
	s, set := newState(), DefaultSettings()
	s.topo = datacenter()
	var evs []ingest.Event
	// Hosts notice first, then the switch, then the apps: within 2 min.
	for i := 0; i < 40; i++ {
		evs = append(evs, alertOn(time.Duration(i)*time.Second, "HostUnreachable", fmt.Sprintf("host%02d", i), "critical"))
	}
	evs = append(evs, alertOn(45*time.Second, "SwitchDown", "sw1", "critical"))
	for i := 0; i < 40; i++ {
		evs = append(evs, alertOn(60*time.Second+time.Duration(i)*time.Second, "AppDown", fmt.Sprintf("app%02d", i), "major"))
	}
	for _, e := range evs {
		s.apply(e.ReceivedAt, []ingest.Event{e}, &set)
	}
	incs := incidents(t, s)
	require.Len(t, incs, 1, "one failure, one incident")
	inc := incs[0]
	require.Len(t, inc.Alerts, 81)
	require.Equal(t, "sw1", inc.ProbableCause)
	require.Equal(t, "network", inc.SupportGroup, "assigned to the cause's group")
	require.Equal(t, incident.Priority(1), inc.Priority, "critical on criticality-2 CIs: impact 1, urgency 1")
	require.Contains(t, inc.Title, "sw1")
	for _, e := range evs {
		a := get(t, s, e.Fingerprint)
		require.Equal(t, inc.Seq, a.IncidentSeq)
		// Every alert below the switch is its symptom, also the hosts
		// that alerted before the switch did.
		if a.CI == "sw1" {
			require.Empty(t, a.SymptomOf())
		} else {
			require.Equal(t, "sw1", a.SymptomOf(), a.CI)
		}
	}
}

func TestDatabaseFailureAndUnrelatedDisk(t *testing.T) {
	s, set := newState(), DefaultSettings()
	s.topo = datacenter()
	evs := []ingest.Event{alertOn(0, "DiskFull", "far", "warning")}
	for i := 0; i < 5; i++ {
		evs = append(evs, alertOn(time.Duration(10+i)*time.Second, "HTTP5xx", fmt.Sprintf("svc%d", i), "major"))
	}
	evs = append(evs, alertOn(30*time.Second, "PostgresDown", "db1", "critical"))
	s.apply(t0.Add(time.Minute), evs, &set)

	incs := incidents(t, s)
	require.Len(t, incs, 2)
	disk, db := incs[0], incs[1]
	require.Equal(t, "far", disk.ProbableCause)
	require.Len(t, disk.Alerts, 1, "the unrelated disk stays apart")
	require.Equal(t, incident.Priority(5), disk.Priority, "warning on criticality 4: P5")
	require.Equal(t, "db1", db.ProbableCause)
	require.Len(t, db.Alerts, 6)
	require.Equal(t, "dba", db.SupportGroup)
	require.Equal(t, incident.Priority(1), db.Priority)
}

func TestCascadeNamesTheRootAsCause(t *testing.T) {
	s, set := newState(), DefaultSettings()
	s.topo = newGraph().ci("A", 3, "a").ci("B", 3, "b").ci("C", 3, "c").rel("A", "B").rel("B", "C")
	// C <- B <- A alerting over 4 minutes, A first.
	for i, ci := range []string{"A", "B", "C"} {
		e := alertOn(time.Duration(i)*2*time.Minute, "Down", ci, "critical")
		s.apply(e.ReceivedAt, []ingest.Event{e}, &set)
	}
	incs := incidents(t, s)
	require.Len(t, incs, 1)
	require.Equal(t, "C", incs[0].ProbableCause)
	require.Equal(t, "c", incs[0].SupportGroup)
	var causes []string
	for _, e := range incs[0].Timeline {
		if e.Kind == incident.EntryCause {
			causes = append(causes, e.From+">"+e.To)
		}
	}
	require.Equal(t, []string{"A>B", "B>C"}, causes)
}

func TestWindowSplitsIncidents(t *testing.T) {
	s, set := newState(), DefaultSettings()
	// a and b stay firing (endsAt an hour ahead), so the incident is
	// still open when c comes after the window.
	a := withEndsAt(ev(0, "alertname", "Errors", "service", "api"), time.Hour)
	b := withEndsAt(ev(4*time.Minute, "alertname", "Errors", "service", "api", "instance", "i2"), time.Hour)
	c := ev(20*time.Minute, "alertname", "Errors", "service", "api", "instance", "i3")
	other := ev(time.Minute, "alertname", "Errors", "service", "web")
	for _, e := range []ingest.Event{a, other, b, c} {
		s.apply(e.ReceivedAt, []ingest.Event{e}, &set)
	}
	incs := incidents(t, s)
	require.Len(t, incs, 3, "api (a, b), web, api again after the window")
	require.Len(t, incs[0].Alerts, 2)
	require.Equal(t, `{alertname="Errors", service="api"}`, incs[0].GroupKey)
	require.Equal(t, `{alertname="Errors", service="web"}`, incs[1].GroupKey)
	require.Equal(t, []string{c.Fingerprint.String()}, []string{incs[2].Alerts[0].String()})
}

func TestInfoOpensNoIncident(t *testing.T) {
	s, set := newState(), DefaultSettings()
	i := ev(0, "alertname", "Deployed", "service", "api", "severity", "info")
	s.apply(t0, []ingest.Event{i}, &set)
	require.Empty(t, incidents(t, s))
	require.NotNil(t, get(t, s, i.Fingerprint), "recorded all the same")
}

func TestPrometheusResendsMakeOneIncident(t *testing.T) {
	s, set := newState(), DefaultSettings()
	// 100 alerts of one service, resent every 30 s for an hour, with an
	// endsAt 4 minutes ahead as Prometheus sends.
	var evs []ingest.Event
	for at := time.Duration(0); at < time.Hour; at += 30 * time.Second {
		for i := 0; i < 100; i++ {
			e := ev(at, "alertname", "Latency", "service", "checkout", "instance", fmt.Sprint("i", i))
			e.StartsAt = t0
			e.EndsAt = e.ReceivedAt.Add(4 * time.Minute)
			evs = append(evs, e)
		}
		s.apply(t0.Add(at), evs, &set)
		evs = evs[:0]
	}
	incs := incidents(t, s)
	require.Len(t, incs, 1)
	require.Len(t, incs[0].Alerts, 100)
	require.Equal(t, incident.StateNew, incs[0].State)
}

// flap feeds an alert that fires for a minute and is resolved for two,
// for 20 minutes, and returns the incidents it made.
func flap(t *testing.T, set Settings) []*incident.Incident {
	s := newState()
	for m := time.Duration(0); m < 20*time.Minute; m += 3 * time.Minute {
		f := ev(m, "alertname", "Flappy", "service", "api")
		f.StartsAt = t0.Add(m)
		r := resolved(ev(m+time.Minute, "alertname", "Flappy", "service", "api"), m+time.Minute)
		r.StartsAt = t0.Add(m)
		s.apply(f.ReceivedAt, []ingest.Event{f}, &set)
		s.apply(r.ReceivedAt, []ingest.Event{r}, &set)
		s.apply(r.ReceivedAt.Add(90*time.Second), nil, &set)
	}
	return incidents(t, s)
}

func TestFlappingStaysOneIncident(t *testing.T) {
	incs := flap(t, DefaultSettings())
	require.Len(t, incs, 1, "with the defaults, flapping for 20 minutes is one incident")
	require.Len(t, incs[0].Alerts, 1)
}

func TestFlapDetectionHoldsTheIncident(t *testing.T) {
	// A resolve hold shorter than the flaps and a reopen window shorter
	// than the gaps: only flap detection keeps the alert with its
	// incident. It takes FlapChanges changes to notice; from then on the
	// alert stays.
	set := DefaultSettings()
	set.ResolveHold = 30 * time.Second
	set.ReopenWindow = time.Minute
	withDetection := flap(t, set)
	set.FlapChanges = 0
	without := flap(t, set)
	require.Len(t, without, 7, "one incident per flap")
	require.Len(t, withDetection, 2, "one before the flapping is noticed, one after")
}

func TestIncidentLifecycleTimers(t *testing.T) {
	s, set := newState(), DefaultSettings()
	a := ev(0, "alertname", "Down", "service", "api", "severity", "critical")
	s.apply(t0, []ingest.Event{a}, &set)
	s.apply(t0.Add(time.Minute), []ingest.Event{resolved(ev(time.Minute, "alertname", "Down", "service", "api", "severity", "critical"), time.Minute)}, &set)

	s.apply(t0.Add(time.Minute+set.ResolveHold-time.Second), nil, &set)
	require.Equal(t, incident.StateNew, incidents(t, s)[0].State, "not before the hold")
	s.apply(t0.Add(time.Minute+set.ResolveHold), nil, &set)
	inc := incidents(t, s)[0]
	require.Equal(t, incident.StateResolved, inc.State)
	require.Equal(t, t0.Add(time.Minute+set.ResolveHold), inc.ResolvedAt)

	// Fires again within the reopen window: the same incident, back to new.
	again := ev(10*time.Minute, "alertname", "Down", "service", "api", "severity", "critical")
	again.StartsAt = t0.Add(10 * time.Minute)
	s.apply(again.ReceivedAt, []ingest.Event{again}, &set)
	incs := incidents(t, s)
	require.Len(t, incs, 1)
	require.Equal(t, incident.StateNew, incs[0].State)

	// Resolved for good: resolves after the hold, closes after close_after,
	// leaves memory after the retention.
	end := 11 * time.Minute
	s.apply(t0.Add(end), []ingest.Event{resolved(ev(end, "alertname", "Down", "service", "api", "severity", "critical"), end)}, &set)
	s.apply(t0.Add(end+set.ResolveHold+set.CloseAfter), nil, &set)
	require.Equal(t, incident.StateClosed, incidents(t, s)[0].State)
	s.apply(t0.Add(end+set.ResolveHold+set.CloseAfter+set.ClosedRetention), nil, &set)
	require.Empty(t, incidents(t, s))
}

func TestOneIncidentVersionPerBatch(t *testing.T) {
	s, set := newState(), DefaultSettings()
	var evs []ingest.Event
	for i := 0; i < 10; i++ {
		evs = append(evs, ev(time.Duration(i)*time.Second, "alertname", "E", "service", "api", "instance", fmt.Sprint(i)))
	}
	b := s.apply(t0.Add(10*time.Second), evs, &set)
	var n int
	for _, c := range b.Changes {
		if c.Incident != nil {
			n++
			require.Equal(t, IncidentOpened, c.Kind)
			require.Equal(t, uint64(1), c.Incident.Version)
		}
	}
	require.Equal(t, 1, n)
}

func TestSLARespondBreachAt15MinutesForP1(t *testing.T) {
	s, set := newState(), DefaultSettings()
	s.topo = datacenter()
	// A critical alert on a criticality-1 database: P1, firing all along.
	a := withEndsAt(alertOn(0, "PostgresDown", "db1", "critical"), 10*time.Hour)
	s.apply(t0, []ingest.Event{a}, &set)
	inc := incidents(t, s)[0]
	require.Equal(t, incident.Priority(1), inc.Priority)
	require.Equal(t, t0.Add(15*time.Minute), inc.SLA.RespondDue)
	require.Equal(t, t0.Add(4*time.Hour), inc.SLA.ResolveDue)

	b := s.apply(t0.Add(15*time.Minute-time.Nanosecond), nil, &set)
	require.Empty(t, b.Breaches, "not before 15 minutes")
	require.False(t, incidents(t, s)[0].SLA.RespondBreached)

	b = s.apply(t0.Add(15*time.Minute), nil, &set)
	require.Equal(t, []SLABreach{{ID: "INC0000001", Priority: 1, Kind: incident.BreachRespond}}, b.Breaches)
	inc = incidents(t, s)[0]
	require.True(t, inc.SLA.RespondBreached)
	require.False(t, inc.SLA.ResolveBreached)
	require.Equal(t, incident.EntrySLABreach, inc.Timeline[len(inc.Timeline)-1].Kind)
	var sawChange bool
	for _, c := range b.Changes {
		sawChange = sawChange || c.Incident != nil && c.Incident.SLA.RespondBreached
	}
	require.True(t, sawChange, "the breach is a change on the change stream")

	// Once is enough.
	require.Empty(t, s.apply(t0.Add(time.Hour), nil, &set).Breaches)
	// The resolve clock runs out at 4h.
	require.Equal(t, incident.BreachResolve, s.apply(t0.Add(4*time.Hour), nil, &set).Breaches[0].Kind)
}

func TestSLAAcknowledgedInTimeAndHoldPausesResolve(t *testing.T) {
	s, set := newState(), DefaultSettings()
	s.topo = datacenter()
	s.apply(t0, []ingest.Event{withEndsAt(alertOn(0, "PostgresDown", "db1", "critical"), 10*time.Hour)}, &set)
	_, _, err := s.act(t0.Add(10*time.Minute), &incident.Action{ID: "INC0000001", Verb: incident.VerbAck, Actor: "a"}, &set)
	require.NoError(t, err)
	require.Empty(t, s.apply(t0.Add(time.Hour), nil, &set).Breaches, "acknowledged at 10m: no respond breach")

	// On hold from 1h to 3h: the resolve due moves from 4h to 6h.
	_, _, err = s.act(t0.Add(time.Hour), &incident.Action{ID: "INC0000001", Verb: incident.VerbHold, Actor: "a"}, &set)
	require.NoError(t, err)
	require.Empty(t, s.apply(t0.Add(2*time.Hour), nil, &set).Breaches)
	inc, _, err := s.act(t0.Add(3*time.Hour), &incident.Action{ID: "INC0000001", Verb: incident.VerbAssign, Actor: "a", Assignee: "b"}, &set)
	require.NoError(t, err)
	require.Equal(t, incident.StateInProgress, inc.State)
	require.Equal(t, t0.Add(6*time.Hour), incidents(t, s)[0].SLA.ResolveDue)
	require.Empty(t, s.apply(t0.Add(6*time.Hour-time.Nanosecond), nil, &set).Breaches, "not before the moved due time")
	require.Equal(t, []SLABreach{{ID: "INC0000001", Priority: 1, Kind: incident.BreachResolve}}, s.apply(t0.Add(6*time.Hour), nil, &set).Breaches)
}
