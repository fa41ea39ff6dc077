package snapshot

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sift-itsm/sift/internal/atomicfile"
	"github.com/sift-itsm/sift/internal/wal"
)

// Version is the format this siftd writes; it reads MinVersion to Version.
const (
	Version    = 1
	MinVersion = 1
)

const (
	magic  = "SIFTSNAP"
	prefix = "snapshot-"
	// keep is how many snapshots stay: the newest, and the one before in
	// case the newest cannot be read.
	keep = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Meta says what a snapshot covers.
type Meta struct {
	// WAL is the log position the state covers: replay starts there.
	WAL wal.Pos `json:"wal"`
	// Kafka are the last offsets logged, by topic and partition, of the
	// Kafka events the state covers: the consumer resumes after them.
	Kafka []KafkaOffset `json:"kafka,omitempty"`
	// Taken is the wall clock when it was written; Alerts and Incidents
	// are for the log line at start.
	Taken     time.Time `json:"taken"`
	Alerts    int       `json:"alerts"`
	Incidents int       `json:"incidents"`
}

// KafkaOffset is the last offset of a partition the state covers.
type KafkaOffset struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
}

// VersionError is a snapshot of a format this siftd does not read.
type VersionError struct {
	Path    string
	Version uint32
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("snapshot %s: format %d is not supported by this siftd (reads %d to %d)", e.Path, e.Version, MinVersion, Version)
}

// Write writes a snapshot of meta and the state state writes into dir,
// atomically, then deletes all but the newest snapshots. It returns the
// file's path.
func Write(dir string, meta Meta, state func(io.Writer) error) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating the snapshot directory: %w", err)
	}
	name := fmt.Sprintf("%s%08d-%016d", prefix, meta.WAL.Segment, meta.WAL.Offset)
	final := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, name+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("creating a snapshot: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	defer tmp.Close()

	mj, err := json.Marshal(meta)
	if err != nil {
		return "", err
	}
	h := crc32.New(castagnoli)
	w := io.MultiWriter(tmp, h)
	var head []byte
	head = append(head, magic...)
	head = binary.LittleEndian.AppendUint32(head, Version)
	head = binary.LittleEndian.AppendUint32(head, uint32(len(mj)))
	head = append(head, mj...)
	if _, err := w.Write(head); err != nil {
		return "", fmt.Errorf("writing snapshot %s: %w", tmp.Name(), err)
	}
	if err := state(w); err != nil {
		return "", fmt.Errorf("writing snapshot %s: %w", tmp.Name(), err)
	}
	if _, err := tmp.Write(binary.LittleEndian.AppendUint32(nil, h.Sum32())); err != nil {
		return "", fmt.Errorf("writing snapshot %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("syncing snapshot %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", fmt.Errorf("installing snapshot %s: %w", final, err)
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return "", err
	}
	names, err := list(dir)
	if err != nil {
		return final, err
	}
	for _, n := range names[:max(0, len(names)-keep)] {
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			return final, fmt.Errorf("removing an old snapshot: %w", err)
		}
	}
	return final, nil
}

// Snapshot is a snapshot read back.
type Snapshot struct {
	Path  string
	Meta  Meta
	State []byte
}

// Latest reads the newest snapshot in dir whose checksum holds; one that
// does not is skipped with a warning (the one before it is used). ok is
// false when dir holds none. A snapshot of a format this siftd cannot read
// is an error (*VersionError): an older siftd must not silently start
// from an older state.
func Latest(dir string, logger *slog.Logger) (snap Snapshot, ok bool, err error) {
	names, err := list(dir)
	if err != nil {
		return Snapshot{}, false, err
	}
	for i := len(names) - 1; i >= 0; i-- {
		path := filepath.Join(dir, names[i])
		s, err := read(path)
		var verr *VersionError
		switch {
		case errors.As(err, &verr):
			return Snapshot{}, false, err
		case err != nil:
			logger.Warn("snapshot is unreadable; trying the one before", "path", path, "err", err)
			continue
		}
		return s, true, nil
	}
	return Snapshot{}, false, nil
}

func read(path string) (Snapshot, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Snapshot{}, err
	}
	if len(raw) < len(magic)+12 || string(raw[:len(magic)]) != magic {
		return Snapshot{}, fmt.Errorf("%s is not a snapshot", path)
	}
	if v := binary.LittleEndian.Uint32(raw[len(magic):]); v < MinVersion || v > Version {
		return Snapshot{}, &VersionError{Path: path, Version: v}
	}
	body, sum := raw[:len(raw)-4], binary.LittleEndian.Uint32(raw[len(raw)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return Snapshot{}, fmt.Errorf("snapshot %s: checksum mismatch (a torn or damaged file)", path)
	}
	n := int(binary.LittleEndian.Uint32(raw[len(magic)+4:]))
	off := len(magic) + 8
	if n > len(body)-off {
		return Snapshot{}, fmt.Errorf("snapshot %s: metadata length %d past the end", path, n)
	}
	s := Snapshot{Path: path, State: body[off+n:]}
	dec := json.NewDecoder(bytes.NewReader(body[off : off+n]))
	if err := dec.Decode(&s.Meta); err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s: metadata: %w", path, err)
	}
	return s, nil
}

// list returns the snapshot files in dir, oldest first (their names sort
// in log order).
func list(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing snapshots: %w", err)
	}
	var names []string
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, prefix) && !strings.HasSuffix(n, ".tmp") && e.Type().IsRegular() {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}
