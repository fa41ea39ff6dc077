package incident

import (
	"encoding/binary"
	"fmt"

	"github.com/hashicorp/go-memdb"
)

// Table is the name of the incidents table.
const Table = "incidents"

// TableSchema is the incidents table for the engine's go-memdb schema:
// one row per incident, its newest version, indexed by sequence number in
// big-endian order so that iteration runs oldest to newest and a reverse
// iteration lists newest first.
func TableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: Table,
		Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: seqIndexer[*Incident]{"incident", func(inc *Incident) uint64 { return inc.Seq }}},
		},
	}
}

// seqIndexer indexes rows of type T by sequence number; noun names the
// rows in its errors.
type seqIndexer[T any] struct {
	noun string
	seq  func(T) uint64
}

func (x seqIndexer[T]) FromObject(obj any) (bool, []byte, error) {
	row, ok := obj.(T)
	if !ok {
		var want T
		return false, nil, fmt.Errorf("%s index: object is %T, not %T", x.noun, obj, want)
	}
	return true, seqKey(x.seq(row)), nil
}

func (x seqIndexer[T]) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("%s index: want one argument, got %d", x.noun, len(args))
	}
	seq, ok := args[0].(uint64)
	if !ok {
		return nil, fmt.Errorf("%s index: argument is %T, not uint64", x.noun, args[0])
	}
	return seqKey(seq), nil
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// Get returns the incident with the id from a read transaction.
func Get(txn *memdb.Txn, id string) (*Incident, error) {
	seq, err := ParseID(id)
	if err != nil {
		return nil, err
	}
	raw, err := txn.First(Table, "id", seq)
	if err != nil || raw == nil {
		return nil, err
	}
	return raw.(*Incident), nil
}
