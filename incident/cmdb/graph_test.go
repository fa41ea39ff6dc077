package cmdb

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/ingest"
)

// handMade is a small CMDB with every relation type:
//
//	site-a <-member_of- sw1 <-connected_to- h1 <-runs_on- app1 <-depends_on- svc
//	       <-member_of- sw2 <-connected_to- h3 <-runs_on- db1 <-depends_on- app1, app2
//	                    sw1 <-connected_to- h2 <-runs_on- app2 <-depends_on- svc
const handMade = `
cis:
  - {id: site-a, class: site, criticality: 1}
  - {id: sw1, name: core-sw-1, class: network_switch, criticality: 1, support_group: network}
  - {id: sw2, name: core-sw-2, class: network_switch, criticality: 1}
  - {id: h1, name: host1.example, class: host, criticality: 2}
  - {id: h2, class: host}
  - {id: h3, class: host}
  - id: db1
    class: database
    criticality: 1
    match: 'job="postgres", db="orders"'
  - {id: app1, class: application}
  - {id: app2, class: application}
  - {id: svc, name: orders, class: service}
  - id: lab
    match: 'env=~"lab.*"'
  - id: api
    match: ['service="api"', 'severity!="info"']
  - {id: "::1", class: host}
  - {id: "fe80::1", class: host}
  - {id: clash, name: h2}
relations:
  - {from: sw1, type: member_of, to: site-a}
  - {from: sw2, type: member_of, to: site-a}
  - {from: h1, type: connected_to, to: sw1}
  - {from: h2, type: connected_to, to: sw1}
  - {from: h3, type: connected_to, to: sw2}
  - {from: db1, type: runs_on, to: h3}
  - {from: app1, type: runs_on, to: h1}
  - {from: app1, type: depends_on, to: db1}
  - {from: app2, type: runs_on, to: h2}
  - {from: app2, type: depends_on, to: db1}
  - {from: svc, type: depends_on, to: app1}
  - {from: svc, type: depends_on, to: app2}
`

func mustGraph(t testing.TB, yml string) *Graph {
	t.Helper()
	ds, err := Parse("test.yml", FormatYAML, []byte(yml))
	require.NoError(t, err)
	g, err := NewGraph(ds)
	require.NoError(t, err)
	return g
}

func lbls(kv ...string) ingest.Labels {
	var ps []ingest.Label
	for i := 0; i < len(kv); i += 2 {
		ps = append(ps, ingest.Label{Name: kv[i], Value: kv[i+1]})
	}
	return ingest.NewLabels(ps...)
}

func TestBind(t *testing.T) {
	g := mustGraph(t, handMade)
	f := func(want string, kv ...string) {
		t.Helper()
		c, ok := g.Bind(lbls(kv...))
		if want == "" {
			require.False(t, ok, "labels %v bound to %v", kv, c)
			require.Nil(t, c)
			return
		}
		require.True(t, ok, "labels %v bound to nothing, want %s", kv, want)
		require.Equal(t, want, c.ID, "labels %v", kv)
	}
	// 1. match, before any label rule.
	f("db1", "job", "postgres", "db", "orders", "instance", "h1:9187")
	f("h1", "job", "postgres", "db", "billing", "instance", "h1:9187") // match fails: labels
	f("lab", "env", "lab3", "ci", "h1")                                // regex-only match (not indexed)
	f("api", "service", "api", "severity", "critical", "host", "h1")
	f("h1", "service", "api", "severity", "info", "host", "h1") // api's != excludes it
	// 2. labels in order ci, host, hostname, instance, node, pod, service, job.
	f("h2", "ci", "h2", "host", "h1", "instance", "h3:9100")
	f("h1", "host", "h1", "hostname", "h2", "instance", "h3:9100")
	f("h2", "hostname", "h2", "instance", "h3:9100", "node", "h1")
	f("h3", "instance", "h3:9100", "node", "h1", "pod", "h2")
	f("h1", "node", "h1", "pod", "h2", "service", "svc")
	f("h2", "pod", "h2", "service", "svc", "job", "h1")
	f("svc", "service", "svc", "job", "h1")
	f("h1", "job", "h1")
	// Labels outside the list never bind.
	f("", "alertname", "h1", "cluster", "h2", "team", "svc")
	f("", "instance2", "h1")
	// A present label naming no CI does not stop the search.
	f("h3", "ci", "unknown", "host", "also-unknown", "instance", "h3:9100")
	// By name when no id equals the value; the id wins over a name.
	f("h1", "host", "host1.example")
	f("svc", "service", "orders")
	f("h2", "host", "h2") // clash's name is h2, but h2 is an id
	f("sw1", "instance", "core-sw-1:161")
	// instance without its port.
	f("h1", "instance", "h1")
	f("h1", "instance", "h1:9100")
	f("::1", "instance", "[::1]:9100")
	f("::1", "instance", "[::1]")
	f("fe80::1", "instance", "fe80::1")
	f("h1", "instance", "http://h1:8080/metrics")
	f("h1", "instance", "https://user@h1/health")
	f("", "instance", "h1:notaport")
	f("", "host", "h1:9100") // only instance loses its port
	f("", "instance", "[::1]x")
	// Nothing.
	f("")
	f("", "ci", "")
}

func TestBindFirstMatchInFileOrder(t *testing.T) {
	// Indexed (equality) and scanned (regex only) matcher CIs interleave:
	// whichever comes first in the file wins.
	for _, order := range [][]string{{"a", "b", "c"}, {"c", "b", "a"}, {"b", "a", "c"}} {
		defs := map[string]string{
			"a": `{id: a, match: 'team="x"'}`,
			"b": `{id: b, match: 'team=~"x|y"'}`,
			"c": `{id: c, match: ['team="x"', 'env="prod"']}`,
		}
		var b strings.Builder
		b.WriteString("cis:\n")
		for _, id := range order {
			b.WriteString("  - " + defs[id] + "\n")
		}
		g := mustGraph(t, b.String())
		c, ok := g.Bind(lbls("team", "x", "env", "prod"))
		require.True(t, ok)
		require.Equal(t, order[0], c.ID, "order %v", order)
		c, ok = g.Bind(lbls("team", "y"))
		require.True(t, ok)
		require.Equal(t, "b", c.ID)
	}
}

func TestHostOf(t *testing.T) {
	for in, want := range map[string]string{
		"h1": "h1", "h1:9100": "h1", "10.0.0.1:80": "10.0.0.1", "[::1]:9100": "::1", "[::1]": "::1",
		"::1": "::1", "fe80::1:2": "fe80::1:2", "h1:": "h1:", "h1:123456": "h1:123456", "[::1": "[::1",
		"http://h1:8080/x": "h1", "https://h1": "h1", "tcp://[::1]:53": "::1", "h1:x": "h1:x", "": "",
	} {
		require.Equal(t, want, hostOf(in), "hostOf(%q)", in)
	}
}

func ids(rs []Reach) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.CI.ID
	}
	return out
}

func hops(rs []Reach) map[string]int {
	out := map[string]int{}
	for _, r := range rs {
		out[r.CI.ID] = r.Hops
	}
	return out
}

func TestUpstreamDownstream(t *testing.T) {
	g := mustGraph(t, handMade)
	require.Equal(t, map[string]int{"h1": 1, "db1": 1, "sw1": 2, "h3": 2, "site-a": 3, "sw2": 3}, hops(g.Upstream("app1", 0, 0)))
	require.Equal(t, []string{"h1", "db1"}, ids(g.Upstream("app1", 1, 0)), "file order within a distance")
	require.Equal(t, []string{"h1"}, ids(g.Upstream("app1", 5, RelTypes(RunsOn))))
	require.Equal(t, []string{"h1", "sw1", "site-a"}, ids(g.Upstream("app1", 5, RelTypes(RunsOn|ConnectedTo|MemberOf))))
	require.Equal(t, map[string]int{"h1": 1, "h2": 1, "app1": 2, "app2": 2}, hops(g.Downstream("sw1", 2, 0)))
	require.Equal(t, map[string]int{"h1": 1, "h2": 1, "app1": 2, "app2": 2, "svc": 3}, hops(g.BlastRadius("sw1", 3)))
	require.Equal(t, map[string]int{"h3": 1, "db1": 2, "app1": 3, "app2": 3, "svc": 4}, hops(g.BlastRadius("sw2", 10)))
	require.Empty(t, g.Upstream("site-a", 3, 0))
	require.Nil(t, g.Downstream("nope", 3, 0))
}

func TestLinked(t *testing.T) {
	g := mustGraph(t, handMade)
	f := func(a, b string, max int, types RelTypes, want int, wantOK bool) {
		t.Helper()
		h, ok := g.Linked(a, b, max, types)
		require.Equal(t, wantOK, ok, "Linked(%s, %s, %d)", a, b, max)
		require.Equal(t, want, h, "Linked(%s, %s, %d)", a, b, max)
		h, ok = g.Linked(b, a, max, types)
		require.Equal(t, wantOK, ok, "symmetric")
		require.Equal(t, want, h, "symmetric")
	}
	f("app1", "app1", 0, 0, 0, true)
	f("app1", "h1", 1, 0, 1, true)
	f("app1", "app2", 3, 0, 2, true) // through db1 (or svc)
	f("app1", "app2", 1, 0, 0, false)
	f("h1", "h3", 3, 0, 3, true) // h1 <- app1 -> db1 -> h3
	f("h1", "h3", 3, RelTypes(ConnectedTo|MemberOf), 0, false)
	f("h1", "h3", 4, RelTypes(ConnectedTo|MemberOf), 4, true) // through the site
	f("svc", "site-a", 0, 0, 4, true)                         // unbounded
	f("h1", "nope", 5, 0, 0, false)
	f("lab", "h1", 10, 0, 0, false) // no relations
}

func TestLinkedToAny(t *testing.T) {
	g := mustGraph(t, handMade)
	i, h, ok := g.LinkedToAny("app1", []string{"sw2", "nope", "db1", "h1"}, 3, 0)
	require.True(t, ok)
	require.Equal(t, 2, i, "db1 and h1 are both 1 hop away: the lower index wins")
	require.Equal(t, 1, h)
	i, h, ok = g.LinkedToAny("app1", []string{"sw2", "app1"}, 3, 0)
	require.True(t, ok)
	require.Equal(t, []int{1, 0}, []int{i, h})
	i, h, ok = g.LinkedToAny("app1", []string{"sw2"}, 3, 0)
	require.True(t, ok)
	require.Equal(t, []int{0, 3}, []int{i, h})
	_, _, ok = g.LinkedToAny("app1", []string{"sw2"}, 2, 0)
	require.False(t, ok)
	_, _, ok = g.LinkedToAny("nope", []string{"app1"}, 2, 0)
	require.False(t, ok)
	_, _, ok = g.LinkedToAny("app1", nil, 2, 0)
	require.False(t, ok)
}

func TestMostUpstream(t *testing.T) {
	g := mustGraph(t, handMade)
	f := func(want string, max int, types RelTypes, in ...string) {
		t.Helper()
		got, ok := g.MostUpstream(in, max, types)
		require.Equal(t, want != "", ok)
		require.Equal(t, want, got, "MostUpstream(%v)", in)
	}
	f("db1", 0, 0, "app1", "app2", "db1")
	f("db1", 0, 0, "svc", "app2", "db1", "app1")
	f("sw1", 0, 0, "app1", "h1", "h2", "sw1", "app2")
	f("h1", 0, 0, "svc", "app1", "h1")
	f("h1", 0, 0, "h1", "h3") // unrelated: the first given
	f("h3", 0, 0, "h3", "h1")
	// app1 needs both h1 and db1 (score 1 each); neither is above
	// another member: the first given wins.
	f("h1", 0, 0, "app1", "h1", "db1")
	f("db1", 0, 0, "app1", "db1", "h1")
	// Relation types and hops bound what counts.
	f("app1", 0, RelTypes(DependsOn), "svc", "app1", "h1")
	f("svc", 1, 0, "svc", "h1")
	f("h1", 2, 0, "svc", "h1")
	// Unknown and repeated ids are ignored.
	f("db1", 0, 0, "nope", "app1", "app1", "db1")
	f("h2", 0, 0, "h2")
	f("", 0, 0, "nope")
	f("", 0, 0)
}

func TestMostUpstreamCycle(t *testing.T) {
	g := mustGraph(t, `
cis: [{id: a}, {id: b}, {id: c}]
relations:
  - {from: a, type: depends_on, to: b}
  - {from: b, type: depends_on, to: a}
  - {from: c, type: depends_on, to: a}
`)
	// a: needed by b and c (2); b: needed by a and c (2); a has b above
	// it and b has a: the same, so the first given wins.
	for _, in := range [][]string{{"a", "b", "c"}, {"b", "a", "c"}, {"c", "b", "a"}} {
		got, ok := g.MostUpstream(in, 0, 0)
		require.True(t, ok)
		want := in[0]
		if want == "c" {
			want = "b"
		}
		require.Equal(t, want, got, "%v", in)
	}
}

// TestLinkedMatchesBruteForce holds the bidirectional search to a plain
// breadth-first search on random graphs.
func TestLinkedMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	types := []RelType{DependsOn, RunsOn, ConnectedTo, MemberOf}
	for round := 0; round < 30; round++ {
		n := 5 + rng.IntN(40)
		var b strings.Builder
		b.WriteString("cis:\n")
		for i := 0; i < n; i++ {
			b.WriteString("  - {id: n" + strconv.Itoa(i) + "}\n")
		}
		b.WriteString("relations:\n")
		type e struct {
			a, b int
			t    RelType
		}
		var edges []e
		seen := map[e]bool{}
		for k := rng.IntN(2 * n); k > 0; k-- {
			x := e{rng.IntN(n), rng.IntN(n), types[rng.IntN(4)]}
			if x.a == x.b || seen[x] {
				continue
			}
			seen[x] = true
			edges = append(edges, x)
			b.WriteString("  - {from: n" + strconv.Itoa(x.a) + ", type: " + x.t.String() + ", to: n" + strconv.Itoa(x.b) + "}\n")
		}
		g := mustGraph(t, b.String())
		filter := RelTypes(rng.IntN(16))
		dist := func(from int) []int {
			d := slices.Repeat([]int{-1}, n)
			d[from] = 0
			q := []int{from}
			for len(q) > 0 {
				u := q[0]
				q = q[1:]
				for _, x := range edges {
					if !filter.Has(x.t) {
						continue
					}
					for _, v := range [][2]int{{x.a, x.b}, {x.b, x.a}} {
						if v[0] == u && d[v[1]] < 0 {
							d[v[1]] = d[u] + 1
							q = append(q, v[1])
						}
					}
				}
			}
			return d
		}
		for a := 0; a < n; a++ {
			d := dist(a)
			for bb := 0; bb < n; bb++ {
				for _, max := range []int{1, 2, 3, 5, 0} {
					h, ok := g.Linked("n"+strconv.Itoa(a), "n"+strconv.Itoa(bb), max, filter)
					want := d[bb] >= 0 && (max == 0 || d[bb] <= max)
					require.Equal(t, want, ok, "round %d: n%d-n%d max %d dist %d", round, a, bb, max, d[bb])
					if ok {
						require.Equal(t, d[bb], h)
					}
				}
			}
		}
	}
}
