//go:build race

package cmdb

// raceEnabled: the race detector makes sync.Pool drop items on purpose,
// so allocation counts do not hold.
const raceEnabled = true
