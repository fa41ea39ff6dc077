package wal

import (
	"os"
	"syscall"
)

// datasync flushes a segment's data and the metadata needed to read it
// back (its size), not its times: in a preallocated segment an fsync of
// a group is then a data flush, not a journal commit.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
