// Package config owns siftd's configuration file: its schema, embedded
// defaults, strict decoding (an unknown key is an error naming it and its
// line) and validation (each error names its key).
//
// It builds values and never starts anything; the daemon decides what a
// reload changes. Config values are immutable once returned, so they may
// be shared between goroutines.
package config
