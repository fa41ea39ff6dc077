package notify

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/sift-itsm/sift/config"
)

// Route is a node of the routing tree, compiled from config.NotifyRoute.
// Matching is Alertmanager's: a node matches when all its matchers do;
// an event goes down the first matching child (and on past it while the
// child says continue), and to the receivers of the deepest nodes that
// match. A node without a receiver takes its parent's; so does
// RepeatInterval.
type Route struct {
	Receiver       string
	Matchers       labels.Matchers
	Continue       bool
	RepeatInterval time.Duration
	Routes         []*Route
	// Path names the node in the tree for routes test: "route.routes[1]".
	Path string
}

// NewRoute compiles a validated routing tree.
func NewRoute(c *config.NotifyRoute) (*Route, error) {
	return compile(c, nil, "route")
}

func compile(c *config.NotifyRoute, parent *Route, path string) (*Route, error) {
	r := &Route{Receiver: c.Receiver, Continue: c.Continue, Path: path}
	if parent != nil {
		if r.Receiver == "" {
			r.Receiver = parent.Receiver
		}
		r.RepeatInterval = parent.RepeatInterval
	}
	if c.RepeatInterval != nil {
		r.RepeatInterval = c.RepeatInterval.Std()
	}
	for i, s := range c.Matchers {
		ms, err := labels.ParseMatchers(s)
		if err != nil {
			return nil, fmt.Errorf("%s.matchers[%d]: %w", path, i, err)
		}
		r.Matchers = append(r.Matchers, ms...)
	}
	for i, cc := range c.Routes {
		child, err := compile(cc, r, fmt.Sprintf("%s.routes[%d]", path, i))
		if err != nil {
			return nil, err
		}
		r.Routes = append(r.Routes, child)
	}
	return r, nil
}

// Match returns the routes an incident event with labels ls goes to, in
// tree order.
func (r *Route) Match(ls map[string]string) []*Route {
	if !r.matches(ls) {
		return nil
	}
	var all []*Route
	for _, c := range r.Routes {
		m := c.Match(ls)
		all = append(all, m...)
		if m != nil && !c.Continue {
			break
		}
	}
	if len(all) == 0 {
		all = append(all, r)
	}
	return all
}

func (r *Route) matches(ls map[string]string) bool {
	for _, m := range r.Matchers {
		if !m.Matches(ls[m.Name]) {
			return false
		}
	}
	return true
}

// Receivers returns the receivers of the routes an event with labels ls
// goes to, each once, in tree order, with the shortest repeat interval
// among the routes that reach it (0: none).
func (r *Route) Receivers(ls map[string]string) []Target {
	var out []Target
	for _, m := range r.Match(ls) {
		found := false
		for i := range out {
			if out[i].Receiver == m.Receiver {
				found = true
				if ri := m.RepeatInterval; ri > 0 && (out[i].RepeatInterval == 0 || ri < out[i].RepeatInterval) {
					out[i].RepeatInterval = ri
				}
			}
		}
		if !found {
			out = append(out, Target{Receiver: m.Receiver, RepeatInterval: m.RepeatInterval, Route: m.Path})
		}
	}
	return out
}

// Target is a receiver an event goes to.
type Target struct {
	Receiver       string
	RepeatInterval time.Duration
	// Route is the path of the first route that reached it.
	Route string
}

// String prints the tree, one node a line, for siftctl.
func (r *Route) String() string {
	var b strings.Builder
	r.print(&b, 0)
	return b.String()
}

func (r *Route) print(b *strings.Builder, depth int) {
	fmt.Fprintf(b, "%s%s receiver=%s", strings.Repeat("  ", depth), r.Path, r.Receiver)
	if len(r.Matchers) > 0 {
		fmt.Fprintf(b, " matchers=%s", r.Matchers)
	}
	if r.Continue {
		b.WriteString(" continue")
	}
	if r.RepeatInterval > 0 {
		fmt.Fprintf(b, " repeat_interval=%s", r.RepeatInterval)
	}
	b.WriteByte('\n')
	for _, c := range r.Routes {
		c.print(b, depth+1)
	}
}
