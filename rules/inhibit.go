package rules

import (
	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/ingest"
)

// Inhibition says why an alert is inhibited: by which rule, and one
// firing source alert (the one with the lowest fingerprint, so that the
// answer does not depend on map order).
type Inhibition struct {
	Rule   string
	Source model.Fingerprint
}

// InhibitIndex holds the firing alerts that match the source side of a
// Set's inhibit rules, keyed per rule by the values of the rule's equal
// labels, so that checking a target costs one map lookup per inhibit rule
// whose target side matches. It is Alertmanager's inhibit cache, owned by
// the engine instead of a goroutine.
//
// The engine adds an alert when it fires (or its labels change) and
// removes it when it resolves or is deleted; only firing alerts may
// inhibit. After a reload it builds a new index for the new Set and adds
// the firing alerts again.
//
// An InhibitIndex is not safe for concurrent use: it belongs to the
// engine's single writer goroutine (Inhibits updates a cache too).
type InhibitIndex struct {
	rules []inhibitState
}

type inhibitState struct {
	rule    *InhibitRule
	buckets map[string]*bucket
	members map[model.Fingerprint]member
}

type member struct {
	key string
	// alsoTarget: the source alert also matches the rule's target side,
	// so it cannot inhibit a target that matches both sides (Alertmanager
	// lets no alert inhibit itself or its kind this way).
	alsoTarget bool
}

type bucket struct {
	fps       map[model.Fingerprint]bool // fp -> alsoTarget
	nonTarget int                        // sources with alsoTarget false
	// Lowest fingerprints, of all and of the non-target sources; valid
	// unless dirty (a removal took the lowest away).
	minAll, minNonTarget model.Fingerprint
	dirty                bool
}

// NewInhibitIndex returns an empty index for the inhibit rules of s.
func NewInhibitIndex(s *Set) *InhibitIndex {
	ix := &InhibitIndex{rules: make([]inhibitState, len(s.Inhibit))}
	for i, r := range s.Inhibit {
		ix.rules[i] = inhibitState{rule: r, buckets: map[string]*bucket{}, members: map[model.Fingerprint]member{}}
	}
	return ix
}

// appendEqual appends the values of the equal labels of ls, each ended
// by 0xff (which no UTF-8 value contains); a missing label is empty.
func appendEqual(dst []byte, equal []string, ls ingest.Labels) []byte {
	for _, n := range equal {
		v, _ := ls.Get(n)
		dst = append(dst, v...)
		dst = append(dst, model.SeparatorByte)
	}
	return dst
}

// Add records the firing alert fp with labels ls as a source of every
// rule whose source side it matches. Adding it again with other labels
// moves it.
func (ix *InhibitIndex) Add(fp model.Fingerprint, ls ingest.Labels) {
	var buf [256]byte
	for i := range ix.rules {
		st := &ix.rules[i]
		r := st.rule
		if !matches(r.SourceMatchers, ls) {
			st.remove(fp)
			continue
		}
		key := appendEqual(buf[:0], r.Equal, ls)
		m := member{alsoTarget: matches(r.TargetMatchers, ls)}
		if old, ok := st.members[fp]; ok {
			if old.key == string(key) && old.alsoTarget == m.alsoTarget {
				continue
			}
			st.remove(fp)
		}
		m.key = string(key)
		st.members[fp] = m
		b := st.buckets[m.key]
		if b == nil {
			b = &bucket{fps: map[model.Fingerprint]bool{}}
			st.buckets[m.key] = b
		}
		b.add(fp, m.alsoTarget)
	}
}

// Remove forgets the alert fp (resolved or deleted).
func (ix *InhibitIndex) Remove(fp model.Fingerprint) {
	for i := range ix.rules {
		ix.rules[i].remove(fp)
	}
}

// Len is the number of (rule, source alert) entries held.
func (ix *InhibitIndex) Len() int {
	n := 0
	for i := range ix.rules {
		n += len(ix.rules[i].members)
	}
	return n
}

func (st *inhibitState) remove(fp model.Fingerprint) {
	m, ok := st.members[fp]
	if !ok {
		return
	}
	delete(st.members, fp)
	b := st.buckets[m.key]
	b.remove(fp, m.alsoTarget)
	if len(b.fps) == 0 {
		delete(st.buckets, m.key)
	}
}

func (b *bucket) add(fp model.Fingerprint, alsoTarget bool) {
	first := len(b.fps) == 0
	b.fps[fp] = alsoTarget
	if !alsoTarget {
		b.nonTarget++
	}
	if b.dirty {
		return
	}
	if first || fp < b.minAll {
		b.minAll = fp
	}
	if !alsoTarget && (b.nonTarget == 1 || fp < b.minNonTarget) {
		b.minNonTarget = fp
	}
}

func (b *bucket) remove(fp model.Fingerprint, alsoTarget bool) {
	delete(b.fps, fp)
	if !alsoTarget {
		b.nonTarget--
	}
	if fp == b.minAll || fp == b.minNonTarget {
		b.dirty = true
	}
}

func (b *bucket) lowest(nonTargetOnly bool) model.Fingerprint {
	if b.dirty {
		b.dirty = false
		firstAll, firstNT := true, true
		for fp, alsoTarget := range b.fps {
			if firstAll || fp < b.minAll {
				b.minAll, firstAll = fp, false
			}
			if !alsoTarget && (firstNT || fp < b.minNonTarget) {
				b.minNonTarget, firstNT = fp, false
			}
		}
	}
	if nonTargetOnly {
		return b.minNonTarget
	}
	return b.minAll
}

// Inhibits reports whether a firing source alert inhibits an alert with
// labels target, with Alertmanager's semantics, and names the first
// inhibit rule (in file order) that does: one whose target side matches
// target and that has an indexed source alert with the same values of
// the equal labels. When target also matches the rule's source side,
// only sources that do not match the target side count, so an alert
// never inhibits itself.
func (ix *InhibitIndex) Inhibits(target ingest.Labels) (Inhibition, bool) {
	var buf [256]byte
	for i := range ix.rules {
		st := &ix.rules[i]
		r := st.rule
		if len(st.members) == 0 || !matches(r.TargetMatchers, target) {
			continue
		}
		key := appendEqual(buf[:0], r.Equal, target)
		b := st.buckets[string(key)]
		if b == nil {
			continue
		}
		if matches(r.SourceMatchers, target) {
			if b.nonTarget == 0 {
				continue
			}
			return Inhibition{Rule: r.Name, Source: b.lowest(true)}, true
		}
		return Inhibition{Rule: r.Name, Source: b.lowest(false)}, true
	}
	return Inhibition{}, false
}
