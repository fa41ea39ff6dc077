package cmdb

import (
	"cmp"
	"iter"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/sift-itsm/sift/ingest"
)

// Graph is an immutable, indexed snapshot of the CMDB: CIs in file order,
// relations, and the indexes that make binding and graph queries cheap.
// It is safe for concurrent use; every change to the CMDB builds a new
// Graph (Store swaps them atomically).
type Graph struct {
	cis  []CI
	rels []Relation

	byID    map[string]int32
	byName  map[string]int32 // the first CI in file order with the name
	byClass map[string][]int32
	sorted  []int32 // positions in id order, for paging

	up   adjacency // up[i]: the CIs i needs (edges i -> to)
	down adjacency // down[i]: the CIs that need i (edges from -> i)

	// Binding by match. A CI whose matchers include an equality on a
	// non-empty value can only bind alerts having that label value, so it
	// is filed under "name\xffvalue" (the packed form of that label in
	// ingest.Labels, which lets Bind look it up without building a
	// string). A CI with a regular expression of literal prefix is in
	// prefixIdx (see indexMatchers). The others are in matchScan. Lists
	// are in file order.
	matchIdx   map[string][]int32
	prefixIdx  map[prefixKey][]int32
	prefixLens map[string][]int // label name -> lengths of its prefixes, ascending
	matchScan  []int32

	walkers sync.Pool // *walker sized for this graph
}

type edge struct {
	node int32
	typ  RelType
}

// adjacency is a compressed sparse row: node i's edges are
// edges[start[i]:start[i+1]], sorted by node position then type, so that
// every walk is deterministic.
type adjacency struct {
	start []int32
	edges []edge
}

func (a *adjacency) of(i int32) []edge { return a.edges[a.start[i]:a.start[i+1]] }

// NewGraph validates a dataset as a whole and indexes it: duplicate ids,
// relations to unknown CIs, relations of a CI to itself and duplicate
// relations are errors naming the file, line and field.
func NewGraph(ds *Dataset) (*Graph, error) {
	cis, rels, err := assemble(nil, ds)
	if err != nil {
		return nil, err
	}
	return newGraph(cis, rels), nil
}

// Load parses the files (see ParseFiles) and builds one graph of them,
// as siftd does with cmdb.files.
func Load(paths ...string) (*Graph, error) {
	ds, err := ParseFiles(paths...)
	if err != nil {
		return nil, err
	}
	return NewGraph(ds)
}

// assemble validates ds, merged into base when base is not nil (CIs with
// an id of base replace it in place, others are appended; relations
// already in base are kept once), and returns the new CI and relation
// lists. It never modifies base or ds.
func assemble(base *Graph, ds *Dataset) ([]CI, []Relation, error) {
	var errs errList
	var cis []CI
	var rels []Relation
	ids := make(map[string]int, len(ds.CIs))
	baseRels := map[relKey]bool{}
	if base != nil {
		cis = make([]CI, len(base.cis), len(base.cis)+len(ds.CIs))
		copy(cis, base.cis)
		for i := range cis {
			ids[cis[i].ID] = i
		}
		rels = make([]Relation, len(base.rels), len(base.rels)+len(ds.Relations))
		copy(rels, base.rels)
		for i := range rels {
			baseRels[rels[i].key()] = true
		}
	} else {
		cis = make([]CI, 0, len(ds.CIs))
		rels = make([]Relation, 0, len(ds.Relations))
	}
	imported := make(map[string]Source, len(ds.CIs))
	for _, ci := range ds.CIs {
		if first, dup := imported[ci.ID]; dup {
			errs.add(ci.Source, ci.Source.field("id"), "duplicate id %q (first defined at %s)", ci.ID, first)
			continue
		}
		imported[ci.ID] = ci.Source
		if i, ok := ids[ci.ID]; ok {
			cis[i] = ci
		} else {
			ids[ci.ID] = len(cis)
			cis = append(cis, ci)
		}
	}
	importedRels := make(map[relKey]Source, len(ds.Relations))
	for _, r := range ds.Relations {
		ok := true
		for _, end := range [2]struct{ name, id string }{{"from", r.From}, {"to", r.To}} {
			if _, known := ids[end.id]; !known {
				errs.add(r.Source, r.Source.field(end.name), "relation to unknown CI %q", end.id)
				ok = false
			}
		}
		if r.From == r.To {
			errs.add(r.Source, r.Source.field("to"), "relation of CI %q to itself", r.From)
			ok = false
		}
		if first, dup := importedRels[r.key()]; dup {
			errs.add(r.Source, r.Source.item, "duplicate relation %s %s %s (first defined at %s)", r.From, r.Type, r.To, first)
			ok = false
		}
		importedRels[r.key()] = r.Source
		if ok && !baseRels[r.key()] {
			rels = append(rels, r)
		}
	}
	if err := errs.err(); err != nil {
		return nil, nil, err
	}
	return cis, rels, nil
}

// newGraph indexes valid CIs and relations; it owns the slices.
func newGraph(cis []CI, rels []Relation) *Graph {
	n := len(cis)
	g := &Graph{
		cis: cis, rels: rels,
		byID:    make(map[string]int32, n),
		byName:  make(map[string]int32, n),
		byClass: map[string][]int32{},
		sorted:  make([]int32, n),
	}
	for i := range g.cis {
		c := &g.cis[i]
		p := int32(i)
		c.pos = p
		g.byID[c.ID] = p
		if _, ok := g.byName[c.Name]; !ok && c.Name != "" {
			g.byName[c.Name] = p
		}
		g.byClass[c.Class] = append(g.byClass[c.Class], p)
		g.sorted[i] = p
	}
	slices.SortFunc(g.sorted, func(a, b int32) int { return strings.Compare(g.cis[a].ID, g.cis[b].ID) })
	g.up = g.buildAdjacency(func(r *Relation) (int32, int32) { return g.byID[r.From], g.byID[r.To] })
	g.down = g.buildAdjacency(func(r *Relation) (int32, int32) { return g.byID[r.To], g.byID[r.From] })
	g.indexMatchers()
	g.walkers.New = func() any { return newWalker(n) }
	return g
}

func (g *Graph) buildAdjacency(ends func(*Relation) (int32, int32)) adjacency {
	a := adjacency{start: make([]int32, len(g.cis)+1), edges: make([]edge, len(g.rels))}
	for i := range g.rels {
		from, _ := ends(&g.rels[i])
		a.start[from+1]++
	}
	for i := 1; i < len(a.start); i++ {
		a.start[i] += a.start[i-1]
	}
	fill := slices.Clone(a.start[:len(g.cis)])
	for i := range g.rels {
		from, to := ends(&g.rels[i])
		a.edges[fill[from]] = edge{node: to, typ: g.rels[i].Type}
		fill[from]++
	}
	for i := range g.cis {
		slices.SortFunc(a.of(int32(i)), func(x, y edge) int {
			return cmp.Or(cmp.Compare(x.node, y.node), cmp.Compare(x.typ, y.typ))
		})
	}
	return a
}

// indexMatchers files each matcher CI under its most selective indexable
// matcher: an equality on a non-empty value (matchIdx), or a regular
// expression all of whose matches begin with a literal prefix
// (prefixIdx: instance=~"db1:.*" is filed under instance, "db1:"), the
// one shared by the fewest matcher CIs. The others go to matchScan.
func (g *Graph) indexMatchers() {
	eqCount, preCount := map[string]int{}, map[prefixKey]int{}
	for i := range g.cis {
		c := &g.cis[i]
		if len(c.matchPrefix) != len(c.Match) {
			c.matchPrefix = literalPrefixes(c.Match)
		}
		for j, m := range c.Match {
			if indexable(m) {
				eqCount[m.Name+"\xff"+m.Value]++
			} else if c.matchPrefix[j] != "" {
				preCount[prefixKey{m.Name, c.matchPrefix[j]}]++
			}
		}
	}
	g.matchIdx = make(map[string][]int32, len(eqCount))
	g.prefixIdx = make(map[prefixKey][]int32, len(preCount))
	g.prefixLens = map[string][]int{}
	for i := range g.cis {
		c := &g.cis[i]
		if len(c.Match) == 0 {
			continue
		}
		eq, pre, best := "", prefixKey{}, math.MaxInt
		for j, m := range c.Match {
			if k := m.Name + "\xff" + m.Value; indexable(m) && eqCount[k] < best {
				eq, pre, best = k, prefixKey{}, eqCount[k]
			} else if k := (prefixKey{m.Name, c.matchPrefix[j]}); !indexable(m) && k.prefix != "" && preCount[k] < best {
				eq, pre, best = "", k, preCount[k]
			}
		}
		switch {
		case eq != "":
			g.matchIdx[eq] = append(g.matchIdx[eq], c.pos)
		case pre.prefix != "":
			g.prefixIdx[pre] = append(g.prefixIdx[pre], c.pos)
			if lens := g.prefixLens[pre.name]; !slices.Contains(lens, len(pre.prefix)) {
				g.prefixLens[pre.name] = append(lens, len(pre.prefix))
			}
		default:
			g.matchScan = append(g.matchScan, c.pos)
		}
	}
	for _, lens := range g.prefixLens {
		slices.Sort(lens)
	}
}

type prefixKey struct{ name, prefix string }

// literalPrefixes returns, per matcher, the literal every value it
// matches begins with ("" for none, and for negative matchers).
func literalPrefixes(ms labels.Matchers) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		if m.Type != labels.MatchRegexp {
			continue
		}
		// The matcher compiled the same anchored expression; its
		// regexp is not exported.
		if re, err := regexp.Compile("^(?:" + m.Value + ")$"); err == nil {
			out[i], _ = re.LiteralPrefix()
		}
	}
	return out
}

// indexable: an equality on a non-empty value needs the label present
// with exactly that value. (l="" also matches a missing label.)
func indexable(m *labels.Matcher) bool { return m.Type == labels.MatchEqual && m.Value != "" }

// Len is the number of CIs.
func (g *Graph) Len() int { return len(g.cis) }

// NumRelations is the number of relations.
func (g *Graph) NumRelations() int { return len(g.rels) }

// CI returns the CI with the id.
func (g *Graph) CI(id string) (*CI, bool) {
	p, ok := g.byID[id]
	if !ok {
		return nil, false
	}
	return &g.cis[p], true
}

// CIs iterates over the CIs in file order.
func (g *Graph) CIs() iter.Seq[*CI] {
	return func(yield func(*CI) bool) {
		for i := range g.cis {
			if !yield(&g.cis[i]) {
				return
			}
		}
	}
}

// ByClass returns the CIs of a class in file order.
func (g *Graph) ByClass(class string) []*CI {
	ps := g.byClass[class]
	out := make([]*CI, len(ps))
	for i, p := range ps {
		out[i] = &g.cis[p]
	}
	return out
}

// Relations returns every relation, in file order. The slice is shared:
// do not modify it.
func (g *Graph) Relations() []Relation { return g.rels }

// RelationsOf returns the relations from or to the CI: up are the CI's own
// edges (id -> to), down the edges of the CIs that need it (from -> id).
func (g *Graph) RelationsOf(id string) (up, down []Relation) {
	p, ok := g.byID[id]
	if !ok {
		return nil, nil
	}
	for _, e := range g.up.of(p) {
		up = append(up, Relation{From: id, Type: e.typ, To: g.cis[e.node].ID})
	}
	for _, e := range g.down.of(p) {
		down = append(down, Relation{From: g.cis[e.node].ID, Type: e.typ, To: id})
	}
	return up, down
}

// bindLabels are the labels Bind tries, in order, when no CI's match
// matches.
var bindLabels = [...]string{"ci", "host", "hostname", "instance", "node", "pod", "service", "job"}

// Bind returns the CI an alert with the labels belongs to, as ITSM.md
// says:
//
//  1. the first CI in file order whose match matches the labels;
//  2. else, taking the labels ci, host, hostname, instance, node, pod,
//     service, job in that order, the first present one whose value is a
//     CI's id, or else a CI's name (the first CI in file order with that
//     name). instance is compared without its port: "db1:9100", "db1",
//     "[::1]:9100" as "::1", "http://db1:8080/x" as "db1".
//
// A label whose value names no CI does not stop the search: the next
// label in the list is tried. Bind does not allocate.
func (g *Graph) Bind(ls ingest.Labels) (*CI, bool) {
	if p := g.bindMatch(string(ls)); p >= 0 {
		return &g.cis[p], true
	}
	var vals [len(bindLabels)]string
	var have [len(bindLabels)]bool
	for name, value := range ls.All() {
		for i, b := range bindLabels {
			if name == b {
				vals[i], have[i] = value, true
				break
			}
		}
	}
	for i := range bindLabels {
		if !have[i] {
			continue
		}
		v := vals[i]
		if i == 3 { // instance
			v = hostOf(v)
		}
		if p, ok := g.byID[v]; ok {
			return &g.cis[p], true
		}
		if p, ok := g.byName[v]; ok {
			return &g.cis[p], true
		}
	}
	return nil, false
}

// bindMatch returns the position of the first matcher CI matching the
// labels, or -1. Each candidate list is in file order, so one scan per
// list stops at its first match or at the best position found so far.
func (g *Graph) bindMatch(ls string) int32 {
	best := int32(math.MaxInt32)
	if len(g.matchIdx) > 0 || len(g.prefixIdx) > 0 {
		for s := ls; len(s) > 0; {
			n := strings.IndexByte(s, 0xff)
			m := n + 1 + strings.IndexByte(s[n+1:], 0xff)
			best = g.firstMatch(g.matchIdx[s[:m]], ls, best)
			if lens, ok := g.prefixLens[s[:n]]; ok {
				name, value := s[:n], s[n+1:m]
				for _, l := range lens {
					if l > len(value) {
						break
					}
					best = g.firstMatch(g.prefixIdx[prefixKey{name, value[:l]}], ls, best)
				}
			}
			s = s[m+1:]
		}
	}
	best = g.firstMatch(g.matchScan, ls, best)
	if best == math.MaxInt32 {
		return -1
	}
	return best
}

// firstMatch returns the first CI of the list (in file order) before best
// that matches the labels, or best.
func (g *Graph) firstMatch(list []int32, ls string, best int32) int32 {
	for _, p := range list {
		if p >= best {
			break
		}
		if matchesAll(g.cis[p].Match, ls) {
			return p
		}
	}
	return best
}

func matchesAll(ms labels.Matchers, ls string) bool {
	for _, m := range ms {
		if v, _ := ingest.Labels(ls).Get(m.Name); !m.Matches(v) {
			return false
		}
	}
	return true
}

// hostOf strips the port from an instance label: "host:9100" -> "host",
// "[::1]:9100" and "[::1]" -> "::1", a bare IPv6 address stays as it is,
// and a URL ("https://host:8443/path", as blackbox probes name targets)
// gives its host. Only a numeric port is stripped.
func hostOf(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
		if j := strings.IndexAny(s, "/?#"); j >= 0 {
			s = s[:j]
		}
		if j := strings.LastIndexByte(s, '@'); j >= 0 {
			s = s[j+1:]
		}
	}
	if strings.HasPrefix(s, "[") {
		if j := strings.IndexByte(s, ']'); j > 0 {
			if rest := s[j+1:]; rest == "" || (rest[0] == ':' && isPort(rest[1:])) {
				return s[1:j]
			}
		}
		return s
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.IndexByte(s[:i], ':') >= 0 || !isPort(s[i+1:]) {
		return s // no port, or a bare IPv6 address
	}
	return s[:i]
}

func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
