package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
//   - events are counted with count(), except in the engine batches
//     (run, seq) that are there more than once (more rows than distinct
//     idx: an insert retried after the server had stored it), where
//     distinct (run, seq, idx) are counted. Finding those batches is one
//     GROUP BY over the range; with the counts it costs about a third of
//     FINAL over millions of events on 18.16 (see docs/benchmarks.md).

// ErrNotFound is returned for an incident history has no rows of.
var ErrNotFound = errors.New("not found in history")

// IncidentHistory is an incident as history last recorded it, with its
// whole timeline.
type IncidentHistory struct {
	incident.JSON
	Services []string `json:"services"`
	Severity string   `json:"severity"`
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
		respondDue, resolveDue                  int64
		respondBreached, resolveBreached        uint8
		cis, services                           []string
		fps                                     []uint64
	)
	row := s.conn.QueryRow(ctx, `SELECT version, updated_ns, opened_ns, toString(state), priority, impact, urgency, title, rule,
	group_key, signature, problem_id, ci_ids, probable_cause_ci, support_group, assignee, alert_fingerprints,
	toString(severity), acknowledged_ns, resolved_ns, closed_ns, respond_due_ns, resolve_due_ns, respond_breached, resolve_breached
FROM `+s.table(TableIncidents)+` WHERE id = ? ORDER BY version DESC LIMIT 1`, id)
	err := row.Scan(&version, &updated, &opened, &state, &priority, &impact, &urgency, &h.Title, &h.Rule,
		&h.GroupKey, &signature, &problem, &cis, &h.ProbableCause, &h.SupportGroup, &h.Assignee, &fps,
		&sev, &acked, &resolved, &closd, &respondDue, &resolveDue, &respondBreached, &resolveBreached)
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
	h.SLA = incident.SLAJSON{RespondDue: optTime(respondDue), ResolveDue: optTime(resolveDue),
		RespondBreached: respondBreached != 0, ResolveBreached: resolveBreached != 0}
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

// ProblemHistory is a problem as history last recorded it, with the
// incidents it links as history last recorded them.
type ProblemHistory struct {
	incident.ProblemJSON
	// ResolvedAt is when it was resolved (null while it is not);
	// ClosedAt when it closed.
	ResolvedAt *time.Time `json:"resolved_at"`
	ClosedAt   *time.Time `json:"closed_at"`
	// Services are those of its incidents.
	Services  []string          `json:"services"`
	Incidents []ProblemIncident `json:"incidents"`
}

// ProblemIncident is one incident of a problem, oldest first: when it
// opened and how long it took to acknowledge and resolve.
type ProblemIncident struct {
	ID             string            `json:"id"`
	Title          string            `json:"title"`
	State          incident.State    `json:"state"`
	Priority       incident.Priority `json:"priority"`
	OpenedAt       time.Time         `json:"opened_at"`
	AcknowledgedAt *time.Time        `json:"acknowledged_at"`
	ResolvedAt     *time.Time        `json:"resolved_at"`
	ClosedAt       *time.Time        `json:"closed_at"`
	Services       []string          `json:"services"`
}

// Problem returns the newest recorded version of the problem id and its
// incidents, or ErrNotFound. Incidents history has no row of (opened
// before history was on) are listed in incident_ids only.
func (s *Store) Problem(ctx context.Context, id string) (ProblemHistory, error) {
	var h ProblemHistory
	if err := s.Prepare(ctx); err != nil {
		return h, err
	}
	var (
		state                                        string
		occurrences                                  uint32
		version                                      uint64
		updated, opened, first, last, resolved, clsd int64
		incs, cis                                    []string
	)
	row := s.conn.QueryRow(ctx, `SELECT version, updated_ns, opened_ns, toString(state), title, signature, incident_ids, incident_count,
	ci_ids, workaround, runbook_url, root_cause, first_occurrence_ns, last_occurrence_ns, resolved_ns, closed_ns
FROM `+s.table(TableProblems)+` WHERE id = ? ORDER BY version DESC LIMIT 1`, id)
	err := row.Scan(&version, &updated, &opened, &state, &h.Title, &h.Signature, &incs, &occurrences,
		&cis, &h.Workaround, &h.RunbookURL, &h.RootCause, &first, &last, &resolved, &clsd)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return h, fmt.Errorf("problem %s: %w", id, ErrNotFound)
		}
		return h, fmt.Errorf("querying problem %s: %w", id, err)
	}
	if err := h.State.UnmarshalText([]byte(state)); err != nil {
		return h, fmt.Errorf("problem %s: %w", id, err)
	}
	h.ID, h.Version, h.IncidentIDs, h.CIs, h.Occurrences = id, version, nonNil(incs), nonNil(cis), int(occurrences)
	h.OpenedAt, h.UpdatedAt, h.FirstOccurrence, h.LastOccurrence = fromNs(opened), fromNs(updated), fromNs(first), fromNs(last)
	h.ResolvedAt, h.ClosedAt = optTime(resolved), optTime(clsd)
	h.Incidents, h.Services, err = s.problemIncidents(ctx, h.IncidentIDs)
	return h, err
}

// problemIncidents reads the incidents ids as last recorded, oldest
// first, and the union of their services.
func (s *Store) problemIncidents(ctx context.Context, ids []string) ([]ProblemIncident, []string, error) {
	out, services := []ProblemIncident{}, []string{}
	if len(ids) == 0 {
		return out, services, nil
	}
	rows, err := s.conn.Query(ctx, `SELECT id, argMax(title, version), toString(argMax(state, version)), argMax(priority, version),
	any(opened_ns) AS opened, argMax(acknowledged_ns, version), argMax(resolved_ns, version), argMax(closed_ns, version),
	groupUniqArrayArray(services)
FROM `+s.table(TableIncidents)+` WHERE has(?, id) GROUP BY id ORDER BY opened, id`, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("querying the incidents of a problem: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			pi                         ProblemIncident
			state                      string
			priority                   uint8
			opened, acked, res, closed int64
		)
		if err := rows.Scan(&pi.ID, &pi.Title, &state, &priority, &opened, &acked, &res, &closed, &pi.Services); err != nil {
			return nil, nil, fmt.Errorf("reading the incidents of a problem: %w", err)
		}
		if pi.State, err = incident.ParseState(state); err != nil {
			return nil, nil, fmt.Errorf("incident %s: %w", pi.ID, err)
		}
		pi.Priority, pi.OpenedAt = incident.Priority(priority), fromNs(opened)
		pi.AcknowledgedAt, pi.ResolvedAt, pi.ClosedAt = optTime(acked), optTime(res), optTime(closed)
		pi.Services = nonNil(pi.Services)
		for _, v := range pi.Services {
			if !slices.Contains(services, v) {
				services = append(services, v)
			}
		}
		out = append(out, pi)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading the incidents of a problem: %w", err)
	}
	slices.Sort(services)
	return out, services, nil
}

// nonNil is s, or an empty slice for nil.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
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
	// Rule and GroupKey are set for signatures, and ProblemID when one of
	// its incidents is in a problem: the problem of the newest such.
	Rule      string `json:"rule,omitempty"`
	GroupKey  string `json:"group_key,omitempty"`
	ProblemID string `json:"problem_id,omitempty"`
	Incidents uint64 `json:"incidents"`
	// Events are the events in the range that are in those incidents.
	Events       uint64    `json:"events"`
	FirstOpened  time.Time `json:"first_opened"`
	LastOpened   time.Time `json:"last_opened"`
	LastIncident string    `json:"last_incident"`
}

// resentBatches returns the engine batches (run, seq) with events in the
// range that are in the events table more than once. There are none
// unless an insert was retried after the server had stored it, and their
// rows collapse at the next merge.
//
// A batch's events go to the server in one INSERT, so each copy of a
// batch holds every idx from 0 to its length less one: a batch is there
// more than once exactly when it has more rows than max(idx) - min(idx)
// + 1. That holds for batches wholly inside the rows looked at, which is
// why the range is widened by an hour on each side: an engine batch's
// events are received within milliseconds of each other, never an hour
// apart. Cheaper than counting distinct idx by a factor of about three.
func (s *Store) resentBatches(ctx context.Context, r Range) ([][2]uint64, error) {
	from, to := dateTime(unixNano(r.From))-3600, dateTime(unixNano(r.To))+3600
	rows, err := s.conn.Query(ctx, "SELECT run, seq FROM "+s.table(TableEvents)+
		" WHERE received_at >= toDateTime(?) AND received_at <= toDateTime(?)"+
		" GROUP BY run, seq HAVING count() > max(idx) - min(idx) + 1", max(from, 0), to)
	if err != nil {
		return nil, fmt.Errorf("looking for re-sent event batches: %w", err)
	}
	defer rows.Close()
	var out [][2]uint64
	for rows.Next() {
		var b [2]uint64
		if err := rows.Scan(&b[0], &b[1]); err != nil {
			return nil, fmt.Errorf("looking for re-sent event batches: %w", err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// eventCounts is a subquery of (key, ev): the events received in the
// range (and matching where) per value of the expression key, each
// counted once. count() is exact outside the re-sent batches (from
// resentBatches); inside them distinct (run, seq, idx) are counted.
func (s *Store) eventCounts(r Range, resent [][2]uint64, key, where string) (string, []any) {
	cond, args := r.cond("received_at", "received_ns")
	cond += where
	events := s.table(TableEvents)
	if len(resent) == 0 {
		return "SELECT " + key + " AS key, count() AS ev FROM " + events + " WHERE " + cond + " GROUP BY key", args
	}
	var b strings.Builder
	b.WriteString("(run, seq) IN (")
	for i, r := range resent {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(%d, %d)", r[0], r[1])
	}
	b.WriteString(")")
	in := b.String()
	return `SELECT key, sum(c) AS ev FROM (
	SELECT ` + key + ` AS key, count() AS c FROM ` + events + ` WHERE ` + cond + ` AND NOT ` + in + ` GROUP BY key
	UNION ALL
	SELECT ` + key + ` AS key, uniqExact(run, seq, idx) AS c FROM ` + events + ` WHERE ` + cond + ` AND ` + in + ` GROUP BY key
) GROUP BY key`, append(append([]any{}, args...), args...)
}

// Recurring ranks signatures, CIs and services by the incidents opened in
// the range, in one pass over the incidents and the range's events.
func (s *Store) Recurring(ctx context.Context, q RecurringQuery) (Recurring, error) {
	out := Recurring{Range: q.Range, Signatures: []RecurringEntry{}, CIs: []RecurringEntry{}, Services: []RecurringEntry{}}
	if err := s.Prepare(ctx); err != nil {
		return out, err
	}
	cond, args := q.cond("opened_at", "opened_ns")
	resent, err := s.resentBatches(ctx, q.Range)
	if err != nil {
		return out, err
	}
	evSQL, evArgs := s.eventCounts(q.Range, resent, "incident_id", " AND incident_id != ''")
	// Aliases must not be column names: ClickHouse's aliases are global
	// to the query, and WHERE would read the aggregate.
	sql := `SELECT dk.1 AS dim, dk.2 AS key, count() AS incidents, sum(ev) AS events, any(rl), any(gk),
	min(opened), max(opened), argMax(id, opened), argMaxIf(pid, opened, pid != '')
FROM (
	SELECT id, sig, rl, gk, opened, cis, svcs, pid, ev FROM (
		SELECT id, any(signature) AS sig, any(rule) AS rl, any(group_key) AS gk, any(opened_ns) AS opened,
			groupUniqArrayArray(ci_ids) AS cis, groupUniqArrayArray(services) AS svcs, argMax(problem_id, version) AS pid
		FROM ` + s.table(TableIncidents) + ` WHERE ` + cond + `
		GROUP BY id
	) ANY LEFT JOIN (SELECT key AS id, ev FROM (` + evSQL + `)) USING id
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
			dim, key, rule, gk, last, prb string
			n, ev                         uint64
			first, lastNs                 int64
		)
		if err := rows.Scan(&dim, &key, &n, &ev, &rule, &gk, &first, &lastNs, &last, &prb); err != nil {
			return out, fmt.Errorf("reading recurring incidents: %w", err)
		}
		e := RecurringEntry{Key: key, Incidents: n, Events: ev, FirstOpened: fromNs(first), LastOpened: fromNs(lastNs), LastIncident: last}
		switch dim {
		case "":
			out.Incidents = n
		case "signature":
			e.Rule, e.GroupKey, e.ProblemID = rule, gk, prb
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
	resent, err := s.resentBatches(ctx, q.Range)
	if err != nil {
		return out, err
	}
	perIncident, pargs := s.eventCounts(q.Range, resent, "incident_id", "")
	sql := `SELECT sum(ev), sumIf(ev, key != ''), countIf(key != ''),
	quantileExactIf(0.5)(ev, key != ''), maxIf(ev, key != ''),
	arrayMap(x -> x.1, arraySlice(arrayReverseSort(x -> (x.2, x.1), groupArrayIf((key, ev), key != '')), 1, ` + limit + `) AS top),
	arrayMap(x -> x.2, top)
FROM (` + perIncident + `)`
	var (
		med    uint64
		topIDs []string
		topEvs []uint64
	)
	err = s.conn.QueryRow(ctx, sql, pargs...).Scan(&out.Events, &out.EventsInIncidents, &out.Incidents, &med, &out.MaxPerIncident, &topIDs, &topEvs)
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

	if out.NoisiestAlerts, err = s.noisiestAlerts(ctx, q.Range, resent, limit); err != nil {
		return out, err
	}

	// Flapping: alert changes are few, so FINAL is cheap here.
	cond, args := q.cond("changed_at", "changed_ns")
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

// noisiestAlerts ranks alerts by their events in two steps: the counts
// first, over every event in the range, then labels and incidents for the
// top alerts only.
func (s *Store) noisiestAlerts(ctx context.Context, r Range, resent [][2]uint64, limit string) ([]AlertNoise, error) {
	out := []AlertNoise{}
	events := s.table(TableEvents)
	cond, args := r.cond("received_at", "received_ns")
	counts, cargs := s.eventCounts(r, resent, "fingerprint", "")
	sql := "SELECT key, ev FROM (" + counts + ") ORDER BY ev DESC, key LIMIT " + limit
	rows, err := s.conn.Query(ctx, sql, cargs...)
	if err != nil {
		return out, fmt.Errorf("querying noisiest alerts: %w", err)
	}
	defer rows.Close()
	// at is each top alert's place in out.
	at := map[uint64]int{}
	var fps []string
	for rows.Next() {
		var (
			a  AlertNoise
			fp uint64
		)
		if err := rows.Scan(&fp, &a.Events); err != nil {
			return out, fmt.Errorf("reading noisiest alerts: %w", err)
		}
		a.Fingerprint = model.Fingerprint(fp).String()
		at[fp] = len(out)
		out = append(out, a)
		fps = append(fps, strconv.FormatUint(fp, 10))
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("reading noisiest alerts: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	in := strings.Join(fps, ", ")
	// Incidents: reads two narrow columns of the top alerts' events.
	rows, err = s.conn.Query(ctx, `SELECT fingerprint, uniqExactIf(incident_id, incident_id != '')
FROM `+events+` WHERE `+cond+` AND fingerprint IN (`+in+`) GROUP BY fingerprint`, args...)
	if err != nil {
		return out, fmt.Errorf("querying noisiest alerts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var fp, incs uint64
		if err := rows.Scan(&fp, &incs); err != nil {
			return out, fmt.Errorf("reading noisiest alerts: %w", err)
		}
		out[at[fp]].Incidents = incs
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("reading noisiest alerts: %w", err)
	}
	// Labels: from the alert's last recorded change (alert_states is
	// ordered by fingerprint), else from one of its events.
	if err := s.alertLabels(ctx, out, at, `SELECT fingerprint, argMax(label_names, changed_ns), argMax(label_values, changed_ns) FROM `+
		s.table(TableAlertStates)+` WHERE fingerprint IN (`+in+`) GROUP BY fingerprint`); err != nil {
		return out, err
	}
	var missing []string
	for i, a := range out {
		if a.Labels == nil {
			missing = append(missing, fps[i])
		}
	}
	if len(missing) > 0 {
		if err := s.alertLabels(ctx, out, at, `SELECT fingerprint, label_names, label_values FROM `+events+` WHERE `+cond+
			` AND fingerprint IN (`+strings.Join(missing, ", ")+`) LIMIT 1 BY fingerprint`, args...); err != nil {
			return out, err
		}
	}
	for i := range out {
		if out[i].Labels == nil {
			out[i].Labels = map[string]string{}
		}
	}
	return out, nil
}

// alertLabels sets the labels (and alertname) of the alerts in out from
// the (fingerprint, label_names, label_values) rows of query.
func (s *Store) alertLabels(ctx context.Context, out []AlertNoise, at map[uint64]int, query string, args ...any) error {
	rows, err := s.conn.Query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("querying labels of noisy alerts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			fp     uint64
			ln, lv []string
		)
		if err := rows.Scan(&fp, &ln, &lv); err != nil {
			return fmt.Errorf("reading labels of noisy alerts: %w", err)
		}
		a := &out[at[fp]]
		a.Labels = zip(ln, lv)
		a.Alertname = a.Labels["alertname"]
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading labels of noisy alerts: %w", err)
	}
	return nil
}
