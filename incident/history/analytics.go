package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/incident"
)

// The analytics read the history tables without FINAL where they can, and
// still never count a re-sent row twice:
//
//   - an incident's rule, group key, signature and opening time never
//     change between its versions, so counting distinct ids is exact on
//     any number of copies; its CIs and services only grow, so their
//     union over the versions is the last version's (or more, after a
//     restart of the writer, see tracker);
//   - what does change (priority, support group, acknowledged and
//     resolved times) is read with argMax(column, version): the newest
//     version, however many copies of each there are;
//   - events are counted as distinct (run, seq, idx) in two steps:
//     distinct idx per engine batch (run, seq), summed. A re-sent batch
//     repeats its rows exactly, so this is exact, and it costs a third of
//     what FINAL costs over millions of events on 18.16.

// ErrNotFound is returned for an incident history has no rows of.
var ErrNotFound = errors.New("not found in history")

// IncidentHistory is an incident as history last recorded it, with its
// whole timeline.
type IncidentHistory struct {
	incident.JSON
	Signature string   `json:"signature"`
	ProblemID string   `json:"problem_id,omitempty"`
	Services  []string `json:"services"`
	Severity  string   `json:"severity"`
}

// Incident returns the newest recorded version of the incident id and its
// timeline, or ErrNotFound.
func (s *Store) Incident(ctx context.Context, id string) (IncidentHistory, error) {
	var h IncidentHistory
	if err := s.Prepare(ctx); err != nil {
		return h, err
	}
	var (
		state, sev, signature, problem          string
		priority, impact, urgency               uint8
		version                                 uint64
		updated, opened, acked, resolved, closd int64
		cis, services                           []string
		fps                                     []uint64
	)
	row := s.conn.QueryRow(ctx, `SELECT version, updated_ns, opened_ns, toString(state), priority, impact, urgency, title, rule,
	group_key, signature, problem_id, ci_ids, probable_cause_ci, support_group, assignee, alert_fingerprints,
	toString(severity), acknowledged_ns, resolved_ns, closed_ns
FROM `+s.table(TableIncidents)+` WHERE id = ? ORDER BY version DESC LIMIT 1`, id)
	err := row.Scan(&version, &updated, &opened, &state, &priority, &impact, &urgency, &h.Title, &h.Rule,
		&h.GroupKey, &signature, &problem, &cis, &h.ProbableCause, &h.SupportGroup, &h.Assignee, &fps,
		&sev, &acked, &resolved, &closd)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return h, fmt.Errorf("incident %s: %w", id, ErrNotFound)
		}
		return h, fmt.Errorf("querying incident %s: %w", id, err)
	}
	st, err := incident.ParseState(state)
	if err != nil {
		return h, fmt.Errorf("incident %s: %w", id, err)
	}
	h.ID, h.Version, h.State, h.Priority, h.Impact, h.Urgency = id, version, st, incident.Priority(priority), int(impact), int(urgency)
	h.OpenedAt, h.UpdatedAt = fromNs(opened), fromNs(updated)
	h.AcknowledgedAt, h.ResolvedAt, h.ClosedAt = optTime(acked), optTime(resolved), optTime(closd)
	h.CIs, h.Signature, h.ProblemID, h.Severity = nonNil(cis), signature, problem, sev
	h.Alerts = make([]string, len(fps))
	for i, fp := range fps {
		h.Alerts[i] = model.Fingerprint(fp).String()
	}
	// Services: the union over the versions (see tracker).
	if err := s.conn.QueryRow(ctx, "SELECT groupUniqArrayArray(services) FROM "+s.table(TableIncidents)+" WHERE id = ?", id).Scan(&services); err != nil {
		return h, fmt.Errorf("querying incident %s: %w", id, err)
	}
	h.Services = nonNil(services)
	h.Timeline, err = s.timeline(ctx, id)
	return h, err
}

func (s *Store) timeline(ctx context.Context, id string) ([]incident.Entry, error) {
	rows, err := s.conn.Query(ctx, `SELECT entry, any(at_ns), any(kind), any(actor), any(from_state), any(to_state), any(fingerprint), any(message)
FROM `+s.table(TableIncidentTimeline)+` WHERE incident_id = ? GROUP BY entry ORDER BY entry`, id)
	if err != nil {
		return nil, fmt.Errorf("querying timeline of %s: %w", id, err)
	}
	defer rows.Close()
	tl := []incident.Entry{}
	for rows.Next() {
		var (
			entry             uint32
			at                int64
			kind, actor, from string
			to, msg           string
			fp                uint64
		)
		if err := rows.Scan(&entry, &at, &kind, &actor, &from, &to, &fp, &msg); err != nil {
			return nil, fmt.Errorf("reading timeline of %s: %w", id, err)
		}
		e := incident.Entry{At: fromNs(at), Actor: actor, Kind: incident.EntryKind(kind), Text: msg, From: from, To: to}
		if fp != 0 {
			e.Fingerprint = model.Fingerprint(fp).String()
		}
		tl = append(tl, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading timeline of %s: %w", id, err)
	}
	return tl, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Range is a time range of an analytics query: From <= t < To.
type Range struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// cond is the SQL condition on a table's DateTime column (prunes
// partitions and the primary index) and its nanosecond one (exact).
func (r Range) cond(dtCol, nsCol string) (string, []any) {
	from, to := unixNano(r.From), unixNano(r.To)
	return dtCol + " >= toDateTime(?) AND " + dtCol + " <= toDateTime(?) AND " + nsCol + " >= ? AND " + nsCol + " < ?",
		[]any{dateTime(from), dateTime(to), from, to}
}

// RecurringQuery selects the incidents opened in a range.
type RecurringQuery struct {
	Range
	// Limit is the length of each top list.
	Limit int
}

// Recurring is what comes back: which signatures, CIs and services have
// the most incidents.
type Recurring struct {
	Range
	Incidents  uint64           `json:"incidents"`
	Signatures []RecurringEntry `json:"signatures"`
	CIs        []RecurringEntry `json:"cis"`
	Services   []RecurringEntry `json:"services"`
}

// RecurringEntry is one line of a top list.
type RecurringEntry struct {
	// Key is the signature, CI id or service.
	Key string `json:"key"`
	// Rule and GroupKey are set for signatures.
	Rule      string `json:"rule,omitempty"`
	GroupKey  string `json:"group_key,omitempty"`
	Incidents uint64 `json:"incidents"`
	// Events are the events in the range that are in those incidents.
	Events       uint64    `json:"events"`
	FirstOpened  time.Time `json:"first_opened"`
	LastOpened   time.Time `json:"last_opened"`
	LastIncident string    `json:"last_incident"`
}

// incidentEvents is a subquery of (id, ev): distinct events per incident
// received in the range, without duplicates (see the top of the file).
func (s *Store) incidentEvents(r Range) (string, []any) {
	cond, args := r.cond("received_at", "received_ns")
	return `SELECT incident_id AS id, sum(u) AS ev FROM (
	SELECT incident_id, run, seq, uniqExact(idx) AS u FROM ` + s.table(TableEvents) + `
	WHERE ` + cond + ` AND incident_id != ''
	GROUP BY incident_id, run, seq
) GROUP BY incident_id`, args
}

// Recurring ranks signatures, CIs and services by the incidents opened in
// the range, in one pass over the incidents and the range's events.
func (s *Store) Recurring(ctx context.Context, q RecurringQuery) (Recurring, error) {
	out := Recurring{Range: q.Range, Signatures: []RecurringEntry{}, CIs: []RecurringEntry{}, Services: []RecurringEntry{}}
	if err := s.Prepare(ctx); err != nil {
		return out, err
	}
	cond, args := q.cond("opened_at", "opened_ns")
	evSQL, evArgs := s.incidentEvents(q.Range)
	// Aliases must not be column names: ClickHouse's aliases are global
	// to the query, and WHERE would read the aggregate.
	sql := `SELECT dk.1 AS dim, dk.2 AS key, count() AS incidents, sum(ev) AS events, any(rl), any(gk),
	min(opened), max(opened), argMax(id, opened)
FROM (
	SELECT id, sig, rl, gk, opened, cis, svcs, ev FROM (
		SELECT id, any(signature) AS sig, any(rule) AS rl, any(group_key) AS gk, any(opened_ns) AS opened,
			groupUniqArrayArray(ci_ids) AS cis, groupUniqArrayArray(services) AS svcs
		FROM ` + s.table(TableIncidents) + ` WHERE ` + cond + `
		GROUP BY id
	) ANY LEFT JOIN (` + evSQL + `) USING id
) ARRAY JOIN arrayConcat([('', ''), ('signature', sig)], arrayMap(c -> ('ci', c), cis), arrayMap(v -> ('service', v), svcs)) AS dk
GROUP BY dim, key
ORDER BY dim, incidents DESC, events DESC, key
LIMIT ` + strconv.Itoa(q.Limit) + ` BY dim`
	rows, err := s.conn.Query(ctx, sql, append(args, evArgs...)...)
	if err != nil {
		return out, fmt.Errorf("querying recurring incidents: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			dim, key, rule, gk, last string
			n, ev                    uint64
			first, lastNs            int64
		)
		if err := rows.Scan(&dim, &key, &n, &ev, &rule, &gk, &first, &lastNs, &last); err != nil {
			return out, fmt.Errorf("reading recurring incidents: %w", err)
		}
		e := RecurringEntry{Key: key, Incidents: n, Events: ev, FirstOpened: fromNs(first), LastOpened: fromNs(lastNs), LastIncident: last}
		switch dim {
		case "":
			out.Incidents = n
		case "signature":
			e.Rule, e.GroupKey = rule, gk
			out.Signatures = append(out.Signatures, e)
		case "ci":
			out.CIs = append(out.CIs, e)
		case "service":
			out.Services = append(out.Services, e)
		}
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("reading recurring incidents: %w", err)
	}
	return out, nil
}

// MTT is the mean (and median) time to acknowledge and to resolve the
// incidents opened in a range, overall and by priority, service and
// support group, each incident as last recorded.
type MTT struct {
	Range
	All            MTTEntry   `json:"all"`
	ByPriority     []MTTEntry `json:"by_priority"`
	ByService      []MTTEntry `json:"by_service"`
	BySupportGroup []MTTEntry `json:"by_support_group"`
}

// MTTEntry is one group's figures. Times to acknowledge count the
// incidents acknowledged (or taken on) so far, times to resolve those
// resolved so far; both from the incident's opening. Seconds; 0 when
// none.
type MTTEntry struct {
	Key          string  `json:"key"`
	Incidents    uint64  `json:"incidents"`
	Acknowledged uint64  `json:"acknowledged"`
	Resolved     uint64  `json:"resolved"`
	MTTASeconds  float64 `json:"mtta_seconds"`
	MTTRSeconds  float64 `json:"mttr_seconds"`
	MedianTTA    float64 `json:"median_tta_seconds"`
	MedianTTR    float64 `json:"median_ttr_seconds"`
}

// MTT computes the mean times to acknowledge and resolve.
func (s *Store) MTT(ctx context.Context, r Range) (MTT, error) {
	out := MTT{Range: r, ByPriority: []MTTEntry{}, ByService: []MTTEntry{}, BySupportGroup: []MTTEntry{}}
	if err := s.Prepare(ctx); err != nil {
		return out, err
	}
	cond, args := r.cond("opened_at", "opened_ns")
	// tta and ttr are -1 for not (yet) acknowledged or resolved.
	sql := `SELECT dk.1 AS dim, dk.2 AS key, count(), countIf(tta >= 0), countIf(ttr >= 0),
	sumIf(tta, tta >= 0), sumIf(ttr, ttr >= 0),
	quantileExactIf(0.5)(tta, tta >= 0), quantileExactIf(0.5)(ttr, ttr >= 0)
FROM (
	SELECT id, argMax(priority, version) AS prio, argMax(support_group, version) AS sg,
		groupUniqArrayArray(services) AS svcs,
		if(argMax(acknowledged_ns, version) > 0, argMax(acknowledged_ns, version) - any(opened_ns), -1) AS tta,
		if(argMax(resolved_ns, version) > 0, argMax(resolved_ns, version) - any(opened_ns), -1) AS ttr
	FROM ` + s.table(TableIncidents) + ` WHERE ` + cond + `
	GROUP BY id
) ARRAY JOIN arrayConcat([('', ''), ('priority', concat('P', toString(prio))), ('support_group', sg)],
	arrayMap(v -> ('service', v), svcs)) AS dk
GROUP BY dim, key
ORDER BY dim, key`
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return out, fmt.Errorf("querying mtta/mttr: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			dim          string
			e            MTTEntry
			sumA, sumR   int64
			medA, medR   int64
			nA, nR, nAll uint64
		)
		if err := rows.Scan(&dim, &e.Key, &nAll, &nA, &nR, &sumA, &sumR, &medA, &medR); err != nil {
			return out, fmt.Errorf("reading mtta/mttr: %w", err)
		}
		e.Incidents, e.Acknowledged, e.Resolved = nAll, nA, nR
		if nA > 0 {
			e.MTTASeconds, e.MedianTTA = float64(sumA)/float64(nA)/1e9, float64(medA)/1e9
		}
		if nR > 0 {
			e.MTTRSeconds, e.MedianTTR = float64(sumR)/float64(nR)/1e9, float64(medR)/1e9
		}
		switch dim {
		case "":
			out.All = e
		case "priority":
			out.ByPriority = append(out.ByPriority, e)
		case "service":
			out.ByService = append(out.ByService, e)
		case "support_group":
			out.BySupportGroup = append(out.BySupportGroup, e)
		}
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("reading mtta/mttr: %w", err)
	}
	return out, nil
}

// NoiseQuery selects the events (and alert changes) of a range.
type NoiseQuery struct {
	Range
	// Limit is the length of each top list.
	Limit int
	// MinChanges is how many firing/resolved changes in the range make
	// an alert flapping here.
	MinChanges int
}

// DefaultMinChanges is NoiseQuery.MinChanges by default: the engine's
// default flap threshold.
const DefaultMinChanges = 4

// Noise is how much of the event stream leads to incidents and which
// alerts make the most of it.
type Noise struct {
	Range
	Events            uint64  `json:"events"`
	EventsInIncidents uint64  `json:"events_in_incidents"`
	Incidents         uint64  `json:"incidents"`
	EventsPerIncident float64 `json:"events_per_incident"`
	MedianPerIncident float64 `json:"median_events_per_incident"`
	MaxPerIncident    uint64  `json:"max_events_per_incident"`
	// TopIncidents are the incidents with the most events in the range.
	TopIncidents   []IncidentNoise `json:"top_incidents"`
	NoisiestAlerts []AlertNoise    `json:"noisiest_alerts"`
	Flapping       []AlertFlaps    `json:"flapping_alerts"`
}

// IncidentNoise is an incident's event count.
type IncidentNoise struct {
	ID     string `json:"id"`
	Events uint64 `json:"events"`
}

// AlertNoise is an alert's event count.
type AlertNoise struct {
	Fingerprint string            `json:"fingerprint"`
	Alertname   string            `json:"alertname"`
	Labels      map[string]string `json:"labels"`
	Events      uint64            `json:"events"`
	Incidents   uint64            `json:"incidents"`
}

// AlertFlaps is an alert's firing/resolved changes.
type AlertFlaps struct {
	Fingerprint string            `json:"fingerprint"`
	Alertname   string            `json:"alertname"`
	Labels      map[string]string `json:"labels"`
	Changes     uint64            `json:"changes"`
	Opened      uint64            `json:"opened"`
	Resolved    uint64            `json:"resolved"`
	Incidents   []string          `json:"incidents"`
}

// Noise computes the noise figures of a range.
func (s *Store) Noise(ctx context.Context, q NoiseQuery) (Noise, error) {
	out := Noise{Range: q.Range, TopIncidents: []IncidentNoise{}, NoisiestAlerts: []AlertNoise{}, Flapping: []AlertFlaps{}}
	if err := s.Prepare(ctx); err != nil {
		return out, err
	}
	limit := strconv.Itoa(q.Limit)
	cond, args := q.cond("received_at", "received_ns")
	// Per incident ('' for none), without duplicates; the summary row has
	// key 0, the top incidents key 1.
	perIncident := `SELECT incident_id, sum(u) AS ev FROM (
	SELECT incident_id, run, seq, uniqExact(idx) AS u FROM ` + s.table(TableEvents) + ` WHERE ` + cond + `
	GROUP BY incident_id, run, seq
) GROUP BY incident_id`
	sql := `SELECT sum(ev), sumIf(ev, incident_id != ''), countIf(incident_id != ''),
	quantileExactIf(0.5)(ev, incident_id != ''), maxIf(ev, incident_id != ''),
	arrayMap(x -> x.1, arraySlice(arrayReverseSort(x -> (x.2, x.1), groupArrayIf((incident_id, ev), incident_id != '')), 1, ` + limit + `) AS top),
	arrayMap(x -> x.2, top)
FROM (` + perIncident + `)`
	var (
		med    uint64
		topIDs []string
		topEvs []uint64
	)
	err := s.conn.QueryRow(ctx, sql, args...).Scan(&out.Events, &out.EventsInIncidents, &out.Incidents, &med, &out.MaxPerIncident, &topIDs, &topEvs)
	if err != nil {
		return out, fmt.Errorf("querying events per incident: %w", err)
	}
	if out.Incidents > 0 {
		out.EventsPerIncident = float64(out.EventsInIncidents) / float64(out.Incidents)
		out.MedianPerIncident = float64(med)
	}
	for i, id := range topIDs {
		out.TopIncidents = append(out.TopIncidents, IncidentNoise{ID: id, Events: topEvs[i]})
	}

	rows, err := s.conn.Query(ctx, `SELECT fingerprint, sum(u) AS ev, uniqExactIf(incident_id, incident_id != ''), any(ln), any(lv) FROM (
	SELECT fingerprint, run, seq, incident_id, uniqExact(idx) AS u, any(label_names) AS ln, any(label_values) AS lv
	FROM `+s.table(TableEvents)+` WHERE `+cond+`
	GROUP BY fingerprint, run, seq, incident_id
) GROUP BY fingerprint ORDER BY ev DESC, fingerprint LIMIT `+limit, args...)
	if err != nil {
		return out, fmt.Errorf("querying noisiest alerts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			a      AlertNoise
			fp     uint64
			ln, lv []string
		)
		if err := rows.Scan(&fp, &a.Events, &a.Incidents, &ln, &lv); err != nil {
			return out, fmt.Errorf("reading noisiest alerts: %w", err)
		}
		a.Fingerprint, a.Labels = model.Fingerprint(fp).String(), zip(ln, lv)
		a.Alertname = a.Labels["alertname"]
		out.NoisiestAlerts = append(out.NoisiestAlerts, a)
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("reading noisiest alerts: %w", err)
	}

	// Flapping: alert changes are few, so FINAL is cheap here.
	cond, args = q.cond("changed_at", "changed_ns")
	frows, err := s.conn.Query(ctx, `SELECT fingerprint, countIf(kind = 'opened') AS o, countIf(kind = 'resolved') AS r,
	any(label_names), any(label_values), arrayFilter(x -> x != '', groupUniqArray(incident_id))
FROM `+s.table(TableAlertStates)+` FINAL WHERE `+cond+` AND kind IN ('opened', 'resolved')
GROUP BY fingerprint HAVING o + r >= ?
ORDER BY o + r DESC, fingerprint LIMIT `+limit, append(args, uint64(max(q.MinChanges, 1)))...)
	if err != nil {
		return out, fmt.Errorf("querying flapping alerts: %w", err)
	}
	defer frows.Close()
	for frows.Next() {
		var (
			a      AlertFlaps
			fp     uint64
			ln, lv []string
		)
		if err := frows.Scan(&fp, &a.Opened, &a.Resolved, &ln, &lv, &a.Incidents); err != nil {
			return out, fmt.Errorf("reading flapping alerts: %w", err)
		}
		a.Fingerprint, a.Labels, a.Changes = model.Fingerprint(fp).String(), zip(ln, lv), a.Opened+a.Resolved
		a.Alertname = a.Labels["alertname"]
		a.Incidents = nonNil(a.Incidents)
		out.Flapping = append(out.Flapping, a)
	}
	if err := frows.Err(); err != nil {
		return out, fmt.Errorf("reading flapping alerts: %w", err)
	}
	return out, nil
}
