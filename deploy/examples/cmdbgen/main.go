// Command cmdbgen writes the example CMDB of deploy/examples: cmdb.yml (two
// sites, about 300 CIs) and cmdb/cis.csv with cmdb/relations.csv (the part
// behind one core switch). The output is deterministic; regenerate with
//
//	go run ./deploy/examples/cmdbgen
//
// from the module root, and main_test.go checks that the committed files
// are what it writes.
//
// The shape, per site: a site CI; two core switches (member_of the site);
// behind each switch two racks of 20 hosts (connected_to the switch); two
// load balancers (connected_to a switch); ten databases, each running on a
// host of its own; fifteen services, each depending on a load balancer and
// on three application instances, which run on hosts spread over both
// switches and depend on one or two databases.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

func main() {
	out := flag.String("out", "deploy/examples", "directory to write cmdb.yml and cmdb/*.csv into")
	flag.Parse()
	if err := write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "cmdbgen:", err)
		os.Exit(1)
	}
}

type ci struct {
	id, name, class, env string
	crit                 int
	group, owner         string
	attrs                [][2]string
	match                []string
}

type rel struct{ from, typ, to string }

type model struct {
	cis  []ci
	rels []rel
}

func (m *model) add(c ci)                 { m.cis = append(m.cis, c) }
func (m *model) rel(from, typ, to string) { m.rels = append(m.rels, rel{from, typ, to}) }

var sites = []struct{ code, city string }{{"fra", "Frankfurt"}, {"ams", "Amsterdam"}}

var databases = []struct {
	name, engine string
	crit         int
}{
	{"orders", "postgres", 1}, {"payments", "postgres", 1}, {"users", "postgres", 1},
	{"catalog", "mysql", 2}, {"inventory", "mysql", 2}, {"sessions", "redis", 2},
	{"search", "elasticsearch", 3}, {"analytics", "clickhouse", 3}, {"audit", "postgres", 2},
	{"queue", "rabbitmq", 2},
}

// services: name, team, criticality, the databases its apps use.
var services = []struct {
	name, team string
	crit       int
	dbs        []string
}{
	{"checkout", "commerce", 1, []string{"orders", "payments"}},
	{"payments-api", "payments", 1, []string{"payments", "audit"}},
	{"orders-api", "commerce", 1, []string{"orders"}},
	{"login", "identity", 1, []string{"users", "sessions"}},
	{"accounts", "identity", 2, []string{"users"}},
	{"catalog-api", "commerce", 2, []string{"catalog"}},
	{"inventory-api", "logistics", 2, []string{"inventory"}},
	{"shipping", "logistics", 2, []string{"inventory", "queue"}},
	{"search-api", "discovery", 2, []string{"search", "catalog"}},
	{"recommendations", "discovery", 3, []string{"analytics"}},
	{"notifications", "platform", 3, []string{"queue"}},
	{"reporting", "data", 3, []string{"analytics"}},
	{"audit-log", "security", 2, []string{"audit"}},
	{"cart", "commerce", 1, []string{"sessions", "orders"}},
	{"admin-portal", "platform", 4, []string{"users", "catalog"}},
}

var owners = map[string]string{
	"network-ops": "n.ops@example.net", "unix-ops": "u.ops@example.net", "dba": "dba@example.net",
	"commerce": "commerce@example.net", "payments": "payments@example.net", "identity": "identity@example.net",
	"logistics": "logistics@example.net", "discovery": "discovery@example.net", "platform": "platform@example.net",
	"data": "data@example.net", "security": "security@example.net",
}

const (
	switchesPerSite = 2
	racksPerSwitch  = 2
	hostsPerRack    = 20
	appsPerService  = 3
)

func build() *model {
	m := &model{}
	for si, s := range sites {
		site := "site-" + s.code
		m.add(ci{id: site, name: s.city, class: "site", env: "prod", crit: 1, group: "network-ops",
			attrs: [][2]string{{"city", s.city}}})
		var hosts []string // in rack order; the switch of hosts[i] is i / (racks*hostsPerRack)
		for w := 1; w <= switchesPerSite; w++ {
			sw := fmt.Sprintf("core-sw-%s-%d", s.code, w)
			m.add(ci{id: sw, name: sw + ".net.example.net", class: "network_switch", env: "prod", crit: 1, group: "network-ops",
				attrs: [][2]string{{"site", s.code}, {"vendor", "arista"}, {"model", "7280R3"}}})
			m.rel(sw, "member_of", site)
		}
		for w := 1; w <= switchesPerSite; w++ {
			lb := fmt.Sprintf("lb-%s-%d", s.code, w)
			m.add(ci{id: lb, name: lb + ".net.example.net", class: "load_balancer", env: "prod", crit: 1, group: "network-ops",
				attrs: [][2]string{{"site", s.code}, {"vendor", "haproxy"}}})
			m.rel(lb, "connected_to", fmt.Sprintf("core-sw-%s-%d", s.code, w))
		}
		for w := 1; w <= switchesPerSite; w++ {
			for r := 1; r <= racksPerSwitch; r++ {
				rack := fmt.Sprintf("r%02d", (w-1)*racksPerSwitch+r)
				for h := 1; h <= hostsPerRack; h++ {
					id := fmt.Sprintf("%s-%s-h%02d", s.code, rack, h)
					hosts = append(hosts, id)
					m.add(ci{id: id, name: id + ".example.net", class: "host", env: "prod", crit: 3, group: "unix-ops",
						attrs: [][2]string{{"site", s.code}, {"rack", rack}, {"ip", fmt.Sprintf("10.%d.%d.%d", si+1, (w-1)*racksPerSwitch+r, h)}}})
					m.rel(id, "connected_to", fmt.Sprintf("core-sw-%s-%d", s.code, w))
				}
			}
		}
		// Databases on the first hosts of each rack, alternating switches.
		next := 0
		hostFor := func() string {
			// Walk racks round-robin so consecutive picks land on
			// different racks (and switches).
			racks := switchesPerSite * racksPerSwitch
			rack, slot := next%racks, next/racks
			next++
			return hosts[rack*hostsPerRack+slot]
		}
		for _, db := range databases {
			id := fmt.Sprintf("db-%s-%s", db.name, s.code)
			host := hostFor()
			m.add(ci{id: id, name: fmt.Sprintf("%s %s (%s)", db.name, db.engine, s.city), class: "database", env: "prod",
				crit: db.crit, group: "dba", attrs: [][2]string{{"site", s.code}, {"engine", db.engine}},
				match: []string{fmt.Sprintf(`db_cluster="%s-%s"`, db.name, s.code)}})
			m.rel(id, "runs_on", host)
		}
		for _, sv := range services {
			svc := fmt.Sprintf("%s-%s", sv.name, s.code)
			for a := 1; a <= appsPerService; a++ {
				app := fmt.Sprintf("%s-%d", svc, a)
				host := hostFor()
				m.add(ci{id: app, name: app, class: "application", env: "prod", crit: sv.crit, group: sv.team,
					attrs: [][2]string{{"site", s.code}, {"service", sv.name}},
					match: []string{fmt.Sprintf(`job="%s"`, sv.name), fmt.Sprintf(`instance=~"%s(:[0-9]+)?"`, host)}})
				m.rel(app, "runs_on", host)
				for _, db := range sv.dbs {
					m.rel(app, "depends_on", fmt.Sprintf("db-%s-%s", db, s.code))
				}
			}
		}
		for i, sv := range services {
			svc := fmt.Sprintf("%s-%s", sv.name, s.code)
			m.add(ci{id: svc, name: fmt.Sprintf("%s (%s)", sv.name, s.city), class: "service", env: "prod", crit: sv.crit, group: sv.team,
				attrs: [][2]string{{"site", s.code}},
				match: []string{fmt.Sprintf(`service="%s"`, sv.name), fmt.Sprintf(`site="%s"`, s.code)}})
			m.rel(svc, "depends_on", fmt.Sprintf("lb-%s-%d", s.code, i%switchesPerSite+1))
			for a := 1; a <= appsPerService; a++ {
				m.rel(svc, "depends_on", fmt.Sprintf("%s-%d", svc, a))
			}
		}
	}
	for i := range m.cis {
		m.cis[i].owner = owners[m.cis[i].group]
	}
	return m
}

// subset keeps what lies behind one core switch: the switch, its site,
// its hosts and load balancer, the databases and applications on those
// hosts, the services of those applications, and the relations among
// them.
func (m *model) subset(sw string) *model {
	keep := map[string]bool{sw: true}
	for _, r := range m.rels {
		if r.to == sw || r.from == sw {
			keep[r.from], keep[r.to] = true, true
		}
	}
	for _, r := range m.rels {
		if r.typ == "runs_on" && keep[r.to] {
			keep[r.from] = true
		}
	}
	for _, r := range m.rels {
		if r.typ == "depends_on" && keep[r.to] && !strings.HasPrefix(r.to, "db-") {
			keep[r.from] = true // services of kept applications
		}
	}
	out := &model{}
	for _, c := range m.cis {
		if keep[c.id] {
			out.cis = append(out.cis, c)
		}
	}
	for _, r := range m.rels {
		if keep[r.from] && keep[r.to] {
			out.rels = append(out.rels, r)
		}
	}
	return out
}

const header = "# Example CMDB: generated by `go run ./deploy/examples/cmdbgen`; do not edit.\n"

func (m *model) yaml() []byte {
	var b bytes.Buffer
	b.WriteString(header)
	fmt.Fprintf(&b, "# %d CIs, %d relations. A relation from -> to means from needs to.\n", len(m.cis), len(m.rels))
	b.WriteString("cis:\n")
	for _, c := range m.cis {
		fmt.Fprintf(&b, "  - id: %s\n    name: %s\n    class: %s\n    environment: %s\n    criticality: %d\n    support_group: %s\n    owner: %s\n",
			yq(c.id), yq(c.name), c.class, c.env, c.crit, c.group, yq(c.owner))
		if len(c.attrs) > 0 {
			parts := make([]string, len(c.attrs))
			for i, a := range c.attrs {
				parts[i] = a[0] + ": " + yq(a[1])
			}
			fmt.Fprintf(&b, "    attributes: {%s}\n", strings.Join(parts, ", "))
		}
		if len(c.match) > 0 {
			parts := make([]string, len(c.match))
			for i, mt := range c.match {
				parts[i] = yq(mt)
			}
			fmt.Fprintf(&b, "    match: [%s]\n", strings.Join(parts, ", "))
		}
	}
	b.WriteString("relations:\n")
	for _, r := range m.rels {
		fmt.Fprintf(&b, "  - {from: %s, type: %s, to: %s}\n", r.from, r.typ, r.to)
	}
	return b.Bytes()
}

// yq quotes a YAML scalar unless it is plainly safe.
func yq(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._@", r)) {
			safe = false
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func cq(s string) string {
	if strings.ContainsAny(s, ",\"\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

func (m *model) csv() (cis, rels []byte) {
	var b bytes.Buffer
	b.WriteString("id,name,class,environment,criticality,support_group,owner,match\n")
	for _, c := range m.cis {
		fmt.Fprintf(&b, "%s,%s,%s,%s,%d,%s,%s,%s\n", cq(c.id), cq(c.name), c.class, c.env, c.crit, c.group, cq(c.owner), cq(strings.Join(c.match, ", ")))
	}
	cis = slices.Clone(b.Bytes())
	b.Reset()
	b.WriteString("from,type,to\n")
	for _, r := range m.rels {
		fmt.Fprintf(&b, "%s,%s,%s\n", r.from, r.typ, r.to)
	}
	return cis, b.Bytes()
}

// files returns the generated files by path relative to the output dir.
func files() map[string][]byte {
	m := build()
	cis, rels := m.subset("core-sw-fra-1").csv()
	return map[string][]byte{
		"cmdb.yml":           m.yaml(),
		"cmdb/cis.csv":       cis,
		"cmdb/relations.csv": rels,
	}
}

func write(dir string) error {
	for name, b := range files() {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
