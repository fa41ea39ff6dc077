//go:build !race

package cmdb

const raceEnabled = false
