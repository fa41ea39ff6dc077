// Package httpapi holds what every REST handler of siftd shares: the JSON
// error body, writing JSON answers, and the paging parameters. It owns no
// endpoints and no state.
package httpapi
