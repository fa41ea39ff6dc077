package correlate

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/ingest"
)

// Alert is the state of one deduplicated alert as readers see it: a row of
// the "alerts" table. A row is immutable once inserted; the engine inserts
// a copy to change it. The counters that change with every duplicate
// (count, last_seen, ends_at) are the exception: they live in atomics that
// every version of the row shares, so a duplicate costs no memdb write.
type Alert struct {
	Fingerprint  model.Fingerprint
	Labels       ingest.Labels
	Annotations  ingest.Labels
	Status       ingest.Status
	Severity     ingest.Severity
	RawSeverity  string
	Source       ingest.Source
	Producer     string
	GeneratorURL string
	Acknowledged bool
	// FirstSeen is when the alert was first received; StartsAt is the
	// source's start of the current firing episode; ResolvedAt is zero
	// while firing.
	FirstSeen  time.Time
	StartsAt   time.Time
	ResolvedAt time.Time
	// Version counts the row's visible changes, from 1.
	Version uint64

	hot *hotCounters
}

type hotCounters struct {
	count    atomic.Uint64
	lastSeen atomic.Int64 // unix nanoseconds
	endsAt   atomic.Int64 // unix nanoseconds; 0 when the source gave none
}

// Count is the number of events received for the alert.
func (a *Alert) Count() uint64 { return a.hot.count.Load() }

// LastSeen is when the last event for the alert was received.
func (a *Alert) LastSeen() time.Time { return time.Unix(0, a.hot.lastSeen.Load()).UTC() }

// EndsAt is the last endsAt the source sent, zero if none.
func (a *Alert) EndsAt() time.Time {
	n := a.hot.endsAt.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
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
		RawSeverity:  a.RawSeverity,
		Source:       string(a.Source),
		Producer:     a.Producer,
		GeneratorURL: a.GeneratorURL,
		Acknowledged: a.Acknowledged,
		FirstSeen:    a.FirstSeen.UTC(),
		LastSeen:     a.LastSeen(),
		StartsAt:     a.StartsAt.UTC(),
		Count:        a.Count(),
		Version:      a.Version,
	}
	if t := a.EndsAt(); !t.IsZero() {
		j.EndsAt = &t
	}
	if !a.ResolvedAt.IsZero() {
		t := a.ResolvedAt.UTC()
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
				"id": {Name: "id", Unique: true, Indexer: fingerprintIndexer{}},
			},
		},
	}}
}

// fingerprintIndexer indexes alerts by fingerprint in big-endian order, so
// that iteration is in fingerprint order and LowerBound pages through it.
// memdb's UintFieldIndex encodes varints, which do not sort.
type fingerprintIndexer struct{}

func (fingerprintIndexer) FromObject(obj any) (bool, []byte, error) {
	a, ok := obj.(*Alert)
	if !ok {
		return false, nil, fmt.Errorf("fingerprint index: object is %T, not *Alert", obj)
	}
	return true, fpKey(a.Fingerprint), nil
}

func (fingerprintIndexer) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("fingerprint index: want one argument, got %d", len(args))
	}
	fp, ok := args[0].(model.Fingerprint)
	if !ok {
		return nil, fmt.Errorf("fingerprint index: argument is %T, not model.Fingerprint", args[0])
	}
	return fpKey(fp), nil
}

func fpKey(fp model.Fingerprint) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(fp))
	return b[:]
}
