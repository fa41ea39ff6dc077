package rules

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// wantErr is one expected error: its line and field, and a fragment of
// its message.
type wantErr struct {
	line  int
	field string
	msg   string
}

// requireErrors checks that err is Errors holding exactly want, in order,
// each in file.
func requireErrors(t *testing.T, name string, err error, file string, want ...wantErr) {
	t.Helper()
	require.Error(t, err, name)
	var es Errors
	require.True(t, errors.As(err, &es), name)
	require.Len(t, es, len(want), "%s: %v", name, err)
	for i, w := range want {
		e := es[i]
		require.Equal(t, file, e.File, name)
		require.Equal(t, w.line, e.Line, "%s: %v", name, e)
		require.Equal(t, w.field, e.Field, "%s: %v", name, e)
		require.Contains(t, e.Msg, w.msg, "%s: %v", name, e)
		if w.line > 0 {
			require.True(t, strings.HasPrefix(e.Error(), fmt.Sprintf("%s:%d:", file, w.line)), e.Error())
		}
	}
}

func TestValidationErrors(t *testing.T) {
	f := func(name, doc string, want ...wantErr) {
		t.Helper()
		_, err := Parse("r.yml", []byte(doc))
		requireErrors(t, name, err, "r.yml", want...)
	}

	f("not yaml", "correlation_rules: [\n", wantErr{1, "", "invalid YAML"})
	f("top level list", "- a\n", wantErr{1, "", "must be a mapping"})
	f("unknown top key", "correlation_rule: []\n", wantErr{1, "correlation_rule", `unknown field "correlation_rule"`})
	f("two documents", "inhibit_rules: []\n---\ninhibit_rules: []\n", wantErr{2, "", "only one YAML document"})
	f("merge key", "x: &x {name: a}\ncorrelation_rules:\n  - <<: *x\n", wantErr{1, "x", "unknown field"}, wantErr{3, "correlation_rules[0]", "merge keys"}, wantErr{3, "correlation_rules[0].name", "is required"})
	f("duplicate key", "correlation_rules:\n  - name: a\n    name: b\n", wantErr{3, "correlation_rules[0].name", "duplicate key"})

	// correlation rules
	f("missing name", "correlation_rules:\n  - window: 1m\n", wantErr{2, "correlation_rules[0].name", "is required"})
	f("empty name", "correlation_rules:\n  - name: ''\n", wantErr{2, "correlation_rules[0].name", "must not be empty"})
	f("reserved name", "correlation_rules:\n  - name: default\n", wantErr{2, "correlation_rules[0].name", "reserved"})
	f("duplicate name", "correlation_rules:\n  - name: a\n  - name: b\n  - name: a\n", wantErr{4, "name", `correlation rule "a" is already defined at r.yml:2`})
	f("unknown rule key", "correlation_rules:\n  - name: a\n    windw: 1m\n", wantErr{3, "correlation_rules[0].windw", `unknown field "windw"`})
	f("bad matcher", "correlation_rules:\n  - name: a\n    match:\n      - 'alertname=\"x\"'\n      - 'foo=~\"(\"'\n", wantErr{5, "correlation_rules[0].match[1]", "invalid matcher"})
	f("match not list", "correlation_rules:\n  - name: a\n    match: 'a=\"b\"'\n", wantErr{3, "correlation_rules[0].match", "must be a list"})
	f("bad duration", "correlation_rules:\n  - name: a\n    window: soon\n", wantErr{3, "correlation_rules[0].window", `"soon" is not a duration`})
	f("zero window", "correlation_rules:\n  - name: a\n    window: 0s\n", wantErr{2, "correlation_rules[0].window", "must be over 0"})
	f("max_duration below window", "correlation_rules:\n  - name: a\n    window: 1h\n    max_duration: 30m\n", wantErr{2, "correlation_rules[0].max_duration", "must be at least the window (1h)"})
	f("bad label in group_by", "correlation_rules:\n  - name: a\n    group_by: [alertname, '']\n", wantErr{3, "correlation_rules[0].group_by[1]", "not a valid label name"})
	f("bad ci attribute", "correlation_rules:\n  - name: a\n    group_by: [ci.]\n", wantErr{3, "correlation_rules[0].group_by[0]", "not a valid CI attribute"})
	f("group_by twice", "correlation_rules:\n  - name: a\n    group_by: [job, job]\n", wantErr{3, "correlation_rules[0].group_by[1]", "listed twice"})
	f("empty first-present", "correlation_rules:\n  - name: a\n    group_by: [[]]\n", wantErr{3, "correlation_rules[0].group_by[0]", "at least one name"})
	f("continue not bool", "correlation_rules:\n  - name: a\n    continue: yes please\n", wantErr{3, "correlation_rules[0].continue", "must be true or false"})
	f("impact out of range", "correlation_rules:\n  - name: a\n    impact: 4\n", wantErr{3, "correlation_rules[0].impact", "must be 1 (high), 2 (medium) or 3 (low), got 4"})
	f("urgency not int", "correlation_rules:\n  - name: a\n    urgency: high\n", wantErr{3, "correlation_rules[0].urgency", "must be an integer"})
	f("unknown relation", "correlation_rules:\n  - name: a\n    topology:\n      relations: [depends_on, uses]\n", wantErr{4, "correlation_rules[0].topology.relations[1]", `unknown relation type "uses"`})
	f("no relation", "correlation_rules:\n  - name: a\n    topology:\n      relations: []\n", wantErr{4, "correlation_rules[0].topology.relations", "at least one relation"})
	f("max_hops range", "correlation_rules:\n  - name: a\n    topology:\n      max_hops: 0\n", wantErr{4, "correlation_rules[0].topology.max_hops", "must be from 1 to 10"})
	f("unknown topology key", "correlation_rules:\n  - name: a\n    topology: {hops: 2}\n", wantErr{3, "correlation_rules[0].topology.hops", "unknown field"})
	f("empty signature", "correlation_rules:\n  - name: a\n    recurrence: {signature: []}\n", wantErr{3, "correlation_rules[0].recurrence.signature", "must not be empty"})
	f("unknown recurrence key", "correlation_rules:\n  - name: a\n    recurrence: {count: 3}\n", wantErr{3, "correlation_rules[0].recurrence.count", "unknown field"})

	// inhibit rules
	f("inhibit without sides", "inhibit_rules:\n  - equal: [instance]\n",
		wantErr{2, "inhibit_rules[0].source_match", "is required"}, wantErr{2, "inhibit_rules[0].target_match", "is required"})
	f("inhibit bad equal", "inhibit_rules:\n  - source_match: ['a=\"b\"']\n    target_match: ['c=\"d\"']\n    equal: [[x]]\n", wantErr{4, "inhibit_rules[0].equal[0]", "must be a string"})
	f("inhibit duplicate name", "inhibit_rules:\n  - name: x\n    source_match: ['a=\"b\"']\n    target_match: ['c=\"d\"']\n  - name: x\n    source_match: ['a=\"b\"']\n    target_match: ['c=\"d\"']\n", wantErr{5, "name", `inhibit rule "x" is already defined`})
	f("inhibit unknown key", "inhibit_rules:\n  - source_matchers: ['a=\"b\"']\n    source_match: ['a=\"b\"']\n    target_match: ['c=\"d\"']\n", wantErr{2, "inhibit_rules[0].source_matchers", "unknown field"})

	// maintenance windows
	f("window without name", "maintenance_windows:\n  - cis: [a]\n    start: 2026-01-01T00:00:00Z\n    end: 2026-01-02T00:00:00Z\n", wantErr{2, "maintenance_windows[0].name", "is required"})
	f("window without selector", "maintenance_windows:\n  - name: w\n    start: 2026-01-01T00:00:00Z\n    end: 2026-01-02T00:00:00Z\n", wantErr{2, "maintenance_windows[0]", "needs cis, match or both"})
	f("window without time", "maintenance_windows:\n  - name: w\n    cis: [a]\n", wantErr{2, "maintenance_windows[0]", "needs start and end"})
	f("window only start", "maintenance_windows:\n  - name: w\n    cis: [a]\n    start: 2026-01-01T00:00:00Z\n", wantErr{2, "maintenance_windows[0]", "needs start and end"})
	f("window end before start", "maintenance_windows:\n  - name: w\n    cis: [a]\n    start: 2026-01-02T00:00:00Z\n    end: 2026-01-01T00:00:00Z\n", wantErr{5, "maintenance_windows[0].end", "must be after start"})
	f("window bad time", "maintenance_windows:\n  - name: w\n    cis: [a]\n    start: tomorrow\n    end: 2026-01-01T00:00:00Z\n", wantErr{4, "maintenance_windows[0].start", "not an RFC 3339 time"})
	f("window empty cis", "maintenance_windows:\n  - name: w\n    cis: []\n    match: ['a=\"b\"']\n    start: 2026-01-01T00:00:00Z\n    end: 2026-01-02T00:00:00Z\n", wantErr{3, "maintenance_windows[0].cis", "at least one CI"})
	f("window duplicate name", "maintenance_windows:\n  - {name: w, cis: [a], time_intervals: [{}]}\n  - {name: w, cis: [b], time_intervals: [{}]}\n", wantErr{3, "name", `maintenance window "w" is already defined`})
	f("bad weekday", "maintenance_windows:\n  - name: w\n    cis: [a]\n    time_intervals:\n      - weekdays: [monday, funday]\n", wantErr{5, "maintenance_windows[0].time_intervals[0].weekdays[1]", "funday"})
	f("bad time range", "maintenance_windows:\n  - name: w\n    cis: [a]\n    time_intervals:\n      - times:\n          - start_time: '04:00'\n            end_time: '02:00'\n", wantErr{6, "maintenance_windows[0].time_intervals[0].times[0]", "start time cannot be equal or greater than end time"})
	f("time range unknown key", "maintenance_windows:\n  - name: w\n    cis: [a]\n    time_intervals:\n      - times:\n          - {start_time: '01:00', end_time: '02:00', end: '03:00'}\n", wantErr{6, "maintenance_windows[0].time_intervals[0].times[0].end", "unknown field"})
	f("bad location", "maintenance_windows:\n  - name: w\n    cis: [a]\n    time_intervals:\n      - location: Mars/Olympus\n", wantErr{5, "maintenance_windows[0].time_intervals[0].location", "Mars/Olympus"})
	f("bad month", "maintenance_windows:\n  - name: w\n    cis: [a]\n    time_intervals:\n      - months: ['march:january']\n", wantErr{5, "maintenance_windows[0].time_intervals[0].months[0]", "before start month"})
	f("bad day of month", "maintenance_windows:\n  - name: w\n    cis: [a]\n    time_intervals:\n      - days_of_month: ['0']\n", wantErr{5, "maintenance_windows[0].time_intervals[0].days_of_month[0]", "not a valid day of the month"})
	f("unknown interval key", "maintenance_windows:\n  - name: w\n    cis: [a]\n    time_intervals:\n      - weekday: [monday]\n", wantErr{5, "maintenance_windows[0].time_intervals[0].weekday", "unknown field"})

	// every error of a file at once, in line order
	f("all errors", "correlation_rules:\n  - name: a\n    window: soon\n  - match: [x]\ninhibit_rules:\n  - source_match: []\nextra: 1\n",
		wantErr{3, "correlation_rules[0].window", "not a duration"},
		wantErr{4, "correlation_rules[1].name", "is required"},
		wantErr{4, "correlation_rules[1].match[0]", "invalid matcher"},
		wantErr{6, "inhibit_rules[0].target_match", "is required"},
		wantErr{7, "extra", "unknown field"},
	)
}

func TestEmptyFileIsTheDefaultSet(t *testing.T) {
	for _, doc := range []string{"", "# nothing\n", "{}\n", "correlation_rules:\n"} {
		s, err := Parse("r.yml", []byte(doc))
		require.NoError(t, err, doc)
		require.Len(t, s.Correlation, 1)
		require.Equal(t, DefaultRuleName, s.Correlation[0].Name)
	}
}

func TestAliasesResolve(t *testing.T) {
	s, err := Parse("r.yml", []byte("correlation_rules:\n  - name: a\n    match: &m ['team=\"db\"']\n  - name: b\n    match: *m\n"))
	require.NoError(t, err)
	require.Equal(t, s.Correlation[0].Matchers.String(), s.Correlation[1].Matchers.String())
}

func TestAliasBombIsRefused(t *testing.T) {
	// Aliases at every level the schema descends: 300 rules, each with
	// 300 group_by entries of 300 names, from a few KiB of YAML.
	thousand := func(s string) string { return "[" + strings.Repeat(s+", ", 299) + s + "]" }
	doc := "correlation_rules:\n" +
		"  - &r {name: r, group_by: &g " + thousand("&l "+thousand("a")) + "}\n" +
		"  - {name: s, group_by: " + thousand("*l") + "}\n" +
		strings.Repeat("  - *r\n", 300)
	_, err := Parse("r.yml", []byte(doc))
	require.ErrorContains(t, err, "too large or too deeply aliased")
	var es Errors
	require.ErrorAs(t, err, &es)
	require.LessOrEqual(t, len(es), maxErrors+2)
}

func TestTooManyErrors(t *testing.T) {
	doc := "correlation_rules:\n" + strings.Repeat("  - window: x\n", 500)
	_, err := Parse("r.yml", []byte(doc))
	var es Errors
	require.ErrorAs(t, err, &es)
	require.Len(t, es, maxErrors+1)
	require.Equal(t, "r.yml: too many errors; only the first 200 are shown", es[maxErrors].Error())
}

func TestLoadErrorsNameEveryFile(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yml")
	b := filepath.Join(dir, "b.yml")
	require.NoError(t, os.WriteFile(a, []byte("correlation_rules:\n  - name: x\n"), 0o644))
	require.NoError(t, os.WriteFile(b, []byte("correlation_rules:\n  - name: y\n    window: never\n  - name: x\n"), 0o644))
	_, err := Load(a, b)
	require.Error(t, err)
	require.Contains(t, err.Error(), b+":3:")
	require.Contains(t, err.Error(), b+":4:")
	require.Contains(t, err.Error(), `correlation rule "x" is already defined at `+a+":2")

	s, err := Load(filepath.Join(dir, "a*.yml"))
	require.NoError(t, err, "globs expand")
	require.Equal(t, []string{a}, s.Files)
	_, err = Load(filepath.Join(dir, "missing.yml"))
	require.ErrorIs(t, err, os.ErrNotExist)
	s, err = Load()
	require.NoError(t, err)
	require.Len(t, s.Correlation, 1, "no files: the default set")
}
