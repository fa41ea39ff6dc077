package rules

import (
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/common/model"
)

// Default returns the rule set siftd runs with when no rule file is
// given: the built-in rule alone (see DefaultRule).
func Default() *Set {
	s, _ := build(nil)
	return s
}

// DefaultRule returns the built-in rule "default", the last rule of every
// Set. It is the rule file entry
//
//   - name: default
//     group_by: [alertname, [service, cluster, job]]
//     window: 5m
//     max_duration: 24h
//     topology: {max_hops: 3}   # all relation types
//
// that is: alerts bound to CIs linked through any relation within 3 hops
// that fire within 5 minutes of the incident's last alert form one
// incident (their group key is "topology{}"); alerts bound to no CI group
// by alertname plus the first present of service, cluster and job,
// within 5 minutes. Info alerts open no incident under it.
func DefaultRule() *CorrelationRule {
	r := &CorrelationRule{
		Name:        DefaultRuleName,
		GroupBy:     [][]string{{"alertname"}, {"service", "cluster", "job"}},
		Window:      DefaultWindow,
		MaxDuration: DefaultMaxDuration,
		Topology:    &Topology{Relations: slices.Clone(AllRelations), MaxHops: DefaultMaxHops},
	}
	r.compile()
	return r
}

func (r *CorrelationRule) compile() {
	r.match = compileMatchers(r.Matchers)
	r.groupKey = compileKey(r.GroupBy)
	if r.Topology != nil {
		r.topoKey = compileKey(r.Topology.GroupBy)
	}
	r.recurrence = compileKey(r.Recurrence)
}

// build runs the checks that span files (unique names) and compiles the
// set. Files with errors still take part, so that a duplicate name is
// reported alongside the other errors.
func build(files []*file) (*Set, Errors) {
	var errs Errors
	s := &Set{}
	ruleNames := map[string]Position{}
	inhibitNames := map[string]Position{}
	windowNames := map[string]Position{}
	dup := func(f *file, names map[string]Position, name string, key any, what string) {
		k := f.namePos[key]
		if k == nil || name == "" {
			return
		}
		p := Position{File: f.name, Line: k.Line}
		if first, ok := names[name]; ok {
			errs = append(errs, &Error{Position: p, Column: k.Column, Field: "name", Msg: fmt.Sprintf("%s %q is already defined at %s", what, name, first)})
			return
		}
		names[name] = p
	}
	for _, f := range files {
		for _, r := range f.correlation {
			dup(f, ruleNames, r.Name, r, "correlation rule")
			r.compile()
			s.Correlation = append(s.Correlation, r)
		}
		for _, r := range f.inhibit {
			dup(f, inhibitNames, r.Name, r, "inhibit rule")
			s.Inhibit = append(s.Inhibit, r)
		}
		for _, w := range f.maintenance {
			dup(f, windowNames, w.Name, w, "maintenance window")
			s.Maintenance = append(s.Maintenance, w)
		}
	}
	for i, r := range s.Inhibit {
		if r.Name == "" {
			r.Name = fmt.Sprintf("inhibit_rules[%d]", i)
		}
	}
	s.Correlation = append(s.Correlation, DefaultRule())
	s.maint = newMaintenanceIndex(s.Maintenance)
	return s, errs
}

// Summary counts what the set holds, for logs and siftctl.
func (s *Set) Summary() string {
	return fmt.Sprintf("%d correlation rules (plus the default), %d inhibit rules, %d maintenance windows",
		len(s.Correlation)-1, len(s.Inhibit), len(s.Maintenance))
}

func modelDuration(d time.Duration) string { return model.Duration(d).String() }
