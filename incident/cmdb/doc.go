// Package cmdb owns sift's configuration management database: configuration
// items (CIs) and the directed relations between them (ITSM.md, CMDB),
// their import from YAML, JSON and CSV, the binding of alert labels to a
// CI, graph queries (upstream, downstream, blast radius, "are these CIs
// linked", "which is the probable cause") and the REST endpoints under
// /api/v1/cis and /api/v1/cmdb.
//
// It does not correlate alerts, open incidents or persist anything: the
// engine asks it questions, the app feeds it files and mounts its
// handlers. Data in memory only; CIs changed through the API last until
// the next restart or a reload that re-reads changed cmdb.files.
//
// # Model
//
// A relation from -> to means "from needs to": a failure of to explains
// alerts on from, so to is upstream of from. Upstream walks follow
// relations forwards, downstream walks backwards; Linked and LinkedToAny
// follow them both ways.
//
// # Concurrency properties
//
//   - A *Graph is an immutable snapshot. All its methods are safe for
//     concurrent use and never block on writers; its only shared mutable
//     part is a sync.Pool of walk scratch space.
//   - Store holds the current *Graph in an atomic.Pointer. Store.Graph is a
//     single atomic load; readers keep the snapshot they loaded for as long
//     as they need a consistent view (one batch, one request).
//   - Every change (Import, Put, Delete, LoadFiles) builds a complete new
//     Graph beside the old one, validates it and swaps it in; writers are
//     serialised by a mutex. A change that fails validation swaps nothing:
//     imports are all or nothing.
//   - Graph.Bind, Linked, LinkedToAny and MostUpstream allocate nothing in
//     the common path, for the engine's per-alert use.
package cmdb
