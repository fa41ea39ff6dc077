package rules

import (
	"regexp"
	"strings"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/sift-itsm/sift/ingest"
)

type labelPair struct{ name, value string }

// labelView is a label set unpacked once, so that evaluating many
// matchers does not rescan the packed string for every one (which
// dominated Match over 100 rules). Callers unpack into a stack array;
// alert label sets are small, so nothing is allocated.
type labelView []labelPair

func unpack(dst labelView, ls ingest.Labels) labelView {
	for name, value := range ls.All() {
		dst = append(dst, labelPair{name, value})
	}
	return dst
}

// get returns the value of name, "" when absent.
func (v labelView) get(name string) string {
	if len(v) <= 8 {
		for _, p := range v {
			if p.name == name {
				return p.value
			}
		}
		return ""
	}
	lo, hi := 0, len(v)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if v[m].name < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(v) && v[lo].name == name {
		return v[lo].value
	}
	return ""
}

func (v labelView) matches(ms []matcher) bool {
	for i := range ms {
		if !ms[i].matches(v.get(ms[i].name)) {
			return false
		}
	}
	return true
}

type matchKind uint8

const (
	kindRegex    matchKind = iota // the compiled regexp
	kindEqual                     // value == s
	kindSet                       // value in set: an alternation of literals
	kindNoNL                      // .*: any value without a newline
	kindNonEmpty                  // .+: any non-empty value without a newline
)

// matcher is an Alertmanager matcher with fast paths for the regular
// expressions rule files mostly hold (literal alternations, .*, .+);
// anything else runs the matcher's own regexp. TestFastMatcherAgrees
// holds it to labels.Matcher.
type matcher struct {
	name   string
	kind   matchKind
	negate bool
	value  string
	set    []string
	m      *labels.Matcher
}

func compileMatcher(m *labels.Matcher) matcher {
	fm := matcher{name: m.Name, m: m, value: m.Value}
	switch m.Type {
	case labels.MatchEqual:
		fm.kind = kindEqual
	case labels.MatchNotEqual:
		fm.kind, fm.negate = kindEqual, true
	case labels.MatchRegexp, labels.MatchNotRegexp:
		fm.negate = m.Type == labels.MatchNotRegexp
		switch {
		case m.Value == ".*":
			fm.kind = kindNoNL
		case m.Value == ".+":
			fm.kind = kindNonEmpty
		default:
			parts := strings.Split(m.Value, "|")
			literal := true
			for _, p := range parts {
				if regexp.QuoteMeta(p) != p {
					literal = false
					break
				}
			}
			if literal {
				fm.kind, fm.set = kindSet, parts
			}
		}
	}
	return fm
}

func (m *matcher) matches(v string) bool {
	var ok bool
	switch m.kind {
	case kindEqual:
		ok = v == m.value
	case kindSet:
		for _, s := range m.set {
			if v == s {
				ok = true
				break
			}
		}
	case kindNoNL:
		ok = strings.IndexByte(v, '\n') < 0
	case kindNonEmpty:
		ok = v != "" && strings.IndexByte(v, '\n') < 0
	default:
		return m.m.Matches(v)
	}
	return ok != m.negate
}

// compileMatchers orders matchers cheapest first (all must match, so the
// order does not change the result) and compiles their fast paths.
func compileMatchers(ms labels.Matchers) []matcher {
	out := make([]matcher, 0, len(ms))
	for _, k := range []matchKind{kindEqual, kindSet, kindNonEmpty, kindNoNL, kindRegex} {
		for _, m := range ms {
			if fm := compileMatcher(m); fm.kind == k {
				out = append(out, fm)
			}
		}
	}
	return out
}
