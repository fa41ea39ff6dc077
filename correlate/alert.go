package correlate

import (
	"encoding/json"
	"math"
	"sync/atomic"
	"time"
	"unique"

	"github.com/hashicorp/go-memdb"
	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
)

// Alert is the state of one deduplicated alert as readers see it, held in
// a page of the "alerts" table (pages.go). A version is immutable once
// committed; the engine puts a copy to change it. The counters that change with every duplicate
// (count, last_seen, ends_at) are the exception: they live in atomics that
// every version of the row shares, so a duplicate costs no memdb write.
type Alert struct {
	Fingerprint  model.Fingerprint
	Labels       ingest.Labels
	Annotations  ingest.Labels
	Status       ingest.Status
	Severity     ingest.Severity
	Acknowledged bool
	// Flapping is set while the alert changes state too often.
	Flapping bool
	// CI is the id of the CMDB CI the alert binds to; IncidentSeq the
	// sequence number of the incident it last joined, 0 for none.
	CI          string
	IncidentSeq uint64
	// Version counts the row's visible changes, from 1.
	Version uint64

	// Times are Unix nanoseconds rather than time.Time, 16 bytes less
	// each: at 100k alerts every byte of a row counts (see
	// docs/benchmarks.md). resolvedAt is 0 while firing.
	firstSeen, startsAt, resolvedAt int64

	hot *hotCounters
	// desc holds the strings that alerts of one rule, source or silence
	// share, interned: 8 bytes a row instead of 80, and one copy of each
	// generator URL instead of one per alert. The zero handle is all
	// empty.
	desc unique.Handle[alertDesc]
}

type alertDesc struct {
	source                           ingest.Source
	rawSeverity, producer, generator string
	suppressed, symptomOf            string
}

// RawSeverity is the severity as the source sent it, when it differs in
// spelling from Severity.
func (a *Alert) RawSeverity() string { return a.descr().rawSeverity }

// Source is the wire format the alert arrived in.
func (a *Alert) Source() ingest.Source { return a.descr().source }

// Producer is the sending system, when the source names one.
func (a *Alert) Producer() string { return a.descr().producer }

// GeneratorURL links to what generated the alert.
func (a *Alert) GeneratorURL() string { return a.descr().generator }

// Suppressed says why the alert joined no incident ("silence
// SIL0000001"); empty when it was not suppressed.
func (a *Alert) Suppressed() string { return a.descr().suppressed }

// SymptomOf is the probable cause of the alert's incident when the alert's
// CI depends on it: a symptom, attached to the cause's incident, that
// notifications need not page for.
func (a *Alert) SymptomOf() string { return a.descr().symptomOf }

func (a *Alert) descr() alertDesc {
	if a.desc == (unique.Handle[alertDesc]{}) {
		return alertDesc{}
	}
	return a.desc.Value()
}

// setDesc interns d as a's strings. Each string is interned on its own
// first, so the shared copy never holds on to an event's whole body.
func (a *Alert) setDesc(d alertDesc) {
	d.rawSeverity, d.producer, d.generator = intern(d.rawSeverity), intern(d.producer), intern(d.generator)
	d.suppressed, d.symptomOf = intern(d.suppressed), intern(d.symptomOf)
	d.source = ingest.Source(intern(string(d.source)))
	a.desc = unique.Make(d)
}

func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

func (a *Alert) setSuppressed(why string) {
	if d := a.descr(); d.suppressed != why {
		d.suppressed = why
		a.setDesc(d)
	}
}

func (a *Alert) setSymptomOf(cause string) {
	if d := a.descr(); d.symptomOf != cause {
		d.symptomOf = cause
		a.setDesc(d)
	}
}

// describe sets a's text from a describing event: labels, annotations,
// raw severity and URL. The labels and annotations are copied out of the
// event's string, which also holds its URL and other strings, so that the
// row keeps only what it shows. Source and producer are the first
// event's (first, below).
func (a *Alert) describe(ev *ingest.Event, first bool) {
	packed := string(ev.Labels) + string(ev.Annotations)
	a.Labels, a.Annotations = ingest.Labels(packed[:len(ev.Labels)]), ingest.Labels(packed[len(ev.Labels):])
	d := a.descr()
	d.rawSeverity = ev.RawSeverity
	if first {
		d.source, d.producer = ev.Source, ev.Producer
	}
	if ev.GeneratorURL != "" {
		d.generator = ev.GeneratorURL
	}
	a.setDesc(d)
}

type hotCounters struct {
	count    atomic.Uint64
	lastSeen atomic.Int64 // unix nanoseconds
	endsAt   atomic.Int64 // unix nanoseconds; 0 when the source gave none
}

// FirstSeen is when the alert was first received.
func (a *Alert) FirstSeen() time.Time { return fromUnixNano(a.firstSeen) }

// StartsAt is the source's start of the alert's current firing episode.
func (a *Alert) StartsAt() time.Time { return fromUnixNano(a.startsAt) }

// ResolvedAt is when the current episode ended, zero while firing.
func (a *Alert) ResolvedAt() time.Time {
	if a.resolvedAt == 0 {
		return time.Time{}
	}
	return fromUnixNano(a.resolvedAt)
}

// Count is the number of events received for the alert.
func (a *Alert) Count() uint64 { return a.hot.count.Load() }

// LastSeen is when the last event for the alert was received.
func (a *Alert) LastSeen() time.Time { return fromUnixNano(a.hot.lastSeen.Load()) }

// EndsAt is the last endsAt the source sent, zero if none.
func (a *Alert) EndsAt() time.Time {
	n := a.hot.endsAt.Load()
	if n == 0 {
		return time.Time{}
	}
	return fromUnixNano(n)
}

// AlertJSON is the API representation of an alert.
type AlertJSON struct {
	Fingerprint  string            `json:"fingerprint"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	Status       string            `json:"status"`
	Severity     string            `json:"severity"`
	RawSeverity  string            `json:"raw_severity,omitempty"`
	Source       string            `json:"source"`
	Producer     string            `json:"producer,omitempty"`
	GeneratorURL string            `json:"generator_url,omitempty"`
	Acknowledged bool              `json:"acknowledged"`
	Flapping     bool              `json:"flapping,omitempty"`
	CI           string            `json:"ci,omitempty"`
	IncidentID   string            `json:"incident_id,omitempty"`
	Suppressed   string            `json:"suppressed,omitempty"`
	SymptomOf    string            `json:"symptom_of,omitempty"`
	FirstSeen    time.Time         `json:"first_seen"`
	LastSeen     time.Time         `json:"last_seen"`
	StartsAt     time.Time         `json:"starts_at"`
	EndsAt       *time.Time        `json:"ends_at,omitempty"`
	ResolvedAt   *time.Time        `json:"resolved_at,omitempty"`
	Count        uint64            `json:"count"`
	Version      uint64            `json:"version"`
}

// JSON returns the API representation of a.
func (a *Alert) JSON() AlertJSON {
	j := AlertJSON{
		Fingerprint:  a.Fingerprint.String(),
		Labels:       a.Labels.Map(),
		Annotations:  a.Annotations.Map(),
		Status:       a.Status.String(),
		Severity:     a.Severity.String(),
		RawSeverity:  a.RawSeverity(),
		Source:       string(a.Source()),
		Producer:     a.Producer(),
		GeneratorURL: a.GeneratorURL(),
		Acknowledged: a.Acknowledged,
		Flapping:     a.Flapping,
		CI:           a.CI,
		Suppressed:   a.Suppressed(),
		SymptomOf:    a.SymptomOf(),
		FirstSeen:    a.FirstSeen(),
		LastSeen:     a.LastSeen(),
		StartsAt:     a.StartsAt(),
		Count:        a.Count(),
		Version:      a.Version,
	}
	if t := a.EndsAt(); !t.IsZero() {
		j.EndsAt = &t
	}
	if a.IncidentSeq != 0 {
		j.IncidentID = incident.ID(a.IncidentSeq)
	}
	if t := a.ResolvedAt(); !t.IsZero() {
		j.ResolvedAt = &t
	}
	return j
}

// MarshalJSON implements json.Marshaler.
func (a *Alert) MarshalJSON() ([]byte, error) { return json.Marshal(a.JSON()) }

const tableAlerts = "alerts"

func schema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableAlerts: {
			Name: tableAlerts,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: pageIndexer{}},
			},
		},
		incident.Table:        incident.TableSchema(),
		tableSilences:         silenceTable(),
		tableChanges:          changeTable(),
		incident.ProblemTable: incident.ProblemTableSchema(),
		// notifylog.go
		tableNotifications: notificationsTable(),
	}}
}

// Times outside what int64 nanoseconds hold (years 1678 to 2262) are
// clamped: time.Time.UnixNano is undefined there, and a far-future endsAt,
// which some senders use for "until resolved", must not wrap into the past
// and resolve the alert at once.
var (
	minUnixNano = time.Unix(0, math.MinInt64)
	maxUnixNano = time.Unix(0, math.MaxInt64)
)

func unixNano(t time.Time) int64 {
	// Seconds strictly inside the range cannot overflow: the common case,
	// on the hot path, without time.Time comparisons.
	if sec := t.Unix(); sec > math.MinInt64/int64(time.Second) && sec < math.MaxInt64/int64(time.Second) {
		return t.UnixNano()
	}
	switch {
	case t.Before(minUnixNano):
		return math.MinInt64
	case t.After(maxUnixNano):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time { return time.Unix(0, n).UTC() }
