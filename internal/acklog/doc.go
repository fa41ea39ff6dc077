// Package acklog is the format of siftload's --ack-log: what siftd
// acknowledged, request by request, for crash tests and `siftctl replay
// --requests` (docs/durability.md, "Crash test in CI"). siftload writes
// it with AppendLine; readers decode lines into Request with Read and
// parse a request's body as siftd's receiver for its format does.
//
// A line is one JSON object:
//
//	{"worker":0,"format":"prometheus","sent":"<RFC 3339>","done":"<RFC 3339>","status":200,"events":50,"body":<the body as sent>}
//
// sent is when the request started and done when its answer (or its
// failure) came, so siftd's receive time lies between them. status is the
// 2xx answer, or 0 for a request that got a connection but no answer: in
// doubt, siftd may have logged it before it could answer. Lines are in
// the order the answers came; one worker's are in the order it sent them.
//
// It owns the format only: it holds no state, does no I/O of its own
// beyond the reader it is given, and siftd does not use it (siftd's
// record of what it acknowledged is the write-ahead log).
package acklog
