package rules

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/pkg/labels"
	"gopkg.in/yaml.v3"

	"github.com/sift-itsm/sift/ingest"
)

// DefaultTestStart is time 0 of a rule test without a start: a Monday,
// so that weekday-based maintenance windows are easy to reason about.
var DefaultTestStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// TestFile is a rule unit-test file, promtool-style: input events at
// offsets from a start time and the incidents expected at given times.
// siftctl rules test runs it through the engine.
type TestFile struct {
	// Path is the file's path as given.
	Path string
	// RuleFiles and CMDBFiles are resolved against the test file's
	// directory. No rule files means the default rule set.
	RuleFiles []string
	CMDBFiles []string
	Tests     []*TestCase
}

// TestCase is one named scenario.
type TestCase struct {
	Name string
	// Start is time 0 of the scenario.
	Start  time.Time
	Events []*TestEvent
	Expect []*Expectation
	Pos    Position
}

// TestEvent is one input event, in the generic event format's terms.
type TestEvent struct {
	// At is the offset from the test's start of the event time (and the
	// time it is received).
	At          time.Duration
	Labels      ingest.Labels
	Annotations ingest.Labels
	Status      ingest.Status
	// Severity is the normalised severity; RawSeverity what the file
	// said, or, as in the generic event format, the severity label when
	// it said nothing (warning when neither is there or known).
	Severity    ingest.Severity
	RawSeverity string
	// Repeat sends the event this many more times, Every apart (as
	// Prometheus resends firing alerts).
	Repeat int
	Every  time.Duration
	Pos    Position
}

// Times returns the offsets at which the event is sent.
func (e *TestEvent) Times() []time.Duration {
	ts := make([]time.Duration, 0, e.Repeat+1)
	for i := 0; i <= e.Repeat; i++ {
		ts = append(ts, e.At+time.Duration(i)*e.Every)
	}
	return ts
}

// Expectation is the incidents expected at one time: all incidents that
// exist at At (opened at or before it, in any state), as an unordered
// set: each expected incident must match exactly one actual incident and
// no actual incident may be left over.
type Expectation struct {
	At        time.Duration
	Incidents []*ExpectedIncident
	// Suppressed lists alerts expected to be suppressed at At; alerts not
	// listed are not checked for suppression.
	Suppressed []*ExpectedSuppression
	Pos        Position
}

// ExpectedIncident describes one incident. Alerts is required; the other
// fields are checked only when given.
type ExpectedIncident struct {
	// Alerts are selectors; the incident's alerts must be exactly those
	// the selectors match: every selector matches at least one of its
	// alerts and every alert matches at least one selector.
	Alerts []*AlertSelector
	// ProbableCause is a CI id; set to "" to expect none. Nil: not
	// checked.
	ProbableCause *string
	Priority      string // P1..P5
	State         string // new, acknowledged, in_progress, on_hold, resolved, closed
	Rule          string
	SupportGroup  string
	Pos           Position
}

// ExpectedSuppression says an alert is suppressed, and by what.
type ExpectedSuppression struct {
	Alert *AlertSelector
	// By is silence, maintenance, inhibition or topology.
	By string
	// Name, when given, is the maintenance window or inhibit rule.
	Name string
	Pos  Position
}

// Suppression kinds, in the order the engine applies them.
var SuppressionKinds = []string{"silence", "maintenance", "inhibition", "topology"}

// IncidentStates are the incident states of ITSM.md.
var IncidentStates = []string{"new", "acknowledged", "in_progress", "on_hold", "resolved", "closed"}

// AlertSelector selects alerts by labels. Written as an alertname
// ("HostDown") or as Alertmanager matchers ('{alertname="HostDown",
// instance="h1"}'; the braces are optional).
type AlertSelector struct {
	Text     string
	Matchers labels.Matchers
}

// Matches reports whether the selector matches ls.
func (s *AlertSelector) Matches(ls ingest.Labels) bool { return matches(s.Matchers, ls) }

// LoadTestFile reads and validates a rule test file. Like Load, it
// reports every error with file, line and field. Referenced files must
// exist; their content is not read here.
func LoadTestFile(path string) (*TestFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading rule test file: %w", err)
	}
	return ParseTestFile(path, b)
}

// ParseTestFile validates a rule test file's content; path names it in
// errors and is the base of relative file references.
func ParseTestFile(path string, b []byte) (*TestFile, error) {
	d := newDecoder(path, compat.FallbackMatchersParser(slog.New(slog.DiscardHandler)))
	tf := &TestFile{Path: path}
	root := d.document(b)
	if root == nil {
		d.errorf(&yaml.Node{Line: 1}, "tests", "is required")
		return nil, d.errs.err()
	}
	dir := filepath.Dir(path)
	files := func(dst *[]string) func(*yaml.Node, string) {
		return func(v *yaml.Node, p string) {
			d.list(v, p, func(_ int, item *yaml.Node, p string) {
				var f string
				d.str(item, p, &f)
				if item.Kind != yaml.ScalarNode {
					return
				}
				if f == "" {
					d.errorf(item, p, "must not be empty")
					return
				}
				if !filepath.IsAbs(f) {
					f = filepath.Join(dir, f)
				}
				if _, err := os.Stat(f); err != nil {
					d.errorf(item, p, "%v", err)
					return
				}
				*dst = append(*dst, f)
			})
		}
	}
	seen := d.object(root, "", map[string]func(*yaml.Node, string){
		"rule_files": files(&tf.RuleFiles),
		"cmdb_files": files(&tf.CMDBFiles),
		"tests": func(v *yaml.Node, p string) {
			names := map[string]int{}
			d.list(v, p, func(_ int, item *yaml.Node, p string) {
				if tc := d.testCase(item, p); tc != nil {
					if line, ok := names[tc.Name]; ok {
						d.errorf(item, join(p, "name"), "test %s is already defined at line %d", quote(tc.Name), line)
						return
					}
					names[tc.Name] = tc.Pos.Line
					tf.Tests = append(tf.Tests, tc)
				}
			})
		},
	})
	if seen != nil && len(tf.Tests) == 0 && d.nerrs == 0 {
		d.errorf(root, "tests", "must hold at least one test")
	}
	if err := d.errs.err(); err != nil {
		return nil, err
	}
	return tf, nil
}

func (d *decoder) testCase(n *yaml.Node, path string) *TestCase {
	tc := &TestCase{Start: DefaultTestStart, Pos: d.pos(n)}
	nerr := d.nerrs
	seen := d.object(n, path, map[string]func(*yaml.Node, string){
		"name":   func(v *yaml.Node, p string) { d.str(v, p, &tc.Name) },
		"start":  func(v *yaml.Node, p string) { d.timestamp(v, p, &tc.Start) },
		"events": listOf(d, &tc.Events, d.testEvent),
		"expect": listOf(d, &tc.Expect, d.expectation),
	})
	if seen == nil {
		return nil
	}
	if _, ok := seen["name"]; !ok || strings.TrimSpace(tc.Name) == "" {
		d.errorf(n, join(path, "name"), "is required")
	}
	for _, k := range []string{"events", "expect"} {
		if _, ok := seen[k]; !ok {
			d.errorf(n, join(path, k), "is required")
		}
	}
	if d.nerrs > nerr {
		return nil
	}
	return tc
}

// offset parses a non-negative duration from the test's start.
func (d *decoder) offset(n *yaml.Node, path string, dst *time.Duration) {
	var v time.Duration
	before := d.nerrs
	d.duration(n, path, &v)
	if d.nerrs > before {
		return
	}
	*dst = v
}

func (d *decoder) labelMap(n *yaml.Node, path string, dst *ingest.Labels) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping of label names to values, got %s", kindName(n))
		return
	}
	var ps []ingest.Label
	dup := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.resolve(n.Content[i]), d.resolve(n.Content[i+1])
		if k == nil || v == nil {
			return
		}
		var name, value string
		d.str(k, path, &name)
		p := join(path, name)
		if dup[name] {
			d.errorf(k, p, "duplicate key")
			continue
		}
		dup[name] = true
		if v.Kind != yaml.ScalarNode || isNull(v) {
			d.errorf(v, p, "must be a string, got %s", kindName(v))
			continue
		}
		value = v.Value
		ps = append(ps, ingest.Label{Name: name, Value: value})
	}
	*dst = ingest.NewLabels(ps...)
}

func (d *decoder) testEvent(n *yaml.Node, path string) *TestEvent {
	e := &TestEvent{Pos: d.pos(n), Severity: ingest.SeverityWarning}
	nerr := d.nerrs
	seen := d.object(n, path, map[string]func(*yaml.Node, string){
		"at": func(v *yaml.Node, p string) { d.offset(v, p, &e.At) },
		"labels": func(v *yaml.Node, p string) {
			d.labelMap(v, p, &e.Labels)
			for name := range e.Labels.All() {
				d.labelName(v, p, name)
			}
		},
		"annotations": func(v *yaml.Node, p string) { d.labelMap(v, p, &e.Annotations) },
		"status": func(v *yaml.Node, p string) {
			var s string
			d.str(v, p, &s)
			st, ok := ingest.ParseStatus(s)
			if v.Kind == yaml.ScalarNode && !ok {
				d.errorf(v, p, `must be "firing" or "resolved", got %s`, quote(s))
			}
			e.Status = st
		},
		"severity": func(v *yaml.Node, p string) {
			d.str(v, p, &e.RawSeverity)
			sev, ok := ingest.NormalizeSeverity(e.RawSeverity)
			if v.Kind == yaml.ScalarNode && !ok {
				d.errorf(v, p, "unknown severity %s (use critical, major, minor, warning or info, or a source's name for one)", quote(e.RawSeverity))
			}
			e.Severity = sev
		},
		"repeat": func(v *yaml.Node, p string) {
			d.integer(v, p, &e.Repeat)
			if e.Repeat < 0 || e.Repeat > 100000 {
				d.errorf(v, p, "must be from 0 to 100000, got %d", e.Repeat)
			}
		},
		"every": func(v *yaml.Node, p string) { d.duration(v, p, &e.Every) },
	})
	if seen == nil {
		return nil
	}
	for _, k := range []string{"at", "labels"} {
		if _, ok := seen[k]; !ok {
			d.errorf(n, join(path, k), "is required")
		}
	}
	if k, ok := seen["labels"]; ok && e.Labels == "" && d.nerrs == nerr {
		d.errorf(k, join(path, "labels"), "must hold at least one label")
	}
	if _, ok := seen["severity"]; !ok {
		e.RawSeverity, _ = e.Labels.Get("severity")
		e.Severity, _ = ingest.NormalizeSeverity(e.RawSeverity)
	}
	if e.Repeat > 0 && e.Every <= 0 {
		d.errorf(n, join(path, "every"), "is required and over 0 when repeat is given")
	}
	if d.nerrs > nerr {
		return nil
	}
	return e
}

func (d *decoder) expectation(n *yaml.Node, path string) *Expectation {
	x := &Expectation{Pos: d.pos(n)}
	nerr := d.nerrs
	seen := d.object(n, path, map[string]func(*yaml.Node, string){
		"at":         func(v *yaml.Node, p string) { d.offset(v, p, &x.At) },
		"incidents":  listOf(d, &x.Incidents, d.expectedIncident),
		"suppressed": listOf(d, &x.Suppressed, d.expectedSuppression),
	})
	if seen == nil {
		return nil
	}
	if _, ok := seen["at"]; !ok {
		d.errorf(n, join(path, "at"), "is required")
	}
	// incidents: [] (or omitted) expects no incident at all.
	if d.nerrs > nerr {
		return nil
	}
	return x
}

func (d *decoder) selector(n *yaml.Node, path string) *AlertSelector {
	var s string
	d.str(n, path, &s)
	if n.Kind != yaml.ScalarNode {
		return nil
	}
	sel := &AlertSelector{Text: s}
	if !strings.ContainsAny(s, "{}=~!\"") {
		if s == "" {
			d.errorf(n, path, "must not be empty")
			return nil
		}
		m, err := labels.NewMatcher(labels.MatchEqual, "alertname", s)
		if err != nil {
			d.errorf(n, path, "%v", err)
			return nil
		}
		sel.Matchers = labels.Matchers{m}
		return sel
	}
	ms, err := d.parseMatchers(s, "rules-test")
	if err != nil {
		d.errorf(n, path, "invalid selector %s: %v", quote(s), err)
		return nil
	}
	if len(ms) == 0 {
		d.errorf(n, path, "no matcher in %s", quote(s))
		return nil
	}
	sel.Matchers = ms
	return sel
}

func (d *decoder) expectedIncident(n *yaml.Node, path string) *ExpectedIncident {
	inc := &ExpectedIncident{Pos: d.pos(n)}
	nerr := d.nerrs
	seen := d.object(n, path, map[string]func(*yaml.Node, string){
		"alerts": listOf(d, &inc.Alerts, d.selector),
		"probable_cause": func(v *yaml.Node, p string) {
			var s string
			d.str(v, p, &s)
			inc.ProbableCause = &s
		},
		"priority": func(v *yaml.Node, p string) {
			d.str(v, p, &inc.Priority)
			switch inc.Priority {
			case "P1", "P2", "P3", "P4", "P5":
			default:
				if v.Kind == yaml.ScalarNode {
					d.errorf(v, p, "must be one of P1, P2, P3, P4, P5, got %s", quote(inc.Priority))
				}
			}
		},
		"state": func(v *yaml.Node, p string) {
			d.str(v, p, &inc.State)
			if v.Kind == yaml.ScalarNode && !slices.Contains(IncidentStates, inc.State) {
				d.errorf(v, p, "must be one of %s, got %s", strings.Join(IncidentStates, ", "), quote(inc.State))
			}
		},
		"rule":          func(v *yaml.Node, p string) { d.str(v, p, &inc.Rule) },
		"support_group": func(v *yaml.Node, p string) { d.str(v, p, &inc.SupportGroup) },
	})
	if seen == nil {
		return nil
	}
	// probable_cause: "" (explicitly empty) is kept; a null value counts
	// as absent, like every other key.
	if k, ok := seen["alerts"]; !ok {
		d.errorf(n, join(path, "alerts"), "is required (at least one selector)")
	} else if len(inc.Alerts) == 0 && d.nerrs == nerr {
		d.errorf(k, join(path, "alerts"), "is required (at least one selector)")
	}
	if d.nerrs > nerr {
		return nil
	}
	return inc
}

func (d *decoder) expectedSuppression(n *yaml.Node, path string) *ExpectedSuppression {
	s := &ExpectedSuppression{Pos: d.pos(n)}
	nerr := d.nerrs
	seen := d.object(n, path, map[string]func(*yaml.Node, string){
		"alert": func(v *yaml.Node, p string) { s.Alert = d.selector(v, p) },
		"by": func(v *yaml.Node, p string) {
			d.str(v, p, &s.By)
			if v.Kind == yaml.ScalarNode && !slices.Contains(SuppressionKinds, s.By) {
				d.errorf(v, p, "must be one of %s, got %s", strings.Join(SuppressionKinds, ", "), quote(s.By))
			}
		},
		"name": func(v *yaml.Node, p string) { d.str(v, p, &s.Name) },
	})
	if seen == nil {
		return nil
	}
	for _, k := range []string{"alert", "by"} {
		if _, ok := seen[k]; !ok {
			d.errorf(n, join(path, k), "is required")
		}
	}
	if d.nerrs > nerr {
		return nil
	}
	return s
}
