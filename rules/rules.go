package rules

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/timeinterval"

	"github.com/sift-itsm/sift/ingest"
)

// Defaults of a correlation rule's optional fields.
const (
	DefaultWindow      = 5 * time.Minute
	DefaultMaxDuration = 24 * time.Hour
	DefaultMaxHops     = 3
)

// DefaultRuleName names the built-in rule that takes every alert no rule
// of the files matched. The name is reserved.
const DefaultRuleName = "default"

// CIPrefix marks a group_by entry as an attribute of the alert's CI
// (ci.site, ci.class, ci.support_group, ci.id) rather than a label.
const CIPrefix = "ci."

// CMDB relation types a topology may follow (ITSM.md).
const (
	RelationDependsOn   = "depends_on"
	RelationRunsOn      = "runs_on"
	RelationConnectedTo = "connected_to"
	RelationMemberOf    = "member_of"
)

// AllRelations lists every relation type, sorted: a topology's default.
var AllRelations = []string{RelationConnectedTo, RelationDependsOn, RelationMemberOf, RelationRunsOn}

// Set is a compiled, validated rule set: what the engine evaluates. A Set
// is immutable once built, so any number of goroutines may use it; a
// reload builds a new one.
type Set struct {
	// Correlation lists the correlation rules in evaluation order; the
	// last is always the built-in default rule (DefaultRuleName).
	Correlation []*CorrelationRule
	Inhibit     []*InhibitRule
	Maintenance []*MaintenanceWindow
	// Files are the files the set was loaded from; none for Default().
	Files []string

	maint maintenanceIndex
}

// CorrelationRule decides which alerts form one incident.
type CorrelationRule struct {
	Name     string
	Matchers labels.Matchers
	// GroupBy is the rule's group_by as written: one entry per element,
	// each listing its alternatives (one for a plain label or CI
	// attribute; several for "the first present of").
	GroupBy [][]string
	// Window: an alert joins an incident if it fires no later than Window
	// after the incident's last alert.
	Window time.Duration
	// MaxDuration: an incident takes no new alerts once it is this old.
	MaxDuration time.Duration
	// Topology, when not nil, groups alerts bound to a CI by CMDB links.
	Topology *Topology
	// Continue: evaluation goes on to the next rules after this one
	// matched.
	Continue bool
	// Impact and Urgency pin the incident's values (1..3); 0 means
	// computed as ITSM.md says.
	Impact, Urgency int
	// SupportGroup, when set, is the incident's assignment group instead
	// of the probable-cause CI's.
	SupportGroup string
	// InfoOpensIncident lets alerts of severity info open an incident;
	// without it they are recorded and join an open incident only.
	InfoOpensIncident bool
	// Recurrence is recurrence.signature as written; nil means the
	// default signature, the rule name plus the group key.
	Recurrence [][]string
	// Pos is where the rule is defined; zero for the built-in rule.
	Pos Position

	match      []matcher // Matchers, compiled, cheapest first
	groupKey   keySpec
	topoKey    keySpec
	recurrence keySpec
}

// Topology makes alerts on CIs linked in the CMDB one incident.
type Topology struct {
	// Relations are the relation types followed, in either direction,
	// sorted.
	Relations []string
	// MaxHops bounds the path length between two alerts' CIs.
	MaxHops int
	// GroupBy partitions topology groups (e.g. by ci.environment): two
	// alerts join only if their topology keys are equal. Empty by default.
	GroupBy [][]string
}

// Follows reports whether the topology follows relations of type rel.
func (t *Topology) Follows(rel string) bool { return slices.Contains(t.Relations, rel) }

// InhibitRule mutes target alerts while a source alert fires, with the
// semantics of Alertmanager's inhibit_rules.
type InhibitRule struct {
	// Name is the rule's name, or inhibit_rules[N] (N its index in the
	// Set) when the file gave none.
	Name           string
	SourceMatchers labels.Matchers
	TargetMatchers labels.Matchers
	// Equal are the label names whose values must be equal in source and
	// target, sorted; a missing label equals an empty one.
	Equal []string
	Pos   Position
}

// MaintenanceWindow suppresses alerts on some CIs or matching some labels
// while it is active.
type MaintenanceWindow struct {
	Name string
	// CIs are CI ids, sorted; empty means any CI, or none.
	CIs []string
	// Matchers, when not empty, must all match the alert's labels.
	Matchers labels.Matchers
	// Start and End bound the window: active from Start (inclusive) to
	// End (exclusive). Either is zero when unbounded, which only a
	// recurring window may be.
	Start, End time.Time
	// TimeIntervals make the window recurring: within Start and End, it
	// is active whenever one of them contains the time.
	TimeIntervals []timeinterval.TimeInterval
	Comment       string
	Pos           Position
}

// ActiveAt reports whether the window is active at t.
func (w *MaintenanceWindow) ActiveAt(t time.Time) bool {
	if !w.Start.IsZero() && t.Before(w.Start) {
		return false
	}
	if !w.End.IsZero() && !t.Before(w.End) {
		return false
	}
	if len(w.TimeIntervals) == 0 {
		return true
	}
	// An interval without a location is in UTC, whatever t's location.
	t = t.UTC()
	for i := range w.TimeIntervals {
		if w.TimeIntervals[i].ContainsTime(t) {
			return true
		}
	}
	return false
}

// Covers reports whether the window applies to an alert bound to CI ciID
// ("" when unbound) with labels ls, at any time.
func (w *MaintenanceWindow) Covers(ciID string, ls ingest.Labels) bool {
	if len(w.CIs) > 0 {
		if _, ok := slices.BinarySearch(w.CIs, ciID); !ok {
			return false
		}
	}
	return matches(w.Matchers, ls)
}

// matches reports whether every matcher matches ls; a missing label is
// the empty value, as in Alertmanager.
func matches(ms labels.Matchers, ls ingest.Labels) bool {
	for _, m := range ms {
		v, _ := ls.Get(m.Name)
		if !m.Matches(v) {
			return false
		}
	}
	return true
}

// Matches reports whether the rule's matchers match ls.
func (r *CorrelationRule) Matches(ls ingest.Labels) bool { return matches(r.Matchers, ls) }

// Match returns the correlation rules that take an alert with labels ls,
// in order: rules are tried in file order; the first that matches wins
// and evaluation stops there unless it has continue: true. The built-in
// default rule comes last and is returned only when no other rule
// matched, so the result is never empty.
func (s *Set) Match(ls ingest.Labels) []*CorrelationRule {
	return s.AppendMatch(nil, ls)
}

// AppendMatch is Match appending to dst, to let the hot path reuse a
// buffer.
func (s *Set) AppendMatch(dst []*CorrelationRule, ls ingest.Labels) []*CorrelationRule {
	n := len(dst)
	last := len(s.Correlation) - 1
	var buf [24]labelPair
	v := unpack(buf[:0], ls)
	for _, r := range s.Correlation[:last] {
		if !v.matches(r.match) {
			continue
		}
		dst = append(dst, r)
		if !r.Continue {
			return dst
		}
	}
	if len(dst) == n {
		dst = append(dst, s.Correlation[last])
	}
	return dst
}

// Rule returns the correlation rule of that name.
func (s *Set) Rule(name string) (*CorrelationRule, bool) {
	for _, r := range s.Correlation {
		if r.Name == name {
			return r, true
		}
	}
	return nil, false
}

// CIAttrFunc returns an attribute of an alert's CI: id, name, class,
// environment, criticality, support_group, owner or a free attribute.
// A nil CIAttrFunc means the alert is bound to no CI.
type CIAttrFunc func(name string) (string, bool)

// GroupKey returns the alert's group key under the rule: alerts of one
// rule with equal keys may join one incident.
//
// For a rule with a topology and an alert bound to a CI (ciAttr not nil)
// it is the topology key, built from topology.group_by and prefixed
// "topology"; such alerts join an incident with the same key whose CIs
// are linked to theirs. Otherwise it is built from group_by.
//
// The key is deterministic and readable, like Alertmanager's group
// labels: {alertname="Down", ci.site="fra1"}, entries sorted by how they
// are written, values quoted. A missing label or CI attribute, or a CI
// attribute of an alert without a CI, is the empty value (as Prometheus
// treats a missing label as empty). For a first-present entry
// [service, cluster, job] the entry is the first alternative with a
// non-empty value, by its own name (service="api"), or the first name
// with "" when none has one.
func (r *CorrelationRule) GroupKey(ls ingest.Labels, ciAttr CIAttrFunc) string {
	return string(r.AppendGroupKey(nil, ls, ciAttr))
}

// AppendGroupKey is GroupKey appending to dst: a map lookup by
// string(key) then costs no allocation.
func (r *CorrelationRule) AppendGroupKey(dst []byte, ls ingest.Labels, ciAttr CIAttrFunc) []byte {
	if r.Topology != nil && ciAttr != nil {
		dst = append(dst, "topology"...)
		return r.topoKey.append(dst, ls, ciAttr)
	}
	return r.groupKey.append(dst, ls, ciAttr)
}

// Signature returns the recurrence signature of an incident that this
// rule opened for the alert with labels ls and group key groupKey: by
// default the rule name and the group key, "<rule>/<group key>"; with
// recurrence.signature, the rule name and the key built from its entries
// like a group key. Problems group incidents with equal signatures.
func (r *CorrelationRule) Signature(groupKey string, ls ingest.Labels, ciAttr CIAttrFunc) string {
	if r.Recurrence == nil {
		return r.Name + "/" + groupKey
	}
	b := append([]byte(r.Name), '/')
	return string(r.recurrence.append(b, ls, ciAttr))
}

// keySpec is a compiled group_by: entries sorted by their text.
type keySpec []keyEntry

type keyEntry []keyRef // alternatives, in order

type keyRef struct {
	name string // label or attribute name, without "ci."
	text string // as written
	ci   bool
}

func compileKey(entries [][]string) keySpec {
	ks := make(keySpec, 0, len(entries))
	for _, alts := range entries {
		e := make(keyEntry, len(alts))
		for i, a := range alts {
			name, ci := strings.CutPrefix(a, CIPrefix)
			e[i] = keyRef{name: name, text: a, ci: ci}
		}
		ks = append(ks, e)
	}
	return ks
}

func (ref keyRef) value(ls ingest.Labels, ciAttr CIAttrFunc) string {
	if !ref.ci {
		v, _ := ls.Get(ref.name)
		return v
	}
	if ciAttr == nil {
		return ""
	}
	v, _ := ciAttr(ref.name)
	return v
}

func (ks keySpec) append(dst []byte, ls ingest.Labels, ciAttr CIAttrFunc) []byte {
	dst = append(dst, '{')
	for i, e := range ks {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		ref, v := e[0], ""
		for _, alt := range e {
			if v = alt.value(ls, ciAttr); v != "" {
				ref = alt
				break
			}
		}
		dst = append(dst, ref.text...)
		dst = append(dst, '=')
		dst = strconv.AppendQuote(dst, v)
	}
	return append(dst, '}')
}
