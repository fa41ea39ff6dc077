package incident

import "time"

// SLATarget is how long an incident of one priority may take to be
// responded to (acknowledged or taken on) and resolved.
type SLATarget struct {
	Respond time.Duration
	Resolve time.Duration
}

// DefaultSLATargets are ITSM.md's defaults, by priority (index 1..5).
var DefaultSLATargets = [6]SLATarget{
	1: {15 * time.Minute, 4 * time.Hour},
	2: {30 * time.Minute, 8 * time.Hour},
	3: {2 * time.Hour, 24 * time.Hour},
	4: {8 * time.Hour, 72 * time.Hour},
	5: {24 * time.Hour, 168 * time.Hour},
}

// SLA breach kinds.
const (
	BreachRespond = "respond"
	BreachResolve = "resolve"
)

// Responded reports whether someone responded to the incident: it was
// acknowledged, or taken on (assigned) straight from new.
func (inc *Incident) Responded() bool { return !inc.AcknowledgedAt.IsZero() }
