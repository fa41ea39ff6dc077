package history

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The spool keeps batches ClickHouse could not take yet, one file each,
// named by a sequence number so that their order survives a restart:
//
//	magic "SIFTHSP1" | row counts, 6 x uint32 | payload length uint64 |
//	CRC-32C of payload uint32 | payload (gob of Rows)
//
// A file is written under a temporary name, synced and renamed, so a
// crash leaves either a whole file or a temporary one, which the next
// start deletes.
const (
	spoolMagic  = "SIFTHSP1"
	spoolHeader = 8 + 6*4 + 8 + 4
	spoolExt    = ".batch"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type spool struct {
	dir string
	// next is the number after the highest file found at open.
	next uint64
}

// spoolFile is a batch on disk.
type spoolFile struct {
	path   string
	size   int64
	counts counts
}

// openSpool opens (creating) dir and returns the spooled batches in
// order. Files that cannot be read are returned in bad, for the caller to
// count and delete.
func openSpool(dir string) (*spool, []spoolFile, []string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, nil, fmt.Errorf("creating spool directory: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reading spool directory: %w", err)
	}
	s := &spool{dir: dir, next: 1}
	type numbered struct {
		n    uint64
		name string
	}
	var names []numbered
	var bad []string
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			_ = os.Remove(filepath.Join(dir, name))
			continue
		}
		if !strings.HasSuffix(name, spoolExt) {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(name, spoolExt), 10, 64)
		if err != nil {
			continue
		}
		names = append(names, numbered{n, name})
		s.next = max(s.next, n+1)
	}
	sort.Slice(names, func(i, j int) bool { return names[i].n < names[j].n })
	var files []spoolFile
	for _, nm := range names {
		f, err := statSpoolFile(filepath.Join(dir, nm.name))
		if err != nil {
			bad = append(bad, filepath.Join(dir, nm.name))
			continue
		}
		files = append(files, f)
	}
	return s, files, bad, nil
}

func statSpoolFile(path string) (spoolFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return spoolFile{}, err
	}
	defer f.Close()
	var h [spoolHeader]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return spoolFile{}, fmt.Errorf("spool file %q: %w", path, err)
	}
	if string(h[:8]) != spoolMagic {
		return spoolFile{}, fmt.Errorf("spool file %q: not a spool file", path)
	}
	st, err := f.Stat()
	if err != nil {
		return spoolFile{}, err
	}
	sf := spoolFile{path: path, size: st.Size()}
	for i := range sf.counts {
		sf.counts[i] = binary.LittleEndian.Uint32(h[8+4*i:])
	}
	if n := binary.LittleEndian.Uint64(h[32:]); int64(n) != st.Size()-spoolHeader {
		return spoolFile{}, fmt.Errorf("spool file %q: truncated", path)
	}
	return sf, nil
}

// write stores r as file number n. Numbers are given at seal time, in
// the order batches are to be sent, so that a restart sends them in that
// order whichever goroutine spooled them first.
func (s *spool) write(r *Rows, n uint64) (spoolFile, error) {
	var payload bytes.Buffer
	if err := gob.NewEncoder(&payload).Encode(r); err != nil {
		return spoolFile{}, fmt.Errorf("encoding spool batch: %w", err)
	}
	c := r.counts()
	var h [spoolHeader]byte
	copy(h[:8], spoolMagic)
	for i, v := range c {
		binary.LittleEndian.PutUint32(h[8+4*i:], v)
	}
	binary.LittleEndian.PutUint64(h[32:], uint64(payload.Len()))
	binary.LittleEndian.PutUint32(h[40:], crc32.Checksum(payload.Bytes(), crcTable))

	path := filepath.Join(s.dir, fmt.Sprintf("%020d%s", n, spoolExt))
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return spoolFile{}, fmt.Errorf("writing spool file: %w", err)
	}
	_, err = f.Write(h[:])
	if err == nil {
		_, err = f.Write(payload.Bytes())
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return spoolFile{}, fmt.Errorf("writing spool file: %w", err)
	}
	return spoolFile{path: path, size: int64(spoolHeader + payload.Len()), counts: c}, nil
}

// read loads a spooled batch and checks it.
func (s *spool) read(f spoolFile) (*Rows, error) {
	b, err := os.ReadFile(f.path)
	if err != nil {
		return nil, fmt.Errorf("reading spool file: %w", err)
	}
	if len(b) < spoolHeader || string(b[:8]) != spoolMagic {
		return nil, fmt.Errorf("spool file %q: not a spool file", f.path)
	}
	payload := b[spoolHeader:]
	if uint64(len(payload)) != binary.LittleEndian.Uint64(b[32:]) ||
		crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(b[40:]) {
		return nil, fmt.Errorf("spool file %q: %w", f.path, errCorrupt)
	}
	var r Rows
	if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(&r); err != nil {
		return nil, fmt.Errorf("spool file %q: %w: %w", f.path, errCorrupt, err)
	}
	return &r, nil
}

var errCorrupt = errors.New("corrupt spool file")

func (s *spool) remove(f spoolFile) {
	_ = os.Remove(f.path)
}
