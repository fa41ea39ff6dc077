package correlate

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// ev builds a firing Prometheus-style event received at t0+at.
func ev(at time.Duration, kv ...string) ingest.Event {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	ls := ingest.LabelsFromMap(m)
	sevRaw, _ := ls.Get("severity")
	sev, _ := ingest.NormalizeSeverity(sevRaw)
	return ingest.Event{
		Fingerprint: ls.Fingerprint(),
		Source:      ingest.SourcePrometheus,
		Labels:      ls,
		Severity:    sev,
		RawSeverity: sevRaw,
		StartsAt:    t0.Add(at),
		ReceivedAt:  t0.Add(at),
	}
}

func resolved(e ingest.Event, endsAt time.Duration) ingest.Event {
	e.Status = ingest.StatusResolved
	e.EndsAt = t0.Add(endsAt)
	return e
}

func withEndsAt(e ingest.Event, endsAt time.Duration) ingest.Event {
	e.EndsAt = t0.Add(endsAt)
	return e
}

func get(t *testing.T, s *state, fp model.Fingerprint) *Alert {
	t.Helper()
	a, _ := AlertIn(s.db.Txn(false), fp)
	return a
}

// alertChanges are the batch's alert changes, without its incident ones.
func alertChanges(b *Batch) []Change {
	var out []Change
	for _, c := range b.Changes {
		if c.Alert != nil {
			out = append(out, c)
		}
	}
	return out
}

func kinds(b *Batch) []ChangeKind {
	var k []ChangeKind
	for _, c := range alertChanges(b) {
		k = append(k, c.Kind)
	}
	return k
}

func TestDedupCountsAndTimes(t *testing.T) {
	s, set := newState(), DefaultSettings()
	a := ev(0, "alertname", "Down", "instance", "h1", "severity", "critical")

	b := s.apply(t0, []ingest.Event{a}, &set)
	require.Equal(t, []ChangeKind{AlertOpened}, kinds(b))
	require.Equal(t, uint64(1), b.Seq)

	dup1, dup2 := ev(10*time.Second, "alertname", "Down", "instance", "h1", "severity", "critical"), ev(20*time.Second, "alertname", "Down", "instance", "h1", "severity", "critical")
	b = s.apply(t0.Add(20*time.Second), []ingest.Event{dup1, dup2}, &set)
	require.Empty(t, alertChanges(b), "duplicates change nothing visible")
	require.Equal(t, 2, b.Duplicates)

	got := get(t, s, a.Fingerprint)
	require.Equal(t, uint64(3), got.Count())
	require.Equal(t, t0, got.FirstSeen())
	require.Equal(t, t0.Add(20*time.Second), got.LastSeen())
	require.Equal(t, uint64(1), got.Version, "no memdb write for a pure duplicate")
	require.Equal(t, ingest.StatusFiring, got.Status)
	require.Equal(t, 1, s.active[ingest.SeverityCritical])
	require.Len(t, s.alerts, 1)
}

func TestDuplicateWithNewAnnotationsOrSeverityUpdates(t *testing.T) {
	s, set := newState(), DefaultSettings()
	a := ev(0, "alertname", "DiskFull", "dedup_key", "k1")
	a.Identity = []string{"dedup_key"}
	a.Fingerprint = a.Labels.FingerprintOf(a.Identity)
	s.apply(t0, []ingest.Event{a}, &set)
	require.Equal(t, 1, s.active[ingest.SeverityWarning])

	b2 := a
	b2.ReceivedAt = t0.Add(time.Second)
	b2.Severity, b2.RawSeverity = ingest.SeverityCritical, "critical"
	b2.Annotations = ingest.NewLabels(ingest.Label{Name: "summary", Value: "95% full"})
	b := s.apply(t0.Add(time.Second), []ingest.Event{b2}, &set)
	require.Equal(t, []ChangeKind{AlertUpdated}, kinds(b))
	got := get(t, s, a.Fingerprint)
	require.Equal(t, ingest.SeverityCritical, got.Severity)
	require.Equal(t, "95% full", got.Annotations.Map()["summary"])
	require.Equal(t, uint64(2), got.Version)
	require.Equal(t, uint64(2), got.Count())
	require.Equal(t, 0, s.active[ingest.SeverityWarning])
	require.Equal(t, 1, s.active[ingest.SeverityCritical])

	// Under a partial identity, new labels replace the old ones.
	b3 := b2
	b3.ReceivedAt = t0.Add(2 * time.Second)
	b3.Labels = ingest.LabelsFromMap(map[string]string{"alertname": "DiskFull", "dedup_key": "k1", "mount": "/var"})
	b = s.apply(t0.Add(2*time.Second), []ingest.Event{b3}, &set)
	require.Equal(t, []ChangeKind{AlertUpdated}, kinds(b))
	require.Equal(t, "/var", get(t, s, a.Fingerprint).Labels.Map()["mount"])

	// PagerDuty acknowledge.
	b4 := b3
	b4.ReceivedAt = t0.Add(3 * time.Second)
	b4.Acknowledge = true
	b = s.apply(t0.Add(3*time.Second), []ingest.Event{b4}, &set)
	require.Equal(t, []ChangeKind{AlertUpdated}, kinds(b))
	require.True(t, get(t, s, a.Fingerprint).Acknowledged)
}

func TestResolveByEventAndRefire(t *testing.T) {
	s, set := newState(), DefaultSettings()
	a := ev(0, "alertname", "Down", "severity", "warning")
	s.apply(t0, []ingest.Event{a}, &set)

	b := s.apply(t0.Add(time.Minute), []ingest.Event{resolved(ev(time.Minute, "alertname", "Down", "severity", "warning"), 50*time.Second)}, &set)
	require.Equal(t, []ChangeKind{AlertResolved}, kinds(b))
	require.False(t, alertChanges(b)[0].Expired)
	got := get(t, s, a.Fingerprint)
	require.Equal(t, ingest.StatusResolved, got.Status)
	require.Equal(t, t0.Add(50*time.Second), got.ResolvedAt())
	require.Equal(t, 0, s.active[ingest.SeverityWarning])

	// Prometheus resends resolved alerts for a while: duplicates.
	b = s.apply(t0.Add(2*time.Minute), []ingest.Event{resolved(ev(2*time.Minute, "alertname", "Down", "severity", "warning"), 50*time.Second)}, &set)
	require.Empty(t, alertChanges(b))
	require.Equal(t, 1, b.Duplicates)

	// It fires again: the same alert opens a new episode.
	b = s.apply(t0.Add(3*time.Minute), []ingest.Event{ev(3*time.Minute, "alertname", "Down", "severity", "warning")}, &set)
	require.Equal(t, []ChangeKind{AlertOpened}, kinds(b))
	got = get(t, s, a.Fingerprint)
	require.Equal(t, ingest.StatusFiring, got.Status)
	require.True(t, got.ResolvedAt().IsZero())
	require.Equal(t, t0, got.FirstSeen())
	require.Equal(t, t0.Add(3*time.Minute), got.StartsAt())
	require.Equal(t, uint64(4), got.Count())
	require.Equal(t, 1, s.active[ingest.SeverityWarning])

	// A late resolve of the first episode (its startsAt is that
	// episode's) changes nothing.
	late := resolved(ev(4*time.Minute, "alertname", "Down", "severity", "warning"), 2*time.Minute)
	late.StartsAt = t0
	b = s.apply(t0.Add(4*time.Minute), []ingest.Event{late}, &set)
	require.Empty(t, alertChanges(b))
	require.Equal(t, ingest.StatusFiring, get(t, s, a.Fingerprint).Status)
	require.True(t, get(t, s, a.Fingerprint).EndsAt().IsZero(), "a late resolve's endsAt is not this episode's")
}

func TestResolveOfUnknownAlertMakesNoRow(t *testing.T) {
	s, set := newState(), DefaultSettings()
	e := resolved(ev(0, "alertname", "Gone"), -time.Second)
	b := s.apply(t0, []ingest.Event{e}, &set)
	require.Empty(t, alertChanges(b))
	require.Equal(t, uint64(1), b.Seq, "the event still reaches the sinks")
	require.Nil(t, get(t, s, e.Fingerprint))
}

func TestExpiryAfterResolveTimeout(t *testing.T) {
	s, set := newState(), DefaultSettings()
	set.ResolveTimeout = 5 * time.Minute
	a := ev(0, "alertname", "NoEndsAt")
	s.apply(t0, []ingest.Event{a}, &set)
	s.apply(t0.Add(2*time.Minute), []ingest.Event{ev(2*time.Minute, "alertname", "NoEndsAt")}, &set)

	// 5m after the last event, not after the first.
	b := s.apply(t0.Add(6*time.Minute+59*time.Second), nil, &set)
	require.Empty(t, alertChanges(b))
	require.Equal(t, uint64(0), b.Seq, "an idle tick is not a batch")
	b = s.apply(t0.Add(7*time.Minute), nil, &set)
	require.Equal(t, []ChangeKind{AlertResolved}, kinds(b))
	require.True(t, alertChanges(b)[0].Expired)
	got := get(t, s, a.Fingerprint)
	require.Equal(t, ingest.StatusResolved, got.Status)
	require.Equal(t, t0.Add(7*time.Minute), got.ResolvedAt())

	// Resolved alerts leave memory after the retention.
	set.ResolvedRetention = time.Hour
	s.apply(t0.Add(7*time.Minute+59*time.Minute), nil, &set)
	require.NotNil(t, get(t, s, a.Fingerprint))
	s.apply(t0.Add(7*time.Minute+time.Hour), nil, &set)
	require.Nil(t, get(t, s, a.Fingerprint))
	require.Empty(t, s.alerts)
}

func TestExpiryAtEndsAt(t *testing.T) {
	s, set := newState(), DefaultSettings()
	// Prometheus sends endsAt a few intervals ahead and moves it on each
	// resend; the alert resolves at the last endsAt.
	s.apply(t0, []ingest.Event{withEndsAt(ev(0, "alertname", "A"), 4*time.Minute)}, &set)
	s.apply(t0.Add(time.Minute), []ingest.Event{withEndsAt(ev(time.Minute, "alertname", "A"), 5*time.Minute)}, &set)
	require.Empty(t, alertChanges(s.apply(t0.Add(4*time.Minute+30*time.Second), nil, &set)), "the first endsAt was superseded")
	b := s.apply(t0.Add(5*time.Minute), nil, &set)
	require.Equal(t, []ChangeKind{AlertResolved}, kinds(b))
	require.Equal(t, t0.Add(5*time.Minute), alertChanges(b)[0].Alert.ResolvedAt())
	require.Equal(t, t0.Add(5*time.Minute), alertChanges(b)[0].Alert.EndsAt())
}

func TestTimerMovesEarlier(t *testing.T) {
	s, set := newState(), DefaultSettings()
	s.apply(t0, []ingest.Event{withEndsAt(ev(0, "alertname", "A"), 10*time.Minute)}, &set)
	// A later event without endsAt brings expiry forward to 1m+5m.
	s.apply(t0.Add(time.Minute), []ingest.Event{ev(time.Minute, "alertname", "A")}, &set)
	b := s.apply(t0.Add(6*time.Minute), nil, &set)
	require.Equal(t, []ChangeKind{AlertResolved}, kinds(b))
	require.Empty(t, alertChanges(s.apply(t0.Add(11*time.Minute), nil, &set)), "the superseded timer is stale")
}

// TestBatchingDoesNotChangeOutcome replays one stream in one batch, in
// single-event batches and with ticks between, and requires the same rows:
// the engine must be deterministic in the events and their receive times.
func TestBatchingDoesNotChangeOutcome(t *testing.T) {
	var stream []ingest.Event
	for i := 0; i < 400; i++ {
		if i >= 100 && i < 160 || i >= 200 && i < 234 || i >= 300 && i < 380 {
			continue // quiet: 7, 4 and 9 minutes
		}
		at := time.Duration(i) * 7 * time.Second
		host := []string{"h1", "h2", "h3", "h4", "h5"}[i%5]
		e := ev(at, "alertname", "Down", "instance", host, "severity", []string{"critical", "warning"}[i%2])
		switch i % 11 {
		case 3:
			e = resolved(e, at)
		case 5:
			e = withEndsAt(e, at+90*time.Second)
		}
		stream = append(stream, e)
	}
	end := stream[len(stream)-1].ReceivedAt

	run := func(split func(s *state, set *Settings, apply func(time.Time, []ingest.Event))) map[string]string {
		s, set := newState(), shortTimers()
		// The newest version of each incident from the change stream:
		// closed incidents leave memory, their changes stay.
		incs := map[uint64]*incident.Incident{}
		split(s, &set, func(now time.Time, evs []ingest.Event) {
			for _, c := range s.apply(now, evs, &set).Changes {
				if c.Incident != nil {
					incs[c.Incident.Seq] = c.Incident
				}
			}
		})
		out := map[string]string{}
		for a := range AlertsFrom(s.db.Txn(false), 0) {
			out[a.Fingerprint.String()] = a.Status.String() + a.ResolvedAt().String() + a.StartsAt().String() + a.FirstSeen().String() + a.Severity.String() + fmt.Sprint(a.IncidentSeq)
		}
		for _, inc := range incs {
			sum := fmt.Sprint(inc.State, " ", inc.Priority, inc.Alerts, inc.OpenedAt, inc.ResolvedAt, inc.ClosedAt)
			for _, e := range inc.Timeline {
				sum += fmt.Sprint(e.At, e.Kind, e.Fingerprint, e.To)
				if e.Kind == incident.EntryState {
					sum += " " + e.From + ">" + e.To + " "
				}
			}
			out[inc.ID()] = sum
		}
		return out
	}
	whole := run(func(s *state, set *Settings, apply func(time.Time, []ingest.Event)) {
		apply(end, append([]ingest.Event(nil), stream...))
	})
	single := run(func(s *state, set *Settings, apply func(time.Time, []ingest.Event)) {
		for i := range stream {
			apply(stream[i].ReceivedAt, stream[i:i+1])
		}
	})
	ticked := run(func(s *state, set *Settings, apply func(time.Time, []ingest.Event)) {
		for i := range stream {
			apply(stream[i].ReceivedAt.Add(-time.Second), nil)
			apply(stream[i].ReceivedAt, stream[i:i+1])
		}
	})
	require.NotEmpty(t, whole)
	require.Equal(t, single, whole)
	require.Equal(t, single, ticked)

	// The stream must exercise the incident timers: resolve and reopen,
	// resolve and close.
	var all string
	for k, v := range whole {
		if strings.HasPrefix(k, "INC") {
			all += k + ": " + v + "\n"
		}
	}
	for _, tr := range []string{" new>resolved ", " resolved>new ", " resolved>closed "} {
		require.Contains(t, all, tr)
	}
}

func TestResolveBeforeDefaultedStartStillResolvesFirstEpisode(t *testing.T) {
	s, set := newState(), DefaultSettings()
	// The firing event gave no startsAt (so it is the receive time); the
	// resolve's endsAt is earlier than that. Only a re-fired alert can get
	// a late resolve, so this one resolves.
	a := ev(time.Minute, "alertname", "NoStart")
	s.apply(t0.Add(time.Minute), []ingest.Event{a}, &set)
	r := resolved(ev(2*time.Minute, "alertname", "NoStart"), 30*time.Second)
	r.StartsAt = t0.Add(30 * time.Second)
	b := s.apply(t0.Add(2*time.Minute), []ingest.Event{r}, &set)
	require.Equal(t, []ChangeKind{AlertResolved}, kinds(b))
	require.Equal(t, t0.Add(time.Minute), alertChanges(b)[0].Alert.ResolvedAt(), "not before its start")
}

func pdEvent(at time.Duration, key string) ingest.Event {
	e := ev(at, "dedup_key", key, "source", "db1", "class", "disk")
	e.Source = ingest.SourcePagerDuty
	e.Identity = []string{"dedup_key"}
	e.Fingerprint = e.Labels.FingerprintOf(e.Identity)
	e.Annotations = ingest.NewLabels(ingest.Label{Name: "summary", Value: "disk full"})
	e.Severity, e.RawSeverity = ingest.SeverityMajor, "error"
	return e
}

// pdBare is a PagerDuty acknowledge or resolve: only the dedup_key.
func pdBare(at time.Duration, key string, ack bool) ingest.Event {
	e := ev(at, "dedup_key", key)
	e.Source = ingest.SourcePagerDuty
	e.Identity = []string{"dedup_key"}
	e.Fingerprint = e.Labels.FingerprintOf(e.Identity)
	if ack {
		e.Acknowledge = true
	} else {
		e.Status = ingest.StatusResolved
	}
	return e
}

func TestAcknowledgeAndResolveKeepTheDescription(t *testing.T) {
	s, set := newState(), DefaultSettings()
	trig := pdEvent(0, "k1")
	s.apply(t0, []ingest.Event{trig}, &set)

	b := s.apply(t0.Add(time.Minute), []ingest.Event{pdBare(time.Minute, "k1", true)}, &set)
	require.Equal(t, []ChangeKind{AlertUpdated}, kinds(b))
	got := get(t, s, trig.Fingerprint)
	require.True(t, got.Acknowledged)
	require.Equal(t, trig.Labels, got.Labels, "an acknowledge carries no labels to replace them with")
	require.Equal(t, trig.Annotations, got.Annotations)
	require.Equal(t, ingest.SeverityMajor, got.Severity)

	b = s.apply(t0.Add(2*time.Minute), []ingest.Event{pdBare(2*time.Minute, "k1", true)}, &set)
	require.Empty(t, alertChanges(b), "a second acknowledge changes nothing")

	b = s.apply(t0.Add(3*time.Minute), []ingest.Event{pdBare(3*time.Minute, "k1", false)}, &set)
	require.Equal(t, []ChangeKind{AlertResolved}, kinds(b))
	got = get(t, s, trig.Fingerprint)
	require.Equal(t, ingest.StatusResolved, got.Status)
	require.Equal(t, trig.Labels, got.Labels, "a resolve carries no labels to replace them with")
	require.Equal(t, ingest.SeverityMajor, got.Severity)
	require.Equal(t, uint64(4), got.Count())

	// An acknowledge of a resolved alert does not make it fire again.
	b = s.apply(t0.Add(4*time.Minute), []ingest.Event{pdBare(4*time.Minute, "k1", true)}, &set)
	require.Empty(t, alertChanges(b))
	require.Equal(t, ingest.StatusResolved, get(t, s, trig.Fingerprint).Status)

	// Acknowledges and resolves of unknown alerts make no row.
	b = s.apply(t0.Add(5*time.Minute), []ingest.Event{pdBare(5*time.Minute, "nope", true), pdBare(5*time.Minute, "nope2", false)}, &set)
	require.Empty(t, alertChanges(b))
	require.Equal(t, 2, b.Ignored)
	require.Len(t, s.alerts, 1)
}

func TestExplicitlyResolvingSourcesDoNotExpire(t *testing.T) {
	s, set := newState(), DefaultSettings()
	set.ResolveTimeout = time.Minute
	pd := pdEvent(0, "k1")
	am := ev(0, "alertname", "FromAM")
	am.Source = ingest.SourceAlertmanager
	prom := ev(0, "alertname", "FromProm")
	s.apply(t0, []ingest.Event{pd, am, prom}, &set)
	b := s.apply(t0.Add(24*time.Hour), nil, &set)
	require.Len(t, alertChanges(b), 1, "only the Prometheus alert expires")
	require.Equal(t, prom.Fingerprint, alertChanges(b)[0].Alert.Fingerprint)
	require.Equal(t, ingest.StatusFiring, get(t, s, pd.Fingerprint).Status)
	require.Equal(t, ingest.StatusFiring, get(t, s, am.Fingerprint).Status)

	// An Alertmanager alert with an endsAt does resolve at it.
	am2 := withEndsAt(ev(24*time.Hour, "alertname", "FromAM2"), 25*time.Hour)
	am2.Source = ingest.SourceAlertmanager
	s.apply(t0.Add(24*time.Hour), []ingest.Event{am2}, &set)
	b = s.apply(t0.Add(25*time.Hour), nil, &set)
	require.Equal(t, []ChangeKind{AlertResolved}, kinds(b))
}

// A far-future endsAt ("until resolved") and an ancient startsAt are
// outside int64 nanoseconds; they must not wrap around and resolve the
// alert at once or put its start after its end.
func TestTimesOutsideNanosecondRangeAreClamped(t *testing.T) {
	s, set := newState(), DefaultSettings()
	a := ev(0, "alertname", "Forever")
	a.EndsAt = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	a.StartsAt = time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)
	s.apply(t0, []ingest.Event{a}, &set)

	b := s.apply(t0.Add(24*time.Hour), nil, &set)
	require.Empty(t, alertChanges(b), "the alert must not expire")
	got := get(t, s, a.Fingerprint)
	require.Equal(t, ingest.StatusFiring, got.Status)
	require.Equal(t, time.Unix(0, math.MaxInt64).UTC(), got.EndsAt())
	require.Equal(t, time.Unix(0, math.MinInt64).UTC(), got.StartsAt())

	r := resolved(ev(time.Hour, "alertname", "Forever"), time.Hour)
	b = s.apply(t0.Add(time.Hour), []ingest.Event{r}, &set)
	require.Equal(t, []ChangeKind{AlertResolved}, kinds(b))
	require.Equal(t, t0.Add(time.Hour), get(t, s, a.Fingerprint).ResolvedAt())
}

// TestAlertRowsKeepOnlyWhatTheyShow: a row's labels and annotations are
// copied out of the event's string (which also holds its generator URL),
// and the strings alerts share (URL, source, raw severity) are one copy.
func TestAlertRowsKeepOnlyWhatTheyShow(t *testing.T) {
	body := `[` +
		`{"labels":{"alertname":"Down","instance":"h1","severity":"crit"},"annotations":{"summary":"h1 down"},"generatorURL":"http://prom:9090/graph?g0.expr=up"},` +
		`{"labels":{"alertname":"Down","instance":"h2","severity":"crit"},"annotations":{"summary":"h2 down"},"generatorURL":"http://prom:9090/graph?g0.expr=up"}]`
	evs, err := ingest.ParsePrometheus([]byte(body), t0)
	require.NoError(t, err)
	s, set := newState(), DefaultSettings()
	s.apply(t0, evs, &set)

	within := func(sub, whole string) bool {
		p, w := uintptr(unsafe.Pointer(unsafe.StringData(sub))), uintptr(unsafe.Pointer(unsafe.StringData(whole)))
		return p >= w && p < w+uintptr(len(whole))
	}
	var rows []*Alert
	for i := range evs {
		a := get(t, s, evs[i].Fingerprint)
		require.NotNil(t, a)
		rows = append(rows, a)
		require.Equal(t, evs[i].Labels, a.Labels)
		require.Equal(t, evs[i].Annotations, a.Annotations)
		require.Equal(t, "http://prom:9090/graph?g0.expr=up", a.GeneratorURL())
		require.Equal(t, "crit", a.RawSeverity())
		require.Equal(t, ingest.SourcePrometheus, a.Source())
		require.False(t, within(string(a.Labels), string(evs[i].Labels)), "row labels still point into the event")
		require.False(t, within(a.GeneratorURL(), evs[i].GeneratorURL), "row URL still points into the event")
	}
	require.Equal(t, unsafe.StringData(rows[0].GeneratorURL()), unsafe.StringData(rows[1].GeneratorURL()), "one copy of a shared URL")
	require.Equal(t, "h1 down", rows[0].JSON().Annotations["summary"])
}

// shortTimers are settings with short alert and incident timers, so that
// the gaps in a test stream of minutes resolve, reopen, close and remove
// incidents, and end flapping.
func shortTimers() Settings {
	set := DefaultSettings()
	set.ResolveTimeout = 2 * time.Minute
	set.ResolvedRetention = 10 * time.Minute
	set.ResolveHold = 30 * time.Second
	set.ReopenWindow = 3 * time.Minute
	set.CloseAfter = 4 * time.Minute
	set.ClosedRetention = 5 * time.Minute
	set.FlapWindow = time.Minute
	return set
}

// TestSourceIsTheFirstEvents: a later event describing the alert from
// another source (the same alert through Alertmanager's webhook, say)
// updates what it describes but not where the alert came from.
func TestSourceIsTheFirstEvents(t *testing.T) {
	s, set := newState(), DefaultSettings()
	first := ev(0, "alertname", "Down", "severity", "critical")
	first.Producer = "prom-1"
	s.apply(t0, []ingest.Event{first}, &set)
	again := ev(time.Second, "alertname", "Down", "severity", "critical")
	again.Source, again.Producer = ingest.SourceAlertmanager, "am-1"
	again.Annotations = ingest.NewLabels(ingest.Label{Name: "summary", Value: "now with a summary"})
	s.apply(t0.Add(time.Second), []ingest.Event{again}, &set)
	a := get(t, s, first.Fingerprint)
	require.Equal(t, uint64(2), a.Version, "the annotations changed")
	require.Equal(t, ingest.SourcePrometheus, a.Source())
	require.Equal(t, "prom-1", a.Producer())
}
