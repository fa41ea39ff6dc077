// Package servicenow files sift incidents as ServiceNow incidents
// through the Table API: the first event creates a record (POST
// /api/now/table/incident), later ones update it (PATCH
// /api/now/table/incident/{sys_id}) with the mapped state and a work
// note. The ticket id stored on the sift incident is the record's
// sys_id.
//
// # Concurrency
//
// Notify may be called from one goroutine at a time (the notifier's
// contract); a ServiceNow holds no mutable state.
package servicenow
