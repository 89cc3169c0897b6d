// Starts N goroutines that block on a channel, with GOGC off and one P, and
// prints the MemStats deltas as JSON, then "class SIZE: MALLOCS" per moved
// BySize entry. Built by tests/oracle/test_runtime_records_match_go.py.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
)

var block = make(chan struct{})

func park() { <-block }

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	debug.SetGCPercent(-1)
	runtime.GOMAXPROCS(1)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		go park()
	}
	runtime.Gosched()
	runtime.ReadMemStats(&after)
	fmt.Printf("{\"n\": %d, \"StackInuse\": %d, \"HeapAlloc\": %d, \"HeapObjects\": %d, \"Mallocs\": %d}\n",
		n, int64(after.StackInuse)-int64(before.StackInuse), int64(after.HeapAlloc)-int64(before.HeapAlloc),
		int64(after.HeapObjects)-int64(before.HeapObjects), int64(after.Mallocs)-int64(before.Mallocs))
	for b := range after.BySize {
		d := after.BySize[b].Mallocs - before.BySize[b].Mallocs
		if d != 0 {
			fmt.Printf("class %d: %d\n", after.BySize[b].Size, d)
		}
	}
}
