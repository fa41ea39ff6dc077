package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/internal/acklog"
)

type requestStats struct{ replayed, skipped int }

// replayRequests applies the requests of a siftload --ack-log file
// (package acklog) that siftd acknowledged (and, with inDoubt, those that
// got no answer), in the order they were sent: each is parsed as siftd's
// receiver for its format parses it, received when it was sent (siftd
// received it between its sending and its answer; replay cannot know
// when, and the engine's clock only moves forward). The file is read
// whole: its lines are in the order the answers came. A PagerDuty trigger
// without a dedup_key gets "replay-<line>", where siftd makes a random
// one. The fingerprints are added to fps.
func replayRequests(eng *correlate.Offline, in io.Reader, inDoubt bool, maxBody int, fps map[model.Fingerprint]struct{}) (requestStats, error) {
	type numbered struct {
		line int
		*acklog.Request
	}
	var (
		st   requestStats
		reqs []numbered
	)
	err := acklog.Read(in, maxBody, func(line int, _ []byte, r *acklog.Request) error {
		if r.Acknowledged() || inDoubt && r.InDoubt() {
			reqs = append(reqs, numbered{line, r})
		} else {
			st.skipped++
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	slices.SortStableFunc(reqs, func(a, b numbered) int { return a.Sent.Compare(b.Sent) })
	var batch []ingest.Event
	for _, r := range reqs {
		evs, err := r.Parse(r.Sent, func() string { return "replay-" + strconv.Itoa(r.line) })
		if err != nil {
			return st, fmt.Errorf("line %d: %s body: %v", r.line, r.Format, err)
		}
		for i := range evs {
			fps[evs[i].Fingerprint] = struct{}{}
		}
		batch = append(batch, evs...)
		if len(batch) >= replayBatch {
			eng.ApplyReceived(batch)
			batch = nil
		}
		st.replayed++
	}
	eng.ApplyReceived(batch)
	return st, nil
}
