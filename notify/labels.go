package notify

import (
	"maps"
	"strconv"

	"github.com/prometheus/alertmanager/template"

	"github.com/sift-itsm/sift/incident"
)

// CIAttrFunc returns an attribute of a CMDB CI (class, environment, ...).
type CIAttrFunc func(ci, name string) (string, bool)

// Labels returns the labels routes match an incident event on: the
// labels all the incident's alerts share (service, environment, …), and
// over them the incident's own:
//
//	event          opened, priority_changed, acknowledged, …
//	incident       the id, INC0000001
//	priority       P1..P5
//	impact,urgency 1..3
//	state          new, acknowledged, in_progress, on_hold, resolved, closed
//	support_group  the assignment group, if any
//	assignee       if any
//	rule           the correlation rule that made it
//	ci             the probable cause, else the first CI, if any
//	ci_class       that CI's class in the CMDB
//	ci_environment that CI's environment in the CMDB
//	ci_criticality that CI's criticality in the CMDB
//
// ciAttr may be nil (no CMDB).
func Labels(ev Event, inc *incident.Incident, alerts template.Alerts, ciAttr CIAttrFunc) map[string]string {
	ls := common(alerts, func(a template.Alert) template.KV { return a.Labels })
	set := func(k, v string) {
		if v != "" {
			ls[k] = v
		} else {
			delete(ls, k)
		}
	}
	set("event", ev.String())
	set("incident", inc.ID())
	set("priority", inc.Priority.String())
	set("impact", itoa(inc.Impact))
	set("urgency", itoa(inc.Urgency))
	set("state", inc.State.String())
	set("support_group", inc.SupportGroup)
	set("assignee", inc.Assignee)
	set("rule", inc.Rule)
	ci := inc.ProbableCause
	if ci == "" && len(inc.CIs) > 0 {
		ci = inc.CIs[0]
	}
	set("ci", ci)
	for _, a := range []string{"class", "environment", "criticality"} {
		v := ""
		if ci != "" && ciAttr != nil {
			v, _ = ciAttr(ci, a)
		}
		set("ci_"+a, v)
	}
	return ls
}

// common returns the pairs of kv (an alert's labels or annotations) that
// every alert has alike; none without alerts.
func common(alerts template.Alerts, kv func(template.Alert) template.KV) template.KV {
	out := template.KV{}
	if len(alerts) == 0 {
		return out
	}
	maps.Copy(out, kv(alerts[0]))
	for _, a := range alerts[1:] {
		other := kv(a)
		maps.DeleteFunc(out, func(k, v string) bool { return other[k] != v })
	}
	return out
}

func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}
