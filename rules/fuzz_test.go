package rules

import (
	"os"
	"testing"

	"github.com/prometheus/common/model"
)

// FuzzParse holds the loader to its contract on any input: no panic, and
// either a usable Set or errors that each name a line.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/good.yml", "../deploy/examples/rules.yml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("correlation_rules:\n  - name: a\n    group_by: [[a, ci.b]]\n    topology: {max_hops: 2}\n"))
	f.Add([]byte("maintenance_windows:\n  - {name: w, cis: [a], time_intervals: [{weekdays: ['monday:friday'], times: [{start_time: '01:00', end_time: '02:00'}], days_of_month: ['-3:-1'], months: ['jan:mar'], years: ['2026'], location: UTC}]}\n"))
	f.Add([]byte("inhibit_rules:\n  - {source_match: ['{a=~\"x|y\"}'], target_match: ['b!=\"\"'], equal: [c]}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse("f.yml", b)
		if err != nil {
			if s != nil {
				t.Fatal("a set with an error")
			}
			es, ok := err.(Errors)
			if !ok || len(es) == 0 {
				t.Fatalf("error is not Errors: %v", err)
			}
			return
		}
		ls := lbls("alertname", "x", "service", "y")
		for _, r := range s.Match(ls) {
			_ = r.GroupKey(ls, nil)
		}
		ix := NewInhibitIndex(s)
		ix.Add(model.Fingerprint(1), ls)
		ix.Inhibits(ls)
		s.InMaintenance(utc("2026-01-01T00:00:00Z"), "a", ls)
	})
}
