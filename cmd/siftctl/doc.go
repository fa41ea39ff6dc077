// Command siftctl is the operator's command line for sift.
//
//	siftctl check config FILE...   validate siftd configuration files
//	siftctl rules check FILE...    validate rule files (docs/rules.md)
//
// It exits 0 when every check passed, 1 when one failed (naming the file,
// line and key), 2 on a usage error. It reads files and, for commands that
// talk to siftd, the API; it never changes local files.
package main
