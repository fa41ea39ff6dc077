package cmdb

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/pkg/labels"
)

// Criticality bounds: 1 is the most business-critical, 4 the least; 0
// means unknown (ITSM.md counts it as 4 for impact).
const (
	CriticalityUnknown = 0
	CriticalityMax     = 4
)

// CI is one configuration item. A CI inside a Graph is immutable: readers
// share it without locks, and every change builds a new Graph.
type CI struct {
	ID           string
	Name         string
	Class        string
	Environment  string
	Criticality  int
	SupportGroup string
	Owner        string
	Attributes   map[string]string
	// Match binds alerts to the CI (Alertmanager matchers, all must
	// match). Empty: the CI binds only by id or name (see Graph.Bind).
	Match labels.Matchers
	// Source is where the CI was defined; zero for CIs made by the API.
	Source Source

	pos int32 // index in its graph, file order
	// matchPrefix[i] is the literal prefix of Match[i] (see
	// literalPrefixes), computed once when the CI first joins a graph.
	matchPrefix []string
}

// Source is a place in an import: a file (or request part) and a 1-based
// line.
type Source struct {
	File string
	Line int

	// item is the path of the CI or relation in a YAML or JSON file
	// (cis[3]); empty in CSV, where the line says it.
	item string
}

// field names a field of the item at s, for errors.
func (s Source) field(name string) string {
	if s.item == "" {
		return name
	}
	return s.item + "." + name
}

func (s Source) String() string {
	switch {
	case s.File == "" && s.Line == 0:
		return "api"
	case s.Line == 0:
		return s.File
	}
	return fmt.Sprintf("%s:%d", s.File, s.Line)
}

// ciJSON is the wire form of a CI in the API and in JSON imports' output.
type ciJSON struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Class        string            `json:"class"`
	Environment  string            `json:"environment"`
	Criticality  int               `json:"criticality"`
	SupportGroup string            `json:"support_group"`
	Owner        string            `json:"owner"`
	Attributes   map[string]string `json:"attributes"`
	Match        []string          `json:"match"`
}

// MarshalJSON renders the CI as the API shows it: match as a list of
// matcher strings, attributes always an object.
func (c *CI) MarshalJSON() ([]byte, error) { return json.Marshal(c.wire()) }

func (c *CI) wire() ciJSON {
	j := ciJSON{
		ID: c.ID, Name: c.Name, Class: c.Class, Environment: c.Environment,
		Criticality: c.Criticality, SupportGroup: c.SupportGroup, Owner: c.Owner,
		Attributes: c.Attributes, Match: make([]string, len(c.Match)),
	}
	if j.Attributes == nil {
		j.Attributes = map[string]string{}
	}
	for i, m := range c.Match {
		j.Match[i] = m.String()
	}
	return j
}

// clone returns a copy that shares nothing mutable with c.
func (c *CI) clone() CI {
	d := *c
	d.Attributes = maps.Clone(c.Attributes)
	d.Match = slices.Clone(c.Match)
	d.matchPrefix = nil
	return d
}

// RelType is the type of a relation.
type RelType uint8

// The relation types of ITSM.md. Each is one bit, so that a set of them
// is a RelTypes.
const (
	DependsOn RelType = 1 << iota
	RunsOn
	ConnectedTo
	MemberOf
)

var relTypeNames = [...]struct {
	t    RelType
	name string
}{{DependsOn, "depends_on"}, {RunsOn, "runs_on"}, {ConnectedTo, "connected_to"}, {MemberOf, "member_of"}}

func (t RelType) String() string {
	for _, n := range relTypeNames {
		if n.t == t {
			return n.name
		}
	}
	return fmt.Sprintf("RelType(%d)", uint8(t))
}

// ParseRelType parses depends_on, runs_on, connected_to or member_of.
func ParseRelType(s string) (RelType, bool) {
	for _, n := range relTypeNames {
		if n.name == s {
			return n.t, true
		}
	}
	return 0, false
}

// MarshalText implements encoding.TextMarshaler.
func (t RelType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *RelType) UnmarshalText(b []byte) error {
	v, ok := ParseRelType(string(b))
	if !ok {
		return fmt.Errorf("unknown relation type %q (want %s)", b, relTypeList)
	}
	*t = v
	return nil
}

var relTypeList = "depends_on, runs_on, connected_to or member_of"

// RelTypes is a set of relation types for graph queries. The zero value
// means every type, so that "no filter" needs no constant.
type RelTypes uint8

// AllRelTypes is every relation type.
const AllRelTypes = RelTypes(DependsOn | RunsOn | ConnectedTo | MemberOf)

// Has reports whether t is in the set (always, for the zero set).
func (ts RelTypes) Has(t RelType) bool { return ts == 0 || ts&RelTypes(t) != 0 }

// ParseRelTypes parses a list of relation type names; an empty list is
// every type.
func ParseRelTypes(names []string) (RelTypes, error) {
	var ts RelTypes
	for _, n := range names {
		t, ok := ParseRelType(n)
		if !ok {
			return 0, fmt.Errorf("unknown relation type %q (want %s)", n, relTypeList)
		}
		ts |= RelTypes(t)
	}
	return ts, nil
}

// Relation is a directed edge: From needs To, so a failure of To explains
// alerts on From (To is upstream of From).
type Relation struct {
	From string  `json:"from"`
	Type RelType `json:"type"`
	To   string  `json:"to"`
	// Source is where the relation was defined.
	Source Source `json:"-"`
}

type relKey struct {
	from, to string
	typ      RelType
}

func (r *Relation) key() relKey { return relKey{r.From, r.To, r.Type} }

// Dataset is a decoded import: CIs and relations in file order, not yet
// validated as a whole. NewGraph and Store.Import validate it.
type Dataset struct {
	CIs       []CI
	Relations []Relation
}

// Append adds o's CIs and relations after d's, for imports spread over
// several files.
func (d *Dataset) Append(o *Dataset) {
	d.CIs = append(d.CIs, o.CIs...)
	d.Relations = append(d.Relations, o.Relations...)
}

// parseMatchers parses matchers as the alert API's filter does (UTF-8
// parser, classic fallback). It holds no state beyond its discard logger.
var parseMatchers = compat.FallbackMatchersParser(slog.New(slog.DiscardHandler))

// ParseMatch parses one match expression: one or more Alertmanager
// matchers, braces optional (`{service="api", env=~"prod|dr"}`).
func ParseMatch(s string) (labels.Matchers, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty matcher")
	}
	ms, err := parseMatchers(s, "cmdb")
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("no matcher in %q", s)
	}
	return ms, nil
}

// validID reports whether s can be a CI id: not empty, no surrounding
// space, no control characters.
func validID(s string) bool {
	if s == "" || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
