package app

import (
	"github.com/hashicorp/go-memdb"
	"github.com/sift-itsm/sift/incident"
	"strconv"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/incident/cmdb"
	"github.com/sift-itsm/sift/ingest"
)

// topology is a CMDB snapshot as the engine sees it. The engine and the
// CMDB know nothing of each other; this adapter is the only place they
// meet.
type topology struct{ g *cmdb.Graph }

// TopologyOf returns the engine's view of g, nil for an empty CMDB.
func TopologyOf(g *cmdb.Graph) correlate.Topology {
	if g == nil || g.Len() == 0 {
		return nil
	}
	return topology{g}
}

func (t topology) Bind(ls ingest.Labels) (string, bool) {
	ci, ok := t.g.Bind(ls)
	if !ok {
		return "", false
	}
	return ci.ID, true
}

func (t topology) CI(id string) (correlate.CIInfo, bool) {
	ci, ok := t.g.CI(id)
	if !ok {
		return correlate.CIInfo{}, false
	}
	return correlate.CIInfo{Name: ci.Name, Criticality: ci.Criticality, SupportGroup: ci.SupportGroup}, true
}

func (t topology) Attr(id, name string) (string, bool) {
	ci, ok := t.g.CI(id)
	if !ok {
		return "", false
	}
	switch name {
	case "id":
		return ci.ID, true
	case "name":
		return ci.Name, true
	case "class":
		return ci.Class, true
	case "environment":
		return ci.Environment, true
	case "criticality":
		return strconv.Itoa(ci.Criticality), true
	case "support_group":
		return ci.SupportGroup, true
	case "owner":
		return ci.Owner, true
	}
	v, ok := ci.Attributes[name]
	return v, ok
}

func (t topology) Near(id string, hops int, follows func(string) bool, f func(string) bool) {
	var types cmdb.RelTypes
	for _, rt := range [...]cmdb.RelType{cmdb.DependsOn, cmdb.RunsOn, cmdb.ConnectedTo, cmdb.MemberOf} {
		if follows == nil || follows(rt.String()) {
			types |= cmdb.RelTypes(rt)
		}
	}
	if types == 0 {
		return
	}
	t.g.Near(id, hops, types, func(ci *cmdb.CI) bool { return f(ci.ID) })
}

func (t topology) DependsOn(a, b string, hops int) bool { return t.g.DependsOn(a, b, hops) }

func (t topology) Upstream(id string, hops int, f func(string, int) bool) {
	for _, r := range t.g.Upstream(id, hops, 0) {
		if !f(r.CI.ID, r.Hops) {
			return
		}
	}
}

// openIncidentsByCI returns the open incidents touching each of the CIs,
// newest first, for the CMDB impact endpoint.
func openIncidentsByCI(txn *memdb.Txn, ids []string) map[string][]string {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	out := map[string][]string{}
	it, err := txn.GetReverse(incident.Table, "id")
	if err != nil {
		return out
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		inc := raw.(*incident.Incident)
		if !inc.State.Open() {
			continue
		}
		for _, ci := range inc.CIs {
			if want[ci] {
				out[ci] = append(out[ci], inc.ID())
			}
		}
	}
	return out
}
