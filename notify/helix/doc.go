// Package helix files sift incidents in BMC Helix ITSM through the AR
// System REST API: it logs in for an AR-JWT token (POST /api/jwt/login,
// again when the token is refused), creates an incident through
// HPD:IncidentInterface_Create, and updates it through
// HPD:IncidentInterface, found by its Incident Number (the ticket id
// stored on the sift incident). Comments go to the work log.
//
// # Concurrency
//
// Notify may be called from one goroutine at a time (the notifier's
// contract): the token is cached without a lock.
package helix
