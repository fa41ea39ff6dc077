package history

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
)

// EventQuery selects events, newest first.
type EventQuery struct {
	Matchers labels.Matchers
	// From and To bound the receive time: From <= received < To.
	From, To time.Time
	Limit    int
	// Before, when set, continues a listing after the page that ended
	// there (the page's NextPageToken).
	Before *Cursor
}

// Cursor is a position in the events' order (received time, then id).
type Cursor struct {
	ReceivedNs int64
	ID         EventID
}

func (c Cursor) String() string {
	return fmt.Sprintf("%d-%d-%d-%d", c.ReceivedNs, c.ID.Run, c.ID.Seq, c.ID.Idx)
}

// ParseCursor parses a page token.
func ParseCursor(s string) (Cursor, error) {
	p := strings.Split(s, "-")
	if len(p) != 4 {
		return Cursor{}, errors.New("not a page token")
	}
	var c Cursor
	var err error
	var idx uint64
	c.ReceivedNs, err = strconv.ParseInt(p[0], 10, 64)
	if err == nil {
		c.ID.Run, err = strconv.ParseUint(p[1], 10, 64)
	}
	if err == nil {
		c.ID.Seq, err = strconv.ParseUint(p[2], 10, 64)
	}
	if err == nil {
		idx, err = strconv.ParseUint(p[3], 10, 32)
		c.ID.Idx = uint32(idx)
	}
	if err != nil {
		return Cursor{}, errors.New("not a page token")
	}
	return c, nil
}

// EventJSON is an event as the API shows it.
type EventJSON struct {
	ID           string            `json:"id"`
	Fingerprint  string            `json:"fingerprint"`
	ReceivedAt   time.Time         `json:"received_at"`
	EventTime    time.Time         `json:"event_time"`
	StartsAt     *time.Time        `json:"starts_at,omitempty"`
	EndsAt       *time.Time        `json:"ends_at,omitempty"`
	Source       string            `json:"source"`
	Producer     string            `json:"producer,omitempty"`
	Status       string            `json:"status"`
	Severity     string            `json:"severity"`
	RawSeverity  string            `json:"raw_severity,omitempty"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	GeneratorURL string            `json:"generator_url,omitempty"`
	Acknowledge  bool              `json:"acknowledge,omitempty"`
	IncidentID   string            `json:"incident_id,omitempty"`
}

// EventPage is a page of events, newest first.
type EventPage struct {
	Events        []EventJSON `json:"events"`
	NextPageToken string      `json:"next_page_token,omitempty"`
}

// matcherSQL renders Alertmanager matchers as conditions on parallel
// name/value array columns. An absent label has the value "" (indexOf
// gives 0, and element 0 is the default), as in Alertmanager. Regexes are
// anchored like Alertmanager's; ClickHouse's match is RE2, Go's syntax.
func matcherSQL(ms labels.Matchers, names, values string) (string, []any) {
	var conds []string
	var args []any
	for _, m := range ms {
		v := values + "[indexOf(" + names + ", ?)]"
		switch m.Type {
		case labels.MatchEqual:
			conds = append(conds, v+" = ?")
		case labels.MatchNotEqual:
			conds = append(conds, v+" != ?")
		case labels.MatchRegexp:
			conds = append(conds, "match("+v+", ?)")
		case labels.MatchNotRegexp:
			conds = append(conds, "NOT match("+v+", ?)")
		}
		val := m.Value
		if m.Type == labels.MatchRegexp || m.Type == labels.MatchNotRegexp {
			val = "^(?:" + val + ")$"
		}
		args = append(args, m.Name, val)
	}
	return strings.Join(conds, " AND "), args
}

const eventColumns = `run, seq, idx, fingerprint, received_ns, event_ns, starts_ns, ends_ns, source, producer,
	toString(status), toString(severity), raw_severity, label_names, label_values, annotation_names, annotation_values,
	generator_url, acknowledge, incident_id`

// eventScan receives a row of eventColumns.
type eventScan struct {
	id                            EventID
	fp                            uint64
	recv, evNs, starts, ends      int64
	source, producer, status, sev string
	rawSev, genURL, incident      string
	ln, lv, an, av                []string
	ack                           uint8
}

func (r *eventScan) dest() []any {
	return []any{&r.id.Run, &r.id.Seq, &r.id.Idx, &r.fp, &r.recv, &r.evNs, &r.starts, &r.ends, &r.source, &r.producer,
		&r.status, &r.sev, &r.rawSev, &r.ln, &r.lv, &r.an, &r.av, &r.genURL, &r.ack, &r.incident}
}

// Events lists events matching q, newest first, without duplicates.
func (s *Store) Events(ctx context.Context, q EventQuery) (EventPage, error) {
	page := EventPage{Events: []EventJSON{}}
	if err := s.Prepare(ctx); err != nil {
		return page, err
	}
	cond, args := Range{From: q.From, To: q.To}.cond("received_at", "received_ns")
	where := []string{cond}
	if q.Before != nil {
		c := q.Before
		where = append(where, "(received_ns, run, seq, idx) < (?, ?, ?, ?)")
		args = append(args, c.ReceivedNs, c.ID.Run, c.ID.Seq, c.ID.Idx)
	}
	if cond, a := matcherSQL(q.Matchers, "label_names", "label_values"); cond != "" {
		where = append(where, cond)
		args = append(args, a...)
	}
	sql := "SELECT " + eventColumns + " FROM " + s.table(TableEvents) + " FINAL WHERE " + strings.Join(where, " AND ") +
		" ORDER BY received_ns DESC, run DESC, seq DESC, idx DESC LIMIT " + strconv.Itoa(q.Limit+1)
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return page, fmt.Errorf("querying events: %w", err)
	}
	defer rows.Close()
	var last Cursor
	for rows.Next() {
		var r eventScan
		if err := rows.Scan(r.dest()...); err != nil {
			return page, fmt.Errorf("reading events: %w", err)
		}
		if len(page.Events) == q.Limit {
			page.NextPageToken = last.String()
			break
		}
		last = Cursor{ReceivedNs: r.recv, ID: r.id}
		page.Events = append(page.Events, EventJSON{
			ID:           r.id.String(),
			Fingerprint:  model.Fingerprint(r.fp).String(),
			ReceivedAt:   fromNs(r.recv),
			EventTime:    fromNs(r.evNs),
			StartsAt:     optTime(r.starts),
			EndsAt:       optTime(r.ends),
			Source:       r.source,
			Producer:     r.producer,
			Status:       r.status,
			Severity:     r.sev,
			RawSeverity:  r.rawSev,
			Labels:       zip(r.ln, r.lv),
			Annotations:  zip(r.an, r.av),
			GeneratorURL: r.genURL,
			Acknowledge:  r.ack != 0,
			IncidentID:   r.incident,
		})
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("reading events: %w", err)
	}
	return page, nil
}

func zip(names, values []string) map[string]string {
	m := make(map[string]string, len(names))
	for i, n := range names {
		if i < len(values) {
			m[n] = values[i]
		}
	}
	return m
}

func optTime(ns int64) *time.Time {
	if ns == 0 {
		return nil
	}
	t := fromNs(ns)
	return &t
}

// AlertStateJSON is one recorded change of an alert.
type AlertStateJSON struct {
	ChangedAt    time.Time         `json:"changed_at"`
	Change       string            `json:"change"`
	Expired      bool              `json:"expired,omitempty"`
	Version      uint64            `json:"version"`
	Status       string            `json:"status"`
	Severity     string            `json:"severity"`
	RawSeverity  string            `json:"raw_severity,omitempty"`
	Source       string            `json:"source"`
	Producer     string            `json:"producer,omitempty"`
	GeneratorURL string            `json:"generator_url,omitempty"`
	Acknowledged bool              `json:"acknowledged"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	FirstSeen    time.Time         `json:"first_seen"`
	StartsAt     time.Time         `json:"starts_at"`
	EndsAt       *time.Time        `json:"ends_at,omitempty"`
	ResolvedAt   *time.Time        `json:"resolved_at,omitempty"`
	LastSeen     time.Time         `json:"last_seen"`
	Count        uint64            `json:"count"`
	IncidentID   string            `json:"incident_id,omitempty"`
}

// AlertHistory is an alert's recorded changes, oldest first.
type AlertHistory struct {
	Fingerprint string           `json:"fingerprint"`
	States      []AlertStateJSON `json:"states"`
	// Truncated is set when more than the limit exist; narrow the range.
	Truncated bool `json:"truncated,omitempty"`
}

// AlertStates returns the changes of the alert fp received in [from, to),
// oldest first, at most limit of them, without duplicates.
func (s *Store) AlertStates(ctx context.Context, fp model.Fingerprint, from, to time.Time, limit int) (AlertHistory, error) {
	h := AlertHistory{Fingerprint: fp.String(), States: []AlertStateJSON{}}
	if err := s.Prepare(ctx); err != nil {
		return h, err
	}
	cond, args := Range{From: from, To: to}.cond("changed_at", "changed_ns")
	sql := `SELECT changed_ns, toString(kind), expired, version, toString(status), toString(severity), raw_severity,
	source, producer, generator_url, acknowledged, label_names, label_values, annotation_names, annotation_values,
	first_seen_ns, starts_ns, ends_ns, resolved_ns, last_seen_ns, count, incident_id
FROM ` + s.table(TableAlertStates) + ` FINAL
WHERE fingerprint = ? AND ` + cond + `
ORDER BY changed_ns, run, seq, version LIMIT ` + strconv.Itoa(limit+1)
	rows, err := s.conn.Query(ctx, sql, append([]any{uint64(fp)}, args...)...)
	if err != nil {
		return h, fmt.Errorf("querying alert states: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			j                                            AlertStateJSON
			changed, first, starts, ends, resolved, last int64
			expired, acked                               uint8
			ln, lv, an, av                               []string
		)
		if err := rows.Scan(&changed, &j.Change, &expired, &j.Version, &j.Status, &j.Severity, &j.RawSeverity,
			&j.Source, &j.Producer, &j.GeneratorURL, &acked, &ln, &lv, &an, &av,
			&first, &starts, &ends, &resolved, &last, &j.Count, &j.IncidentID); err != nil {
			return h, fmt.Errorf("reading alert states: %w", err)
		}
		if len(h.States) == limit {
			h.Truncated = true
			break
		}
		j.ChangedAt, j.FirstSeen, j.StartsAt, j.LastSeen = fromNs(changed), fromNs(first), fromNs(starts), fromNs(last)
		j.EndsAt, j.ResolvedAt = optTime(ends), optTime(resolved)
		j.Expired, j.Acknowledged = expired != 0, acked != 0
		j.Labels, j.Annotations = zip(ln, lv), zip(an, av)
		h.States = append(h.States, j)
	}
	if err := rows.Err(); err != nil {
		return h, fmt.Errorf("reading alert states: %w", err)
	}
	return h, nil
}
