package cmdb

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/ingest"
)

const (
	exampleYAML    = "../../deploy/examples/cmdb.yml"
	exampleCIs     = "../../deploy/examples/cmdb/cis.csv"
	exampleRels    = "../../deploy/examples/cmdb/relations.csv"
	exampleSwitch  = "core-sw-fra-1"
	exampleDB      = "db-orders-fra"
	exampleService = "checkout-fra"
)

func exampleGraph(t testing.TB) *Graph {
	t.Helper()
	g, err := Load(exampleYAML)
	require.NoError(t, err)
	return g
}

func TestExampleCMDBInvariants(t *testing.T) {
	g := exampleGraph(t)
	require.GreaterOrEqual(t, g.Len(), 250)
	require.Len(t, g.ByClass("site"), 2)
	require.Len(t, g.ByClass("network_switch"), 4)
	require.Len(t, g.ByClass("host"), 160)

	// Every host binds by its node exporter instance, and by name.
	for _, h := range g.ByClass("host") {
		c, ok := g.Bind(lbls("alertname", "NodeDown", "instance", h.ID+":9100", "job", "node"))
		require.True(t, ok, h.ID)
		require.Equal(t, h.ID, c.ID)
		c, ok = g.Bind(lbls("alertname", "DiskFull", "hostname", h.Name))
		require.True(t, ok, h.Name)
		require.Equal(t, h.ID, c.ID)
	}
	// Every database and application binds by its match, not by host.
	for _, d := range g.ByClass("database") {
		cluster := strings.TrimPrefix(d.ID, "db-")
		c, ok := g.Bind(lbls("alertname", "DBDown", "db_cluster", cluster, "instance", "fra-r01-h01:9187"))
		require.True(t, ok, d.ID)
		require.Equal(t, d.ID, c.ID)
	}
	for _, a := range g.ByClass("application") {
		up := g.Upstream(a.ID, 1, RelTypes(RunsOn))
		require.Len(t, up, 1, a.ID)
		c, ok := g.Bind(lbls("alertname", "HighErrorRate", "job", a.Attributes["service"], "instance", up[0].CI.ID+":8080", "service", a.Attributes["service"], "site", a.Attributes["site"]))
		require.True(t, ok, a.ID)
		require.Equal(t, a.ID, c.ID)
	}
	c, ok := g.Bind(lbls("alertname", "SLOBurn", "service", "checkout", "site", "fra"))
	require.True(t, ok)
	require.Equal(t, exampleService, c.ID)

	// A core switch's blast radius holds its hosts and their apps.
	blast := hops(g.BlastRadius(exampleSwitch, 2))
	var hostsBehind int
	for _, h := range g.ByClass("host") {
		linked := false
		for _, r := range g.Upstream(h.ID, 1, RelTypes(ConnectedTo)) {
			linked = linked || r.CI.ID == exampleSwitch
		}
		if !linked {
			require.NotContains(t, blast, h.ID)
			continue
		}
		hostsBehind++
		require.Equal(t, 1, blast[h.ID], h.ID)
		for _, r := range g.Downstream(h.ID, 1, RelTypes(RunsOn)) {
			require.Equal(t, 2, blast[r.CI.ID], "%s runs on %s", r.CI.ID, h.ID)
		}
	}
	require.Equal(t, 40, hostsBehind)

	// A switch failure: the switch, its hosts and their apps alert; the
	// switch is the probable cause whatever the order.
	set := []string{}
	for id, h := range blast {
		if h <= 2 {
			set = append(set, id)
		}
	}
	set = append(set, exampleSwitch)
	cause, ok := g.MostUpstream(set, 3, 0)
	require.True(t, ok)
	require.Equal(t, exampleSwitch, cause)

	// A database failure: the apps that depend on it and their services.
	set = []string{exampleService}
	for _, r := range g.Downstream(exampleDB, 2, RelTypes(DependsOn)) {
		set = append(set, r.CI.ID)
	}
	set = append(set, exampleDB)
	cause, _ = g.MostUpstream(set, 3, 0)
	require.Equal(t, exampleDB, cause)
	_, ok = g.Linked(exampleService, exampleDB, 2, RelTypes(DependsOn))
	require.True(t, ok)
}

func TestExampleCSVSubset(t *testing.T) {
	g, err := Load(exampleCIs, exampleRels)
	require.NoError(t, err)
	full := exampleGraph(t)
	require.Less(t, g.Len(), full.Len())
	for c := range g.CIs() {
		f, ok := full.CI(c.ID)
		require.True(t, ok, c.ID)
		require.Equal(t, f.Match.String(), c.Match.String(), c.ID)
		require.Equal(t, f.SupportGroup, c.SupportGroup)
	}
	require.Len(t, g.BlastRadius(exampleSwitch, 1), 41, "40 hosts and a load balancer")
}

// bigGraph is a synthetic CMDB of n CIs in which half bind by match: a
// matcher CI per (job, instance) pair, as many applications are modelled,
// plus a few regex-only matchers that every alert must be checked against.
func bigGraph(t testing.TB, n int) *Graph {
	t.Helper()
	ds := &Dataset{}
	for i := range n {
		c := CI{ID: fmt.Sprintf("host-%05d", i), Name: fmt.Sprintf("host-%05d.example.net", i), Class: "host"}
		if i%2 == 1 {
			c.ID, c.Name, c.Class = fmt.Sprintf("app-%05d", i), "", "application"
			ms, err := ParseMatch(fmt.Sprintf(`job="svc-%d", instance=~"host-%05d:.*"`, i%100, i-1))
			require.NoError(t, err)
			c.Match = ms
		}
		if i%1000 == 999 {
			ms, err := ParseMatch(fmt.Sprintf(`alertname=~"Synthetic%d.*"`, i))
			require.NoError(t, err)
			c.Match = ms
		}
		ds.CIs = append(ds.CIs, c)
	}
	g, err := NewGraph(ds)
	require.NoError(t, err)
	return g
}

func TestBigGraphBinds(t *testing.T) {
	g := bigGraph(t, 5000)
	c, ok := g.Bind(lbls("alertname", "HighLatency", "job", "svc-77", "instance", "host-04876:8080"))
	require.True(t, ok)
	require.Equal(t, "app-04877", c.ID)
	c, ok = g.Bind(lbls("alertname", "NodeDown", "job", "node", "instance", "host-04876:9100"))
	require.True(t, ok)
	require.Equal(t, "host-04876", c.ID)
	_, ok = g.Bind(lbls("alertname", "Watchdog", "job", "prometheus"))
	require.False(t, ok)
	if raceEnabled {
		t.Skip("allocation counts do not hold under the race detector")
	}
	for _, ls := range []ingest.Labels{
		lbls("alertname", "HighLatency", "job", "svc-77", "instance", "host-04876:8080"),
		lbls("alertname", "NodeDown", "job", "node", "instance", "[::1]:9100"),
		lbls("alertname", "Watchdog"),
	} {
		require.Zero(t, testing.AllocsPerRun(100, func() { g.Bind(ls) }), "Bind allocates nothing")
	}
	ex := exampleGraph(t)
	require.Zero(t, testing.AllocsPerRun(100, func() {
		ex.Linked("fra-r01-h05", "ams-r01-h05", 3, 0)
		ex.LinkedToAny("checkout-fra-1", []string{"lb-ams-2", "db-orders-fra"}, 3, 0)
		ex.MostUpstream([]string{"checkout-fra-1", "db-orders-fra", "checkout-fra"}, 3, 0)
	}), "the engine's per-alert queries allocate nothing once warm")
}

func benchBind(b *testing.B, want bool, kv ...string) {
	g := bigGraph(b, 5000)
	ls := lbls(kv...)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := g.Bind(ls); ok != want {
			b.Fatal("unexpected binding")
		}
	}
}

// BenchmarkBind: 5000 CIs, 2500 with matchers.
func BenchmarkBind(b *testing.B) {
	b.Run("match", func(b *testing.B) {
		benchBind(b, true, "alertname", "HighLatency", "job", "svc-77", "instance", "host-04876:8080", "severity", "critical")
	})
	b.Run("instance", func(b *testing.B) {
		benchBind(b, true, "alertname", "NodeDown", "instance", "host-04876:9100", "job", "node", "severity", "critical")
	})
	b.Run("none", func(b *testing.B) {
		benchBind(b, false, "alertname", "Watchdog", "job", "prometheus", "severity", "none")
	})
}

func BenchmarkLinked(b *testing.B) {
	g := exampleGraph(b)
	cases := []struct{ name, a, c string }{
		{"same-switch-hosts", "fra-r01-h05", "fra-r02-h07"},          // 2 hops through the switch
		{"app-to-db", "checkout-fra-1", "db-payments-fra"},           // 1 hop
		{"service-to-switch", "checkout-fra", "core-sw-fra-2"},       // 3 hops
		{"unlinked-other-site", "fra-r01-h05", "ams-r01-h05"},        // not within 3
		{"unlinked-site-hub", "checkout-fra-1", "lb-ams-2"},          // not within 3
		{"app-to-app-same-db", "checkout-fra-1", "orders-api-fra-2"}, // 2 hops through db-orders
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				g.Linked(c.a, c.c, 3, 0)
			}
		})
	}
	b.Run("to-any-of-40", func(b *testing.B) {
		var others []string
		for _, r := range g.BlastRadius(exampleSwitch, 1) {
			others = append(others, r.CI.ID)
		}
		b.ReportAllocs()
		for b.Loop() {
			g.LinkedToAny("checkout-fra-2", others, 3, 0)
		}
	})
}

func BenchmarkMostUpstream(b *testing.B) {
	g := exampleGraph(b)
	set := []string{}
	for _, r := range g.BlastRadius(exampleSwitch, 2) {
		set = append(set, r.CI.ID)
	}
	set = append(set, exampleSwitch)
	b.Run(fmt.Sprintf("switch-failure-%d-cis", len(set)), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			g.MostUpstream(set, 3, 0)
		}
	})
	small := []string{"checkout-fra-1", "checkout-fra-2", "orders-api-fra-1", "db-orders-fra", "checkout-fra"}
	b.Run("db-failure-5-cis", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			g.MostUpstream(small, 3, 0)
		}
	})
}
