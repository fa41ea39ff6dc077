package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/config"
	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/incident/cmdb"
	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/internal/app"
	"github.com/sift-itsm/sift/rules"
)

// testRules runs rule unit-test files (docs/rules.md#rule-tests) through
// the engine offline, as promtool test rules does for Prometheus.
func testRules(files []string, stdout, stderr io.Writer) int {
	code := 0
	for _, f := range files {
		tf, err := rules.LoadTestFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "FAILED: %v\n", err)
			code = 1
			continue
		}
		rs, err := rules.Load(tf.RuleFiles...)
		if err != nil {
			fmt.Fprintf(stderr, "FAILED: %s: %v\n", f, err)
			code = 1
			continue
		}
		var topo correlate.Topology
		if len(tf.CMDBFiles) > 0 {
			g, err := cmdb.Load(tf.CMDBFiles...)
			if err != nil {
				fmt.Fprintf(stderr, "FAILED: %s: %v\n", f, err)
				code = 1
				continue
			}
			topo = app.TopologyOf(g)
		}
		failed := 0
		for _, tc := range tf.Tests {
			if problems := runRuleTest(tc, rs, topo); len(problems) > 0 {
				failed++
				fmt.Fprintf(stderr, "FAILED: %s:%d: %s\n", f, tc.Pos.Line, tc.Name)
				for _, p := range problems {
					fmt.Fprintf(stderr, "  %s\n", p)
				}
			}
		}
		if failed > 0 {
			code = 1
			fmt.Fprintf(stderr, "%s: %d of %d tests failed\n", f, failed, len(tf.Tests))
			continue
		}
		fmt.Fprintf(stdout, "SUCCESS: %s: %d tests\n", f, len(tf.Tests))
	}
	return code
}

type timedEvent struct {
	at time.Duration
	ev ingest.Event
}

// runRuleTest feeds a test case's events to an offline engine and checks
// each expectation at its time. It returns what did not match.
func runRuleTest(tc *rules.TestCase, rs *rules.Set, topo correlate.Topology) []string {
	start := tc.Start
	if start.IsZero() {
		start = rules.DefaultTestStart
	}
	var evs []timedEvent
	labelsOf := map[model.Fingerprint]ingest.Labels{}
	for _, te := range tc.Events {
		for _, at := range te.Times() {
			e := ingest.Event{
				Fingerprint: te.Labels.Fingerprint(),
				Source:      ingest.SourceGeneric,
				Status:      te.Status,
				Severity:    te.Severity,
				RawSeverity: te.RawSeverity,
				Labels:      te.Labels,
				Annotations: te.Annotations,
				StartsAt:    start.Add(at),
			}
			labelsOf[e.Fingerprint] = e.Labels
			evs = append(evs, timedEvent{at, e})
		}
	}
	slices.SortStableFunc(evs, func(a, b timedEvent) int { return int(a.at - b.at) })
	eng := correlate.NewOffline(app.EngineSettings(config.Default()), rs, topo)

	var problems []string
	next := 0
	expects := slices.Clone(tc.Expect)
	slices.SortStableFunc(expects, func(a, b *rules.Expectation) int { return int(a.At - b.At) })
	for _, x := range expects {
		for next < len(evs) && evs[next].at <= x.At {
			// One batch per instant, as a live engine would see them.
			j := next
			for j < len(evs) && evs[j].at == evs[next].at {
				j++
			}
			batch := make([]ingest.Event, 0, j-next)
			for _, te := range evs[next:j] {
				batch = append(batch, te.ev)
			}
			eng.Apply(batch)
			next = j
		}
		eng.Advance(start.Add(x.At))
		problems = append(problems, checkExpectation(x, eng, labelsOf)...)
	}
	return problems
}

func checkExpectation(x *rules.Expectation, eng *correlate.Offline, labelsOf map[model.Fingerprint]ingest.Labels) []string {
	var problems []string
	at := fmt.Sprintf("at %s (line %d)", model.Duration(x.At), x.Pos.Line)
	actual := eng.Incidents()
	used := make([]bool, len(actual))
	for _, want := range x.Incidents {
		found := -1
		var why []string
		for i, inc := range actual {
			if used[i] {
				continue
			}
			if diff := incidentDiff(want, inc, labelsOf); len(diff) > 0 {
				why = append(why, inc.ID()+": "+strings.Join(diff, "; "))
				continue
			}
			found = i
			break
		}
		if found < 0 {
			problems = append(problems, fmt.Sprintf("%s: no incident matches line %d: %s", at, want.Pos.Line, strings.Join(why, " | ")))
			continue
		}
		used[found] = true
	}
	for i, inc := range actual {
		if !used[i] {
			problems = append(problems, fmt.Sprintf("%s: unexpected incident %s (%s, alerts %s)", at, inc.ID(), inc.Rule, alertNames(inc, labelsOf)))
		}
	}
	for _, s := range x.Suppressed {
		matched := false
		for fp, ls := range labelsOf {
			if !s.Alert.Matches(ls) {
				continue
			}
			a, ok := eng.Alert(fp)
			if !ok {
				continue
			}
			matched = true
			reason := a.Suppressed()
			if s.By == "topology" && a.SymptomOf() != "" {
				reason = "symptom of " + a.SymptomOf()
			}
			if !suppressedAs(reason, s) {
				problems = append(problems, fmt.Sprintf("%s: alert %s: want suppressed by %s %s, got %q", at, s.Alert.Text, s.By, s.Name, reason))
			}
		}
		if !matched {
			problems = append(problems, fmt.Sprintf("%s: no alert in memory matches %s", at, s.Alert.Text))
		}
	}
	return problems
}

// suppressedAs reports whether an alert's suppression reason is what the
// test expects.
func suppressedAs(reason string, s *rules.ExpectedSuppression) bool {
	prefix := map[string]string{"silence": "silence ", "maintenance": "maintenance ", "inhibition": "inhibited by ", "topology": "symptom of "}[s.By]
	if prefix == "" || !strings.HasPrefix(reason, prefix) {
		return false
	}
	rest := strings.TrimPrefix(reason, prefix)
	return s.Name == "" || rest == s.Name || strings.HasPrefix(rest, s.Name+" ")
}

// incidentDiff lists how inc differs from what want expects.
func incidentDiff(want *rules.ExpectedIncident, inc *incident.Incident, labelsOf map[model.Fingerprint]ingest.Labels) []string {
	var diff []string
	hit := make([]bool, len(want.Alerts))
	for _, fp := range inc.Alerts {
		ls := labelsOf[fp]
		any := false
		for i, sel := range want.Alerts {
			if sel.Matches(ls) {
				hit[i], any = true, true
			}
		}
		if !any {
			diff = append(diff, "alert "+ls.String()+" not expected")
		}
	}
	for i, h := range hit {
		if !h {
			diff = append(diff, "no alert matches "+want.Alerts[i].Text)
		}
	}
	if want.ProbableCause != nil && *want.ProbableCause != inc.ProbableCause {
		diff = append(diff, fmt.Sprintf("probable cause %q, want %q", inc.ProbableCause, *want.ProbableCause))
	}
	if want.Priority != "" && want.Priority != inc.Priority.String() {
		diff = append(diff, fmt.Sprintf("priority %s, want %s", inc.Priority, want.Priority))
	}
	if want.State != "" && want.State != inc.State.String() {
		diff = append(diff, fmt.Sprintf("state %s, want %s", inc.State, want.State))
	}
	if want.Rule != "" && want.Rule != inc.Rule {
		diff = append(diff, fmt.Sprintf("rule %s, want %s", inc.Rule, want.Rule))
	}
	if want.SupportGroup != "" && want.SupportGroup != inc.SupportGroup {
		diff = append(diff, fmt.Sprintf("support group %q, want %q", inc.SupportGroup, want.SupportGroup))
	}
	return diff
}

func alertNames(inc *incident.Incident, labelsOf map[model.Fingerprint]ingest.Labels) string {
	var names []string
	for _, fp := range inc.Alerts {
		names = append(names, labelsOf[fp].String())
	}
	return strings.Join(names, ", ")
}
