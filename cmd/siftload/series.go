package main

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// seriesGen decides which series each event of the introduction phase
// is: with probability 1-dup the next series not sent yet, otherwise a
// repeat of a random series already sent. Series are introduced in order
// 0, 1, 2... across all workers, so the stream is one sequence however
// many workers draw from it. Once every series is introduced it is
// finished and workers switch to their pre-encoded steady-state pools, in
// which every event is a repeat.
//
// The first event of a series is always firing: siftd ignores a resolve
// for an alert it does not hold, so a series introduced by a resolve
// would never show up. Repeats are resolved with probability resolve.
//
// Concurrency: draw may be called from any goroutine.
type seriesGen struct {
	mu           sync.Mutex
	rng          *rand.Rand
	series       int
	dup, resolve float64
	introduced   int

	finished atomic.Bool
}

func newSeriesGen(series int, dup, resolve float64, seed uint64) *seriesGen {
	return &seriesGen{rng: rand.New(rand.NewPCG(seed, 0)), series: series, dup: dup, resolve: resolve}
}

// canFinish reports whether every series will ever be introduced: not
// with a duplicate ratio of 1, where only series 0 is.
func (g *seriesGen) canFinish() bool { return g.dup < 1 || g.series <= 1 }

// draw appends the next n specs to dst, or returns nil when every series
// has been introduced already.
func (g *seriesGen) draw(dst []spec, n int) []spec {
	if g.finished.Load() {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.introduced >= g.series {
		g.finished.Store(true)
		return nil
	}
	for range n {
		dst = append(dst, g.next())
	}
	if g.introduced >= g.series {
		g.finished.Store(true)
	}
	return dst
}

func (g *seriesGen) next() spec {
	if g.introduced < g.series && (g.introduced == 0 || g.rng.Float64() >= g.dup) {
		g.introduced++
		return spec{series: g.introduced - 1}
	}
	return spec{series: g.rng.IntN(g.introduced), resolved: g.rng.Float64() < g.resolve}
}

// Introduced is how many distinct series have been drawn.
func (g *seriesGen) Introduced() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.introduced
}

// steadySpecs appends n steady-state specs: repeats of random series.
func steadySpecs(dst []spec, n int, rng *rand.Rand, series int, resolve float64) []spec {
	for range n {
		dst = append(dst, spec{series: rng.IntN(series), resolved: rng.Float64() < resolve})
	}
	return dst
}
