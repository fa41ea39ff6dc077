// Package rules owns sift's rule files: correlation rules, inhibit rules
// and maintenance windows. It parses and validates them (every error names
// the file, line and field; unknown keys are errors; all errors of a load
// are reported at once), applies their defaults and compiles them into a
// Set, the form the correlation engine evaluates. It also owns the format
// of rule unit-test files (LoadTestFile), which siftctl rules test runs.
//
// The package is pure: it holds no engine state and never reads the
// clock. The engine passes in what rules need: an alert's labels, its CI's
// attributes (CIAttrFunc), the event time (InMaintenance), the firing
// source alerts (InhibitIndex, which the engine owns and updates).
//
// The reference of both file formats, their defaults and the order of
// evaluation is docs/rules.md.
//
// # Concurrency
//
// A Set is immutable once built: any number of goroutines may evaluate
// it. Store swaps Sets atomically on reload; Store.Load is safe from any
// goroutine, reloads are serialised, and a reload that fails leaves the
// Set in force unchanged. An InhibitIndex is mutable and not safe for
// concurrent use: it belongs to the engine's writer goroutine.
package rules
