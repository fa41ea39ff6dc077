package wal

import (
	"fmt"
	"maps"
	"time"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/ingest"
)

// Replayer is the engine's recovery entry point: correlate.Engine's
// Replay and ReplayCommand.
type Replayer interface {
	Replay(now time.Time, events []ingest.Event)
	ReplayCommand(c *correlate.Command) (any, error)
}

// RecoverStats say what Recover replayed.
type RecoverStats struct {
	Records int
	Events  int
	// Commands counts the command records; Refused those the engine
	// refused, as it did live (an action the incident's state did not
	// allow, an unknown incident).
	Commands, Refused int
	// Kafka holds the last offset logged of each partition in the
	// records replayed: where the consumer resumes (after it), and what
	// a snapshot at End records. Over a snapshot's offsets, these win.
	Kafka Offsets
	// End is the position after the last record replayed; Clock the
	// engine clock after it (the latest receive time or command clock).
	End   Pos
	Clock time.Time
}

// Recover replays the log from position from into the engine before it
// runs: each event record is one batch, applied at the latest receive
// time seen so far (the clock never runs backwards), as the live engine
// applied it at its own clock; each command record is applied at its own
// clock (or the batch's before it, if later), as the live engine did. A
// record this siftd cannot decode stops the recovery with an error naming
// its position.
func Recover(l *Log, from Pos, eng Replayer) (RecoverStats, error) {
	st := RecoverStats{Kafka: Offsets{}}
	start := from
	err := l.Replay(from, func(end Pos, rec []byte) error {
		switch k := RecordKind(rec); k {
		case KindEvents, KindKafkaEvents:
			// A new slice each time: the engine and its sinks keep it.
			var (
				evs     []ingest.Event
				offsets Offsets
				err     error
			)
			if k == KindEvents {
				evs, err = DecodeEvents(rec, nil)
			} else {
				offsets, evs, err = DecodeKafkaEvents(rec, nil)
			}
			if err != nil {
				return fmt.Errorf("write-ahead log record after %s: %w", start, err)
			}
			maps.Copy(st.Kafka, offsets)
			for i := range evs {
				if evs[i].ReceivedAt.After(st.Clock) {
					st.Clock = evs[i].ReceivedAt
				}
			}
			if len(evs) > 0 {
				eng.Replay(st.Clock, evs)
			}
			st.Events += len(evs)
		case KindCommand:
			c, err := DecodeCommand(rec)
			if err != nil {
				return fmt.Errorf("write-ahead log record after %s: %w", start, err)
			}
			if c.At.After(st.Clock) {
				st.Clock = c.At
			}
			st.Commands++
			if _, err := eng.ReplayCommand(c); err != nil {
				st.Refused++
			}
		default:
			// A record of another kind comes from a newer siftd.
			return fmt.Errorf("write-ahead log record after %s: kind %s is not supported by this siftd", start, k)
		}
		st.Records++
		st.End, start = end, end
		return nil
	})
	return st, err
}
