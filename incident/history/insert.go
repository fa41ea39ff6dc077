package history

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sift-itsm/sift/ingest"
)

// Column lists of the inserts. PrepareBatch needs them: 18.16 refuses an
// INSERT without a column list from the native driver.
var insertColumns = map[string][]string{
	TableEvents: {"received_at", "received_ns", "run", "seq", "idx", "fingerprint", "event_ns", "starts_ns", "ends_ns",
		"source", "producer", "status", "severity", "raw_severity", "label_names", "label_values",
		"annotation_names", "annotation_values", "generator_url", "acknowledge", "incident_id"},
	TableAlertStates: {"changed_at", "changed_ns", "run", "seq", "fingerprint", "version", "kind", "expired",
		"status", "severity", "raw_severity", "source", "producer", "generator_url", "acknowledged",
		"label_names", "label_values", "annotation_names", "annotation_values",
		"first_seen_ns", "starts_ns", "ends_ns", "resolved_ns", "last_seen_ns", "count", "incident_id"},
	TableIncidents: {"opened_at", "id", "version", "updated_ns", "opened_ns", "state", "priority", "impact", "urgency",
		"title", "rule", "group_key", "signature", "problem_id", "ci_ids", "probable_cause_ci", "services",
		"support_group", "assignee", "alert_fingerprints", "severity", "acknowledged_ns", "resolved_ns", "closed_ns",
		"respond_due_ns", "resolve_due_ns", "respond_breached", "resolve_breached", "label_names", "label_values"},
	TableIncidentTimeline: {"at", "at_ns", "incident_id", "entry", "kind", "actor", "from_state", "to_state",
		"fingerprint", "message", "field_names", "field_values"},
	TableProblems: {"opened_at", "id", "version", "updated_ns", "opened_ns", "state", "title", "signature",
		"incident_ids", "incident_count", "ci_ids", "services", "workaround", "runbook_url",
		"root_cause", "first_occurrence_ns", "last_occurrence_ns", "resolved_ns", "closed_ns"},
	TableNotifications: {"at", "at_ns", "id", "attempt", "incident_id", "receiver", "integration", "status",
		"error", "duration_ns", "alert_fingerprints"},
}

// eventsInputColumns are the columns of the events inserts, into
// events_input2 (migration 3): each label set goes as two strings, its
// names and its values, each followed by 0xff.
var eventsInputColumns = []string{"received_at", "received_ns", "run", "seq", "idx", "fingerprint", "event_ns", "starts_ns", "ends_ns",
	"source", "producer", "status", "severity", "raw_severity",
	"packed_label_names", "packed_label_values", "packed_annotation_names", "packed_annotation_values",
	"generator_url", "acknowledge", "incident_id"}

// errInvalidRows marks rows the driver cannot encode for the table: no
// retry can fix them.
var errInvalidRows = errors.New("rows do not fit the table")

func (s *Store) insertSQL(table string) string {
	if table == TableEvents {
		return "INSERT INTO " + s.table(tableEventsInput) + " (" + strings.Join(eventsInputColumns, ", ") + ")"
	}
	return "INSERT INTO " + s.table(table) + " (" + strings.Join(insertColumns[table], ", ") + ")"
}

// Insert writes the rows of one table of r in one INSERT. It does
// nothing when r has no rows for the table.
func (s *Store) Insert(ctx context.Context, table string, r *Rows) error {
	i := slices.Index(Tables, table)
	if i < 0 {
		return fmt.Errorf("insert: unknown table %q", table)
	}
	if r.counts()[i] == 0 {
		return nil
	}
	if err := s.Prepare(ctx); err != nil {
		return err
	}
	b, err := s.conn.PrepareBatch(ctx, s.insertSQL(table))
	if err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	defer func() { _ = b.Close() }()
	switch table {
	case TableEvents:
		s.mu.Lock()
		phase := s.hourPhase
		s.mu.Unlock()
		s.encMu.Lock()
		err = s.enc.sendEvents(b, r.Events, phase)
		s.encMu.Unlock()
		if err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
		return nil
	case TableAlertStates:
		err = appendAlertStates(b, r.AlertStates)
	case TableIncidents:
		err = appendIncidents(b, r.Incidents)
	case TableIncidentTimeline:
		err = appendTimeline(b, r.Timeline)
	case TableProblems:
		err = appendProblems(b, r.Problems)
	case TableNotifications:
		err = appendNotifications(b, r.Notifications)
	}
	if err != nil {
		return fmt.Errorf("insert into %s: %w: %w", table, errInvalidRows, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return nil
}

// labelArrays splits label sets into name and value arrays. All arrays
// share two backing slices, and the strings are substrings of the packed
// labels: two allocations for the batch, not four a row.
type labelArrays struct {
	names, values [][]string
	nb, vb        []string
}

func newLabelArrays(rows, labels int) *labelArrays {
	return &labelArrays{
		names: make([][]string, 0, rows), values: make([][]string, 0, rows),
		nb: make([]string, 0, labels), vb: make([]string, 0, labels),
	}
}

func (a *labelArrays) add(ls ingest.Labels) {
	start := len(a.nb)
	for n, v := range ls.All() {
		a.nb = append(a.nb, n)
		a.vb = append(a.vb, v)
	}
	// Full slice expressions: a later append to nb must not write into
	// an earlier row's array.
	a.names = append(a.names, a.nb[start:len(a.nb):len(a.nb)])
	a.values = append(a.values, a.vb[start:len(a.vb):len(a.vb)])
}

// appendColumns appends whole columns, in insertColumns order.
func appendColumns(b driver.Batch, cols ...any) error {
	for i, c := range cols {
		if err := b.Column(i).Append(c); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return nil
}

func boolU8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// eventBuffers are the column buffers of an events insert, a chunk at a
// time, kept between inserts: the driver copies what is appended, so they
// are reused, and once they have grown a chunk allocates two strings
// here: its label names and its label values.
type eventBuffers struct {
	recvAt                                     []int64
	recvNs, eventNs, startsNs, endsNs          []int64
	run, seq, fp                               []uint64
	idx                                        []uint32
	source, producer, rawSev, genURL, incident []string
	lnames, lvalues, anames, avalues           []string
	status, severity                           []int8
	ack                                        []uint8
	// The sort (see sortEvents): the order of the rows, each row's
	// group, the groups and their order.
	order    []uint32
	rowGroup []int32
	groupOf  map[sortKey]int32
	groups   []sortGroup
	ranked   []int32
	// names and values hold the chunk's label and annotation names and
	// values (see splitLabels); ends are each row's ends in them.
	names, values []byte
	ends          [][2]labelEnds // in names, in values
}

// labelEnds are the ends of a row's labels and annotations in
// eventBuffers.names and values.
type labelEnds struct{ labels, annotations int }

// sortKey is the head of the events table's sorting key, ORDER BY
// (toStartOfHour(received_at), fingerprint, received_ns, run, seq, idx):
// rows that share it form a group.
type sortKey struct {
	hour int64
	fp   uint64
}

func (a sortKey) compare(b sortKey) int {
	if a.hour != b.hour {
		return cmp.Compare(a.hour, b.hour)
	}
	return cmp.Compare(a.fp, b.fp)
}

// sortGroup is a group's key, its rows and where they go in the order,
// and whether they arrived in the order of the rest of the key.
type sortGroup struct {
	key              sortKey
	rows, start, end int
	last             *EventRow
	unsorted         bool
}

// compareTail compares two rows of a group by the rest of the key.
func compareTail(x, y *EventRow) int {
	if x.ReceivedNs != y.ReceivedNs {
		return cmp.Compare(x.ReceivedNs, y.ReceivedNs)
	}
	if x.ID.Run != y.ID.Run {
		return cmp.Compare(x.ID.Run, y.ID.Run)
	}
	if x.ID.Seq != y.ID.Seq {
		return cmp.Compare(x.ID.Seq, y.ID.Seq)
	}
	return cmp.Compare(x.ID.Idx, y.ID.Idx)
}

// sortEvents returns the rows' indices in the events table's order. The
// server writes a block that comes in that order as it is; any other it
// permutes first, every column, which cost a sixth of its CPU per event.
// hourPhase is where the server's hours start, in seconds after the UTC
// hour (0 but for time zones a half or quarter hour off UTC).
//
// Most events of a batch repeat the alerts of a few others, and arrive in
// the order of the rest of the key: the rows are grouped by hour and
// fingerprint, the groups sorted, and a group's rows sorted only when
// they did not arrive in order. A sort of all rows cost the writer half a
// microsecond an event.
func (c *eventBuffers) sortEvents(rows []EventRow, hourPhase int64) []uint32 {
	if c.groupOf == nil {
		c.groupOf = map[sortKey]int32{}
	}
	clear(c.groupOf)
	c.groups = c.groups[:0]
	c.rowGroup = resize(c.rowGroup, len(rows))
	for i := range rows {
		k := sortKey{hour: (dateTime(rows[i].ReceivedNs) - hourPhase) / 3600, fp: rows[i].Fingerprint}
		g, ok := c.groupOf[k]
		if !ok {
			g = int32(len(c.groups))
			c.groupOf[k] = g
			c.groups = append(c.groups, sortGroup{key: k})
		}
		gr := &c.groups[g]
		if gr.last != nil && compareTail(gr.last, &rows[i]) > 0 {
			gr.unsorted = true
		}
		gr.rows++
		gr.last = &rows[i]
		c.rowGroup[i] = g
	}
	c.ranked = resize(c.ranked, len(c.groups))
	for i := range c.ranked {
		c.ranked[i] = int32(i)
	}
	slices.SortFunc(c.ranked, func(a, b int32) int { return c.groups[a].key.compare(c.groups[b].key) })
	at := 0
	for _, g := range c.ranked {
		c.groups[g].start, c.groups[g].end = at, at
		at += c.groups[g].rows
	}
	c.order = resize(c.order, len(rows))
	for i, g := range c.rowGroup {
		c.order[c.groups[g].end] = uint32(i)
		c.groups[g].end++
	}
	for i := range c.groups {
		g := &c.groups[i]
		if g.unsorted {
			slices.SortFunc(c.order[g.start:g.end], func(a, b uint32) int { return compareTail(&rows[a], &rows[b]) })
		}
		g.last = nil // keep no rows alive
	}
	return c.order
}

// splitLabels appends the names of a packed label set to c.names and its
// values to c.values, each followed by 0xff.
func (c *eventBuffers) splitLabels(ls ingest.Labels) {
	s := string(ls)
	for i := 0; i < len(s); {
		j := nextItem(s, i)
		k := nextItem(s, j)
		c.names = append(c.names, s[i:j]...)
		c.values = append(c.values, s[j:k]...)
		i = k
	}
}

// nextItem is the index after the 0xff that ends the item of packed
// labels at i.
func nextItem(s string, i int) int {
	if j := strings.IndexByte(s[i:], 0xff); j >= 0 {
		return i + j + 1
	}
	return len(s)
}

// eventChunkRows is how many events go to the server in one block of an
// insert. The server joins an insert's blocks into one part (up to
// min_insert_block_size_rows, a million by default), so the part is the
// same as for one block; the chunks bound the column buffers here and in
// the driver, which are reused from chunk to chunk instead of grown for
// the whole batch, and the server reads one chunk while the next is
// encoded.
const eventChunkRows = 16384

// sendEvents appends rows to b in the events table's order, a chunk at a
// time, and sends it. An error appending is errInvalidRows.
func (c *eventBuffers) sendEvents(b driver.Batch, rows []EventRow, hourPhase int64) error {
	order := c.sortEvents(rows, hourPhase)
	for len(order) > 0 {
		chunk := order[:min(len(order), eventChunkRows)]
		order = order[len(chunk):]
		if err := c.appendEvents(b, rows, chunk); err != nil {
			return fmt.Errorf("%w: %w", errInvalidRows, err)
		}
		send := b.Flush
		if len(order) == 0 {
			send = b.Send
		}
		if err := send(); err != nil {
			return err
		}
	}
	return nil
}

// appendEvents appends the rows of chunk, in its order, to b's columns.
func (c *eventBuffers) appendEvents(b driver.Batch, rows []EventRow, chunk []uint32) error {
	n := len(chunk)
	c.recvAt = resize(c.recvAt, n)
	c.recvNs, c.eventNs, c.startsNs, c.endsNs = resize(c.recvNs, n), resize(c.eventNs, n), resize(c.startsNs, n), resize(c.endsNs, n)
	c.run, c.seq, c.fp, c.idx = resize(c.run, n), resize(c.seq, n), resize(c.fp, n), resize(c.idx, n)
	c.source, c.producer, c.rawSev = resize(c.source, n), resize(c.producer, n), resize(c.rawSev, n)
	c.genURL, c.incident = resize(c.genURL, n), resize(c.incident, n)
	c.lnames, c.lvalues, c.anames, c.avalues = resize(c.lnames, n), resize(c.lvalues, n), resize(c.anames, n), resize(c.avalues, n)
	c.status, c.severity, c.ack = resize(c.status, n), resize(c.severity, n), resize(c.ack, n)
	c.ends = resize(c.ends, n)
	c.names, c.values = c.names[:0], c.values[:0]
	for i, row := range chunk {
		r := &rows[row]
		c.recvAt[i] = dateTime(r.ReceivedNs)
		c.recvNs[i], c.eventNs[i], c.startsNs[i], c.endsNs[i] = r.ReceivedNs, r.EventNs, r.StartsNs, r.EndsNs
		c.run[i], c.seq[i], c.idx[i], c.fp[i] = r.ID.Run, r.ID.Seq, r.ID.Idx, r.Fingerprint
		c.source[i], c.producer[i], c.rawSev[i], c.genURL[i], c.incident[i] = r.Source, r.Producer, r.RawSeverity, r.GeneratorURL, r.IncidentID
		c.splitLabels(r.Labels)
		ln, lv := len(c.names), len(c.values)
		c.splitLabels(r.Annotations)
		c.ends[i] = [2]labelEnds{{ln, len(c.names)}, {lv, len(c.values)}}
		c.status[i], c.severity[i] = int8(r.Status), int8(r.Severity)
		c.ack[i] = boolU8(r.Acknowledge)
	}
	// One string for the chunk's names and one for its values; each
	// row's are substrings of them.
	names, values := string(c.names), string(c.values)
	var n0, v0 int
	for i, e := range c.ends {
		c.lnames[i], c.anames[i] = names[n0:e[0].labels], names[e[0].labels:e[0].annotations]
		c.lvalues[i], c.avalues[i] = values[v0:e[1].labels], values[e[1].labels:e[1].annotations]
		n0, v0 = e[0].annotations, e[1].annotations
	}
	err := appendColumns(b, c.recvAt, c.recvNs, c.run, c.seq, c.idx, c.fp, c.eventNs, c.startsNs, c.endsNs,
		c.source, c.producer, c.status, c.severity, c.rawSev, c.lnames, c.lvalues, c.anames, c.avalues,
		c.genURL, c.ack, c.incident)
	// Keep no strings alive past the insert.
	for _, s := range [][]string{c.source, c.producer, c.rawSev, c.genURL, c.incident, c.lnames, c.lvalues, c.anames, c.avalues} {
		clear(s)
	}
	return err
}

// resize returns s with length n, reusing its array when it is large
// enough.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func appendAlertStates(b driver.Batch, rows []AlertStateRow) error {
	n := len(rows)
	var (
		changedAt                                          = make([]int64, n)
		changedNs, firstSeen, starts, ends, resolved, last = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		run, seq, fp, version, count                       = make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
		kind, status, severity                             = make([]int8, n), make([]int8, n), make([]int8, n)
		expired, acked                                     = make([]uint8, n), make([]uint8, n)
		rawSev, source, producer, genURL, incident         = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		labels, annots                                     = newLabelArrays(n, 8*n), newLabelArrays(n, 2*n)
	)
	for i := range rows {
		r := &rows[i]
		changedAt[i], changedNs[i] = dateTime(r.ChangedNs), r.ChangedNs
		firstSeen[i], starts[i], ends[i], resolved[i], last[i] = r.FirstSeenNs, r.StartsNs, r.EndsNs, r.ResolvedNs, r.LastSeenNs
		run[i], seq[i], fp[i], version[i], count[i] = r.Run, r.Seq, r.Fingerprint, r.Version, r.Count
		kind[i], status[i], severity[i] = int8(r.Kind), int8(r.Status), int8(r.Severity)
		expired[i], acked[i] = boolU8(r.Expired), boolU8(r.Acknowledged)
		rawSev[i], source[i], producer[i], genURL[i], incident[i] = r.RawSeverity, r.Source, r.Producer, r.GeneratorURL, r.IncidentID
		labels.add(r.Labels)
		annots.add(r.Annotations)
	}
	return appendColumns(b, changedAt, changedNs, run, seq, fp, version, kind, expired,
		status, severity, rawSev, source, producer, genURL, acked,
		labels.names, labels.values, annots.names, annots.values,
		firstSeen, starts, ends, resolved, last, count, incident)
}

// The other tables are low volume: row-wise appends are fast enough.

func appendIncidents(b driver.Batch, rows []IncidentRow) error {
	for i := range rows {
		r := &rows[i]
		la := newLabelArrays(1, r.Labels.Len())
		la.add(r.Labels)
		err := b.Append(dt(r.OpenedNs), r.ID, r.Version, r.UpdatedNs, r.OpenedNs, int8(r.State), r.Priority, r.Impact, r.Urgency,
			r.Title, r.Rule, r.GroupKey, r.Signature, r.ProblemID, nonNil(r.CIIDs), r.ProbableCauseCI, nonNil(r.Services),
			r.SupportGroup, r.Assignee, nonNil(r.AlertFingerprints), int8(r.Severity), r.AcknowledgedNs, r.ResolvedNs, r.ClosedNs,
			r.RespondDueNs, r.ResolveDueNs, boolU8(r.RespondBreached), boolU8(r.ResolveBreached), la.names[0], la.values[0])
		if err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
	}
	return nil
}

func appendTimeline(b driver.Batch, rows []TimelineRow) error {
	for i := range rows {
		r := &rows[i]
		la := newLabelArrays(1, r.Fields.Len())
		la.add(r.Fields)
		err := b.Append(dt(r.AtNs), r.AtNs, r.IncidentID, r.Entry, r.Kind, r.Actor, r.FromState, r.ToState,
			r.Fingerprint, r.Message, la.names[0], la.values[0])
		if err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
	}
	return nil
}

func appendProblems(b driver.Batch, rows []ProblemRow) error {
	for i := range rows {
		r := &rows[i]
		err := b.Append(dt(r.OpenedNs), r.ID, r.Version, r.UpdatedNs, r.OpenedNs, int8(r.State), r.Title, r.Signature,
			nonNil(r.IncidentIDs), r.IncidentCount, nonNil(r.CIIDs), nonNil(r.Services), r.Workaround, r.RunbookURL,
			r.RootCause, r.FirstOccurrenceNs, r.LastOccurrenceNs, r.ResolvedNs, r.ClosedNs)
		if err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
	}
	return nil
}

func appendNotifications(b driver.Batch, rows []NotificationRow) error {
	for i := range rows {
		r := &rows[i]
		err := b.Append(dt(r.AtNs), r.AtNs, r.ID, r.Attempt, r.IncidentID, r.Receiver, r.Integration, int8(r.Status),
			r.Error, r.DurationNs, nonNil(r.AlertFingerprints))
		if err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
	}
	return nil
}

// dt is the DateTime of Unix nanoseconds (the epoch for 0).
func dt(ns int64) time.Time { return time.Unix(dateTime(ns), 0) }
