package cmdb

// Graph queries. Each walk is a breadth-first search bounded by maxHops
// over the relation types asked for, using a visited set from a per-graph
// pool: stamped with a generation number, so it is never cleared between
// walks and a walk allocates nothing but its result.

// Reach is a CI found by a walk and its distance in hops from the start.
type Reach struct {
	CI   *CI
	Hops int
}

type walker struct {
	stamp []uint32 // node visited in the walk whose stamp it holds
	dist  []uint16 // hops from the start, valid when stamp matches
	gen   uint32
	cur   []int32
	next  []int32
	spare []int32

	// targets of LinkedToAny and members of MostUpstream
	tstamp  []uint32
	slot    []int32
	members []int32
	score   []int32
	above   []int32
}

func newWalker(n int) *walker {
	return &walker{stamp: make([]uint32, n), dist: make([]uint16, n), tstamp: make([]uint32, n), slot: make([]int32, n)}
}

// begin returns two fresh stamps, one per side of a bidirectional walk.
// Callers that need n pairs whose stamps stay valid together reserve them
// first.
func (w *walker) begin() (uint32, uint32) {
	w.reserve(1)
	w.gen += 2
	return w.gen, w.gen + 1
}

// reserve makes sure the next n calls of begin do not wrap the generation
// (which would make old stamps collide with new ones).
func (w *walker) reserve(n int) {
	if uint64(w.gen)+2*uint64(n) > 1<<32-2 {
		clear(w.stamp)
		clear(w.tstamp)
		w.gen = 0
	}
}

func (g *Graph) walker() *walker   { return g.walkers.Get().(*walker) }
func (g *Graph) release(w *walker) { g.walkers.Put(w) }

// hopLimit turns maxHops into a bound: 0 or less means no bound.
func hopLimit(maxHops int) int {
	if maxHops <= 0 || maxHops > 1<<15 {
		return 1 << 15
	}
	return maxHops
}

// Upstream returns the CIs id needs, directly or transitively, within
// maxHops (0: no bound) over relations of the given types (0: all), in
// order of distance, then of relation (target CI in file order). The
// start is not included; an unknown id gives nil.
func (g *Graph) Upstream(id string, maxHops int, types RelTypes) []Reach {
	return g.reach(id, &g.up, maxHops, types)
}

// Downstream returns the CIs that need id, directly or transitively: the
// CIs whose alerts a failure of id explains. Same rules as Upstream.
func (g *Graph) Downstream(id string, maxHops int, types RelTypes) []Reach {
	return g.reach(id, &g.down, maxHops, types)
}

// BlastRadius is every CI downstream of id within n hops, over all
// relation types.
func (g *Graph) BlastRadius(id string, n int) []Reach {
	return g.Downstream(id, n, AllRelTypes)
}

func (g *Graph) reach(id string, adj *adjacency, maxHops int, types RelTypes) []Reach {
	start, ok := g.byID[id]
	if !ok {
		return nil
	}
	w := g.walker()
	defer g.release(w)
	s, _ := w.begin()
	var out []Reach
	g.bfs(w, s, start, [2]*adjacency{adj}, hopLimit(maxHops), types, func(node int32, hops int) bool {
		out = append(out, Reach{CI: &g.cis[node], Hops: hops})
		return true
	})
	return out
}

// bfs walks from start level by level, within limit hops, over the
// relations of types in adjs (one adjacency, or both for either
// direction), marking visited nodes with stamp s of w. visit gets each
// node as it is first reached, with its distance, and returns false to
// stop the walk.
func (g *Graph) bfs(w *walker, s uint32, start int32, adjs [2]*adjacency, limit int, types RelTypes, visit func(node int32, hops int) bool) {
	w.stamp[start] = s
	cur := append(w.cur[:0], start)
	next := w.next[:0]
	defer func() { w.cur, w.next = cur[:0], next[:0] }()
	for hops := 1; hops <= limit && len(cur) > 0; hops++ {
		next = next[:0]
		for _, u := range cur {
			for _, adj := range adjs {
				if adj == nil {
					continue
				}
				for _, e := range adj.of(u) {
					if !types.Has(e.typ) || w.stamp[e.node] == s {
						continue
					}
					w.stamp[e.node] = s
					next = append(next, e.node)
					if !visit(e.node, hops) {
						return
					}
				}
			}
		}
		cur, next = next, cur
	}
}

// Linked reports whether CIs a and b are linked within maxHops relations
// of the given types (0: all), following relations in either direction
// and along any path, and the fewest hops that link them (0 when a == b).
// Unknown ids are not linked. It searches from both ends at once, always
// widening the smaller frontier, so a hub (a switch with many hosts)
// costs only when it must be crossed; it allocates nothing.
func (g *Graph) Linked(a, b string, maxHops int, types RelTypes) (int, bool) {
	pa, ok := g.byID[a]
	if !ok {
		return 0, false
	}
	pb, ok := g.byID[b]
	if !ok {
		return 0, false
	}
	if pa == pb {
		return 0, true
	}
	limit := hopLimit(maxHops)
	w := g.walker()
	defer g.release(w)
	sa, sb := w.begin()
	w.stamp[pa], w.dist[pa] = sa, 0
	w.stamp[pb], w.dist[pb] = sb, 0
	fa := append(w.cur[:0], pa)
	fb := append(w.next[:0], pb)
	da, db := 0, 0
	spare := w.spare[:0]
	defer func() { w.cur, w.next, w.spare = fa, fb, spare }()
	for len(fa) > 0 && len(fb) > 0 && da+db < limit {
		// Widen the smaller side by one level. The first edge that
		// reaches the other side closes a shortest path: both sides are
		// complete to their depths and disjoint, so no path is shorter
		// than da+db+1, and any meeting now is exactly that long.
		mine, other, d := sa, sb, &da
		front := &fa
		if len(fb) < len(fa) {
			mine, other, d, front = sb, sa, &db, &fb
		}
		spare = spare[:0]
		for _, u := range *front {
			for _, adj := range [2]*adjacency{&g.up, &g.down} {
				for _, e := range adj.of(u) {
					if !types.Has(e.typ) {
						continue
					}
					switch w.stamp[e.node] {
					case mine:
						continue
					case other:
						return *d + 1 + int(w.dist[e.node]), true
					}
					w.stamp[e.node], w.dist[e.node] = mine, uint16(*d+1)
					spare = append(spare, e.node)
				}
			}
		}
		*d++
		*front, spare = spare, (*front)[:0]
	}
	return 0, false
}

// LinkedToAny reports which of others is nearest to id, linked as Linked
// says, within maxHops: its index in others and the hops. Among several
// at the same distance, the lowest index wins. One walk answers for the
// whole set, so the engine asks it once per new alert and open group
// rather than once per CI in the group. Unknown ids are skipped.
func (g *Graph) LinkedToAny(id string, others []string, maxHops int, types RelTypes) (index, hops int, ok bool) {
	start, known := g.byID[id]
	if !known || len(others) == 0 {
		return 0, 0, false
	}
	w := g.walker()
	defer g.release(w)
	s, t := w.begin()
	found := -1
	for i, o := range others {
		if p, ok := g.byID[o]; ok && w.tstamp[p] != t {
			w.tstamp[p], w.slot[p] = t, int32(i)
			if p == start && found < 0 {
				found = i
			}
		}
	}
	if found >= 0 {
		return found, 0, true
	}
	// The nearest level with a target decides; among its targets the
	// lowest index: finish that level, stop at the next one.
	foundAt := 0
	g.bfs(w, s, start, [2]*adjacency{&g.up, &g.down}, hopLimit(maxHops), types, func(node int32, h int) bool {
		if found >= 0 && h > foundAt {
			return false
		}
		if w.tstamp[node] == t && (found < 0 || int(w.slot[node]) < found) {
			found, foundAt = int(w.slot[node]), h
		}
		return true
	})
	if found < 0 {
		return 0, 0, false
	}
	return found, foundAt, true
}

// MostUpstream names the probable cause among a set of CIs (say, those of
// an incident's alerts): the one the most others need, directly or
// transitively, within maxHops (0: no bound) over relations of the given
// types (0: all).
//
// For each CI c of the set, score(c) is how many other members reach c
// by walking upstream (they depend on c); above(c) is how many members c
// itself reaches upstream. The winner has the highest score; ties go to
// the lowest above (the more upstream of the two, which also settles
// cycles deterministically), then to the earliest in ids. So when no
// member depends on another, the first of ids wins: pass them in the
// order their alerts fired and the earliest alert names the cause.
// Unknown and repeated ids are ignored; ok is false when none is known.
func (g *Graph) MostUpstream(ids []string, maxHops int, types RelTypes) (string, bool) {
	w := g.walker()
	defer g.release(w)
	w.reserve(len(ids) + 1) // one stamp pair for the set, one per walk
	_, t := w.begin()
	members := w.members[:0] // positions, in ids order, without repeats
	defer func() { w.members = members }()
	for _, id := range ids {
		if p, ok := g.byID[id]; ok && w.tstamp[p] != t {
			w.tstamp[p], w.slot[p] = t, int32(len(members))
			members = append(members, p)
		}
	}
	switch len(members) {
	case 0:
		return "", false
	case 1:
		return g.cis[members[0]].ID, true
	}
	w.score = append(w.score[:0], make([]int32, len(members))...)
	w.above = append(w.above[:0], make([]int32, len(members))...)
	limit := hopLimit(maxHops)
	cur, next := w.cur[:0], w.next[:0]
	defer func() { w.cur, w.next = cur, next }()
	for i, start := range members {
		s, _ := w.begin() // reserved above: t stays valid
		w.stamp[start] = s
		cur = append(cur[:0], start)
		for h := 1; h <= limit && len(cur) > 0; h++ {
			next = next[:0]
			for _, u := range cur {
				for _, e := range g.up.of(u) {
					if !types.Has(e.typ) || w.stamp[e.node] == s {
						continue
					}
					w.stamp[e.node] = s
					next = append(next, e.node)
					if w.tstamp[e.node] == t {
						w.score[w.slot[e.node]]++
						w.above[i]++
					}
				}
			}
			cur, next = next, cur
		}
	}
	best := 0
	for i := 1; i < len(members); i++ {
		if w.score[i] > w.score[best] || (w.score[i] == w.score[best] && w.above[i] < w.above[best]) {
			best = i
		}
	}
	return g.cis[members[best]].ID, true
}

// Near calls f for every CI within maxHops relations of id whose types
// are in types (0: all), following relations in either direction, nearest
// first, until f returns false; id itself is not visited. The correlation
// engine uses it to find open incidents on CIs linked to a new alert's.
func (g *Graph) Near(id string, maxHops int, types RelTypes, f func(*CI) bool) {
	start, ok := g.byID[id]
	if !ok {
		return
	}
	if types == 0 {
		types = AllRelTypes
	}
	w := g.walker()
	defer g.release(w)
	s, _ := w.begin()
	g.bfs(w, s, start, [2]*adjacency{&g.up, &g.down}, hopLimit(maxHops), types, func(node int32, _ int) bool {
		return f(&g.cis[node])
	})
}

// DependsOn reports whether CI a needs CI b through a chain of at most
// maxHops relations of any type followed from -> to: a failure of b
// explains an alert on a.
func (g *Graph) DependsOn(a, b string, maxHops int) bool {
	pa, okA := g.byID[a]
	pb, okB := g.byID[b]
	if !okA || !okB {
		return false
	}
	w := g.walker()
	defer g.release(w)
	st, _ := w.begin()
	found := false
	g.bfs(w, st, pa, [2]*adjacency{&g.up}, hopLimit(maxHops), AllRelTypes, func(node int32, _ int) bool {
		found = node == pb
		return !found
	})
	return found
}
