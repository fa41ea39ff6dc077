package rules

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/ingest"
)

// hundredRules is a rule file of 100 rules, each matching one team and
// grouping by service, ci.site and the first of cluster and job; half use
// regex matchers. Alerts of team 99 walk all of them.
func hundredRules() string {
	var b strings.Builder
	b.WriteString("correlation_rules:\n")
	for i := range 100 {
		m := fmt.Sprintf(`team="t%d"`, i)
		if i%2 == 1 {
			m = fmt.Sprintf(`team=~"t%d|x%d"`, i, i)
		}
		fmt.Fprintf(&b, "  - name: r%d\n    match: ['%s', 'severity=~\"critical|major|warning\"']\n    group_by: [service, ci.site, [cluster, job]]\n", i, m)
	}
	return b.String()
}

func BenchmarkMatchGroupKey100Rules(b *testing.B) {
	s := mustParse(b, hundredRules())
	for _, team := range []string{"t0", "t99", "none"} {
		b.Run("team="+team, func(b *testing.B) {
			ls := lbls("alertname", "HighLatency", "instance", "10.0.0.1:9100", "job", "node", "service", "api", "severity", "critical", "team", team)
			ci := func(n string) (string, bool) { return "fra1", n == "site" }
			var rs []*CorrelationRule
			var key []byte
			b.ReportAllocs()
			for b.Loop() {
				rs = s.AppendMatch(rs[:0], ls)
				for _, r := range rs {
					key = r.AppendGroupKey(key[:0], ls, ci)
				}
			}
			_ = key
		})
	}
}

func BenchmarkInhibits10kSources(b *testing.B) {
	s := mustParse(b, `
inhibit_rules:
  - name: crit-warn
    source_match: ['severity="critical"']
    target_match: ['severity="warning"']
    equal: [alertname, instance]
  - name: site
    source_match: ['alertname="SiteDown"']
    target_match: ['site=~".+"']
    equal: [site]
`)
	ix := NewInhibitIndex(s)
	for i := range 10000 {
		ls := lbls("alertname", fmt.Sprintf("A%d", i%100), "instance", fmt.Sprintf("h%d", i), "severity", "critical")
		ix.Add(model.Fingerprint(i), ls)
	}
	targets := map[string]ingest.Labels{
		"inhibited":     lbls("alertname", "A7", "instance", "h107", "severity", "warning"),
		"not-inhibited": lbls("alertname", "A7", "instance", "h108", "severity", "warning", "site", "fra1"),
		"no-target":     lbls("alertname", "A7", "instance", "h107", "severity", "info"),
	}
	for name, ls := range targets {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ix.Inhibits(ls)
			}
		})
	}
}
