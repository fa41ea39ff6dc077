// Package incident owns what an incident is: its states and the
// transitions between them, the priority matrix, the timeline, the human
// readable ids, the go-memdb table that holds incidents, and the REST
// handlers that read and act on them.
//
// It does not decide which alerts form an incident (correlate does) and
// never writes the state itself: the correlation engine is the only
// writer. The functions here are pure: given an incident and an action at
// a time they return the next version, so the engine applies them inside
// its write transaction and a replay gives the same incidents.
//
// # Concurrency
//
// An *Incident is immutable once the engine has inserted it: a change is a
// new version (Revise). Its slices are shared between versions and only
// ever appended to by the engine on the newest version, so a reader
// holding an older version sees a consistent prefix. The API reads through
// memdb read transactions and sends actions to the engine through Actor;
// it never blocks the writer.
package incident
