// Package freshservice files sift incidents as Freshservice tickets
// through API v2: the first event creates a ticket (POST
// /api/v2/tickets), later ones update it (PUT /api/v2/tickets/{id}) with
// the mapped status and priority and add a private note (POST
// /api/v2/tickets/{id}/notes). The ticket id is the ticket's number.
// Authentication is the API key as the basic-auth user.
//
// # Concurrency
//
// Notify may be called from one goroutine at a time (the notifier's
// contract); a Freshservice holds no mutable state.
package freshservice
