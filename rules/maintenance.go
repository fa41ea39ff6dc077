package rules

import (
	"time"

	"github.com/sift-itsm/sift/ingest"
)

// maintenanceIndex finds the windows that may cover an alert without
// looking at windows of other CIs.
type maintenanceIndex struct {
	byCI map[string][]int // window indexes, ascending
	any  []int            // windows without cis
	all  []*MaintenanceWindow
}

func newMaintenanceIndex(ws []*MaintenanceWindow) maintenanceIndex {
	ix := maintenanceIndex{byCI: map[string][]int{}, all: ws}
	for i, w := range ws {
		if len(w.CIs) == 0 {
			ix.any = append(ix.any, i)
			continue
		}
		for _, ci := range w.CIs {
			ix.byCI[ci] = append(ix.byCI[ci], i)
		}
	}
	return ix
}

// InMaintenance reports whether a maintenance window covers an alert
// bound to CI ciID ("" when unbound) with labels ls at time t (the
// alert's event time, so replays agree with live runs), and names the
// first such window in file order.
//
// A window covers the alert when its cis (if any) include ciID and its
// match (if any) matches ls: both must hold when both are given. It is
// active at t when t is in [start, end) and, for a recurring window, in
// one of its time_intervals.
func (s *Set) InMaintenance(t time.Time, ciID string, ls ingest.Labels) (window string, ok bool) {
	ix := &s.maint
	var byCI []int
	if ciID != "" {
		byCI = ix.byCI[ciID]
	}
	a, b := ix.any, byCI
	// Merge the two ascending lists so the first window in file order
	// wins.
	for len(a) > 0 || len(b) > 0 {
		var i int
		if len(b) == 0 || (len(a) > 0 && a[0] < b[0]) {
			i, a = a[0], a[1:]
		} else {
			i, b = b[0], b[1:]
		}
		w := ix.all[i]
		if matches(w.Matchers, ls) && w.ActiveAt(t) {
			return w.Name, true
		}
	}
	return "", false
}
