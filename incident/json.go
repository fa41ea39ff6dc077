package incident

import (
	"maps"
	"time"
)

// JSON is the API representation of an incident. The list endpoint
// leaves Timeline and AlertDetails out.
type JSON struct {
	ID             string     `json:"id"`
	Title          string     `json:"title"`
	State          State      `json:"state"`
	Priority       Priority   `json:"priority"`
	Impact         int        `json:"impact"`
	Urgency        int        `json:"urgency"`
	Rule           string     `json:"rule"`
	GroupKey       string     `json:"group_key"`
	Alerts         []string   `json:"alerts"`
	CIs            []string   `json:"cis"`
	ProbableCause  string     `json:"probable_cause,omitempty"`
	SupportGroup   string     `json:"support_group,omitempty"`
	Assignee       string     `json:"assignee,omitempty"`
	OpenedAt       time.Time  `json:"opened_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	ResolvedAt     *time.Time `json:"resolved_at,omitempty"`
	ClosedAt       *time.Time `json:"closed_at,omitempty"`
	Version        uint64     `json:"version"`
	SLA            SLAJSON    `json:"sla"`
	Signature      string     `json:"signature,omitempty"`
	ProblemID      string     `json:"problem_id,omitempty"`
	Workaround     string     `json:"workaround,omitempty"`
	// ProbableChanges is never null: [] when none.
	ProbableChanges []ProbableChange `json:"probable_changes"`
	Timeline        []Entry          `json:"timeline,omitempty"`
	// AlertDetails are the alerts' own representations (the detail
	// endpoint fills them from the alerts table).
	AlertDetails []any `json:"alert_details,omitempty"`
	// Tickets are the incident's tickets in ITSM platforms, by notify
	// receiver (the notification log stores them).
	Tickets map[string]string `json:"tickets,omitempty"`
}

// SLAJSON is the API representation of the SLA clocks.
type SLAJSON struct {
	RespondDue      *time.Time `json:"respond_due,omitempty"`
	ResolveDue      *time.Time `json:"resolve_due,omitempty"`
	RespondBreached bool       `json:"respond_breached"`
	ResolveBreached bool       `json:"resolve_breached"`
}

// ToJSON returns the API representation of inc, with its timeline if
// timeline is set.
func (inc *Incident) ToJSON(timeline bool) JSON {
	j := JSON{
		ID:              inc.ID(),
		Title:           inc.Title,
		State:           inc.State,
		Priority:        inc.Priority,
		Impact:          inc.Impact,
		Urgency:         inc.Urgency,
		Rule:            inc.Rule,
		GroupKey:        inc.GroupKey,
		Alerts:          make([]string, len(inc.Alerts)),
		CIs:             append([]string{}, inc.CIs...),
		ProbableCause:   inc.ProbableCause,
		SupportGroup:    inc.SupportGroup,
		Assignee:        inc.Assignee,
		OpenedAt:        inc.OpenedAt.UTC(),
		UpdatedAt:       inc.UpdatedAt.UTC(),
		AcknowledgedAt:  optTime(inc.AcknowledgedAt),
		ResolvedAt:      optTime(inc.ResolvedAt),
		ClosedAt:        optTime(inc.ClosedAt),
		Version:         inc.Version,
		Signature:       inc.Signature,
		ProblemID:       inc.ProblemID,
		Workaround:      inc.Workaround,
		ProbableChanges: append([]ProbableChange{}, inc.ProbableChanges...),
		SLA: SLAJSON{
			RespondDue:      optTime(inc.SLA.RespondDue),
			ResolveDue:      optTime(inc.SLA.ResolveDue),
			RespondBreached: inc.SLA.RespondBreached,
			ResolveBreached: inc.SLA.ResolveBreached,
		},
		Tickets: maps.Clone(inc.Tickets),
	}
	for i, fp := range inc.Alerts {
		j.Alerts[i] = fp.String()
	}
	if timeline {
		j.Timeline = inc.Timeline[:len(inc.Timeline):len(inc.Timeline)]
	}
	return j
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
