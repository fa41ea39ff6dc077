package incident

import (
	"fmt"

	"github.com/sift-itsm/sift/ingest"
)

// Priority is P1 (highest) to P5.
type Priority uint8

// String returns "P1".."P5", or "" for the zero value.
func (p Priority) String() string {
	if p < 1 || p > 5 {
		return ""
	}
	return fmt.Sprintf("P%d", p)
}

// ParsePriority parses "P1".."P5" (or "1".."5").
func ParsePriority(s string) (Priority, error) {
	if len(s) == 2 && (s[0] == 'P' || s[0] == 'p') {
		s = s[1:]
	}
	if len(s) == 1 && s[0] >= '1' && s[0] <= '5' {
		return Priority(s[0] - '0'), nil
	}
	return 0, fmt.Errorf("priority %q: want P1 to P5", s)
}

// MarshalText implements encoding.TextMarshaler.
func (p Priority) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// PriorityOf is the ITIL impact x urgency lookup (ServiceNow's default):
// the sum of the two, less one, capped to P1..P5. Both range over 1 (high)
// to 3 (low).
func PriorityOf(impact, urgency int) Priority {
	impact, urgency = clamp13(impact), clamp13(urgency)
	return Priority(impact + urgency - 1)
}

// UrgencyOf maps a severity to an urgency: critical 1, major 2, minor and
// warning 3. Info has none: info alerts open no incident unless a rule
// pins the urgency (ok is false).
func UrgencyOf(s ingest.Severity) (urgency int, ok bool) {
	switch s {
	case ingest.SeverityCritical:
		return 1, true
	case ingest.SeverityMajor:
		return 2, true
	case ingest.SeverityMinor, ingest.SeverityWarning:
		return 3, true
	}
	return 3, false
}

// DefaultImpactSpread is how many CIs an incident may span before its
// impact is raised one level.
const DefaultImpactSpread = 10

// ImpactOf maps the best (lowest) criticality among an incident's CIs to an
// impact: 1 or 2 -> 1, 3 -> 2, 4 or unknown (0) -> 3; raised one level
// when the incident spans more than spread CIs.
func ImpactOf(bestCriticality, cis, spread int) int {
	impact := 3
	switch bestCriticality {
	case 1, 2:
		impact = 1
	case 3:
		impact = 2
	}
	if cis > spread && impact > 1 {
		impact--
	}
	return impact
}

func clamp13(v int) int {
	return min(max(v, 1), 3)
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Priority) UnmarshalText(b []byte) error {
	v, err := ParsePriority(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}
