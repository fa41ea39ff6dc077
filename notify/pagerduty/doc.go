// Package pagerduty is the PagerDuty Events API v2 integration. The
// PagerDuty alert mirrors the sift incident: its dedup_key is the
// incident id; opened, reopened, priority changes and repeats trigger
// (PagerDuty folds a trigger for an open dedup_key into the open alert),
// acknowledged acknowledges, resolved resolves; closed sends nothing
// (resolved already did).
//
// # Concurrency
//
// Notify may be called from one goroutine at a time per PagerDuty (the
// notifier's contract); a PagerDuty holds no mutable state.
package pagerduty
