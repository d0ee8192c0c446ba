// go_heap: Go heap workload for arenatrace's allocator tests.
//
//	go_heap [MIB]
//
// Allocates about MIB MiB (default 96) of small objects, drops 3 in 4, collects
// and returns what it can to the OS (so the runtime's background scavenger has
// nothing left to do while the test looks), then checkpoints with the same
// protocol as memops: "READY objects" on stdout, blocks until a line arrives on
// stdin (EOF: exit 0), then "DONE".
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
)

type node struct {
	buf  [200]byte
	next *node
}

func main() {
	mib := 96
	if len(os.Args) > 1 {
		if v, err := strconv.Atoi(os.Args[1]); err == nil {
			mib = v
		}
	}
	n := mib << 20 / 208
	all := make([]*node, n)
	for i := range all {
		all[i] = &node{}
		all[i].buf[0] = byte(i)
	}
	for i := range all {
		if i%4 != 0 {
			all[i] = nil
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	debug.SetGCPercent(-1) // no collection while the test looks
	fmt.Println("READY objects")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return
	}
	runtime.KeepAlive(all)
	fmt.Println("DONE")
}
