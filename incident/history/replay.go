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
		var (
			id                            EventID
			fp                            uint64
			recv, evNs, starts, ends      int64
			source, producer, status, sev string
			ln, lv, an, av                []string
			ack                           uint8
		)
		ev := &se.Event
		*ev = ingest.Event{}
		if err := rows.Scan(&id.Run, &id.Seq, &id.Idx, &fp, &recv, &evNs, &starts, &ends, &source, &producer,
			&status, &sev, &ev.RawSeverity, &ln, &lv, &an, &av, &ev.GeneratorURL, &ack, &se.IncidentID); err != nil {
			return fmt.Errorf("reading events: %w", err)
		}
		ev.Fingerprint = model.Fingerprint(fp)
		ev.ReceivedAt, ev.StartsAt, ev.EndsAt = fromNs(recv), fromNs(starts), fromNs(ends)
		ev.Source, ev.Producer, ev.Acknowledge = ingest.Source(source), producer, ack != 0
		if status == "resolved" {
			ev.Status = ingest.StatusResolved
		}
		ev.Severity, _ = ingest.NormalizeSeverity(sev)
		ev.Labels, ev.Annotations = pairs(ln, lv), pairs(an, av)
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
