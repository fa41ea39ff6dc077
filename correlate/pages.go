package correlate

import (
	"encoding/binary"
	"fmt"
	"iter"
	"slices"

	"github.com/hashicorp/go-memdb"
	"github.com/prometheus/common/model"
)

// Alerts are stored in memdb in pages, not one row each: a page holds the
// alerts whose fingerprints share their top pageBits bits, sorted by
// fingerprint, and is a row of the "alerts" table. A memdb row costs
// ~450 bytes of radix tree (a node and a leaf, each with its own watch
// channel, and the splits above them) whatever it holds; at 100k alerts
// that was a third of the heap. With 4096 pages the tree is ~2 MB at any
// size, and a page costs its pointers.
//
// Pages are immutable once committed, as rows are. The engine keeps the
// newest version of each page; the first change to a page in a
// transaction copies it, later ones in the same transaction edit the copy,
// and commit inserts each copied page once. A change therefore costs a
// copy of its page's pointers (~200 bytes at 100k alerts, ~2 KB at 1M)
// and at most one memdb write per page per batch, where a row per alert
// cost one write per changed alert.
const pageBits = 12

type alertPage struct {
	key    uint16
	alerts []*Alert // sorted by fingerprint
	// gen is the transaction that copied the page; it is edited in place
	// only within that transaction, before its commit publishes it.
	gen uint64
	// published says an earlier version is in memdb.
	published bool
}

func pageOf(fp model.Fingerprint) uint16 { return uint16(fp >> (64 - pageBits)) }

// find returns the index of fp in p, or where it would go.
func (p *alertPage) find(fp model.Fingerprint) (int, bool) {
	return slices.BinarySearchFunc(p.alerts, fp, func(a *Alert, fp model.Fingerprint) int {
		switch {
		case a.Fingerprint < fp:
			return -1
		case a.Fingerprint > fp:
			return 1
		}
		return 0
	})
}

// alertPages is the engine's side of the paged table: the newest version
// of every page and those copied in the open transaction. Engine goroutine
// only.
type alertPages struct {
	cur   [1 << pageBits]*alertPage
	gen   uint64
	dirty []*alertPage
}

func newAlertPages() *alertPages { return &alertPages{gen: 1} }

// edit returns the page of fp, copied for the open transaction.
func (ps *alertPages) edit(fp model.Fingerprint) *alertPage {
	k := pageOf(fp)
	p := ps.cur[k]
	if p != nil && p.gen == ps.gen {
		return p
	}
	n := &alertPage{key: k, gen: ps.gen}
	if p != nil {
		n.alerts = make([]*Alert, len(p.alerts), len(p.alerts)+1)
		copy(n.alerts, p.alerts)
		n.published = true
	}
	ps.cur[k] = n
	ps.dirty = append(ps.dirty, n)
	return n
}

func (ps *alertPages) put(a *Alert) {
	p := ps.edit(a.Fingerprint)
	if i, ok := p.find(a.Fingerprint); ok {
		p.alerts[i] = a
	} else {
		p.alerts = slices.Insert(p.alerts, i, a)
	}
}

func (ps *alertPages) remove(fp model.Fingerprint) {
	p := ps.edit(fp)
	if i, ok := p.find(fp); ok {
		p.alerts = slices.Delete(p.alerts, i, i+1)
	}
}

// flush writes the pages copied since the last flush into txn (opened by
// open when there are any) and starts a new generation, so that the next
// change copies again: what is committed is never edited.
func (ps *alertPages) flush(open func() *memdb.Txn) {
	if len(ps.dirty) == 0 {
		return
	}
	txn := open()
	for _, p := range ps.dirty {
		var err error
		switch {
		case len(p.alerts) > 0:
			err = txn.Insert(tableAlerts, p)
		case p.published:
			err = txn.Delete(tableAlerts, p)
			ps.cur[p.key] = nil
		default:
			ps.cur[p.key] = nil
		}
		if err != nil {
			panic("correlate: memdb alert page: " + err.Error())
		}
	}
	clear(ps.dirty)
	ps.dirty = ps.dirty[:0]
	ps.gen++
}

// AlertIn returns the alert with fingerprint fp from a read transaction.
func AlertIn(txn *memdb.Txn, fp model.Fingerprint) (*Alert, bool) {
	raw, err := txn.First(tableAlerts, "id", pageOf(fp))
	if err != nil || raw == nil {
		return nil, false
	}
	p := raw.(*alertPage)
	if i, ok := p.find(fp); ok {
		return p.alerts[i], true
	}
	return nil, false
}

// AlertsFrom yields the alerts of a read transaction with fingerprints at
// or after from, in fingerprint order.
func AlertsFrom(txn *memdb.Txn, from model.Fingerprint) iter.Seq[*Alert] {
	return func(yield func(*Alert) bool) {
		it, err := txn.LowerBound(tableAlerts, "id", pageOf(from))
		if err != nil {
			return
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			p := raw.(*alertPage)
			i, _ := p.find(from)
			for _, a := range p.alerts[i:] {
				if !yield(a) {
					return
				}
			}
			from = 0
		}
	}
}

// pageIndexer indexes alert pages by key, big-endian, so that iteration is
// in fingerprint order.
type pageIndexer struct{}

func (pageIndexer) FromObject(obj any) (bool, []byte, error) {
	p, ok := obj.(*alertPage)
	if !ok {
		return false, nil, fmt.Errorf("alert page index: object is %T, not *alertPage", obj)
	}
	return true, binary.BigEndian.AppendUint16(nil, p.key), nil
}

func (pageIndexer) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("alert page index: want one argument, got %d", len(args))
	}
	k, ok := args[0].(uint16)
	if !ok {
		return nil, fmt.Errorf("alert page index: argument is %T, not a page key", args[0])
	}
	return binary.BigEndian.AppendUint16(nil, k), nil
}
