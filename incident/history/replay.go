package history

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/ingest"
)

// StoredEvent is an event read back for a replay, with the incident the
// live engine put its alert in ("" for none).
type StoredEvent struct {
	Event      ingest.Event
	IncidentID string
}

// ScanEvents calls f with every event received in [from, to), in the
// order the engine applied them (receive time, writer run, batch, index),
// each once. It stops at the first error f returns.
func (s *Store) ScanEvents(ctx context.Context, from, to time.Time, f func(*StoredEvent) error) error {
	if err := s.Prepare(ctx); err != nil {
		return err
	}
	cond, args := Range{From: from, To: to}.cond("received_at", "received_ns")
	// FINAL: a replay reads every row once, and sorting them by time is
	// the server's work either way.
	rows, err := s.conn.Query(ctx, "SELECT "+eventColumns+" FROM "+s.table(TableEvents)+" FINAL WHERE "+cond+
		" ORDER BY received_ns, run, seq, idx", args...)
	if err != nil {
		return fmt.Errorf("querying events: %w", err)
	}
	defer rows.Close()
	var se StoredEvent
	for rows.Next() {
		var r eventScan
		if err := rows.Scan(r.dest()...); err != nil {
			return fmt.Errorf("reading events: %w", err)
		}
		se.IncidentID = r.incident
		ev := &se.Event
		*ev = ingest.Event{Fingerprint: model.Fingerprint(r.fp), ReceivedAt: fromNs(r.recv), StartsAt: fromNs(r.starts), EndsAt: fromNs(r.ends),
			Source: ingest.Source(r.source), Producer: r.producer, Acknowledge: r.ack != 0, RawSeverity: r.rawSev, GeneratorURL: r.genURL,
			Labels: pairs(r.ln, r.lv), Annotations: pairs(r.an, r.av)}
		if r.status == "resolved" {
			ev.Status = ingest.StatusResolved
		}
		ev.Severity, _ = ingest.NormalizeSeverity(r.sev)
		if err := f(&se); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading events: %w", err)
	}
	return nil
}

func pairs(names, values []string) ingest.Labels {
	ps := make([]ingest.Label, 0, len(names))
	for i, n := range names {
		if i < len(values) {
			ps = append(ps, ingest.Label{Name: n, Value: values[i]})
		}
	}
	return ingest.NewLabels(ps...)
}
