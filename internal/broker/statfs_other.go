//go:build !unix

package broker

// freeBytes is -1: statfs is not available here.
func freeBytes(string) int64 { return -1 }
