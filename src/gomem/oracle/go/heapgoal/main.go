// Command heapgoal reports the real runtime's heap goal together with every
// input the pacer computes it from, all read in one runtime/metrics.Read
// call, for a program that holds a steady live heap. Built and run by
// gomem.oracle.heapgoal (see there).
//
//	heapgoal -live BYTES [-churn N]
//
// GOGC and GOMEMLIMIT come from the environment, as the runtime reads them
// at start-up (gcinit -> gcController.init, mgcpacer.go).
//
// The program keeps LIVE/1024 objects of [1024]byte (size class 1024, so no
// rounding) reachable from a global slice, allocates N times as many bytes
// of garbage in the same objects so that the pacer runs its own cycles,
// then calls runtime.GC() three times and reads the metrics.
//
// Why the reading is the pacer's state after a finished cycle:
//
//   - runtime.GC() returns after mark termination and after the sweep it
//     started is done (mgc.go GC). Mark termination ran resetLive (heapLive
//     = heapMarked, triggered = ^0) and then, with the world still stopped,
//     gcControllerCommit -> commit(isSweepDone()); gcSweep had just reset
//     the sweep state in background mode, so isSweepDone() was false and
//     sweepDistMinTrigger = heapMarked + 1 MiB. Nothing recommits after
//     that: finishing the sweep does not, and commit is otherwise only
//     called by gcController.init and debug.SetGCPercent/SetMemoryLimit,
//     which this program never calls.
//   - No cycle runs at the reading: between the last runtime.GC() and
//     metrics.Read nothing is allocated (the samples slice exists before,
//     and the runtime's metric table is built by a first Read at start-up),
//     so heapLive stays far below the next trigger and triggered stays ^0.
//   - The goal moves with the memory-limit inputs (heapFree, totalAlloc -
//     totalFree, mappedReady), which Read takes partly from a snapshot of
//     the consistent heap stats and partly live (metrics.go heapStatsAggregate,
//     sysStatsAggregate). /memory/classes/total:bytes is the first sample, so
//     that both aggregates are computed back to back. With nothing allocating,
//     only the background scavenger moves these inputs, and a finished
//     scavenge takes the same bytes off heapFree and mappedReady, which leaves
//     the goal's non-heap term (mappedReady - heapFree - heapAlloc) unchanged.
//   - A scavenge in progress does not: scavengeOne (mgcscavenge.go) calls
//     sysUnused, which lowers mappedReady at once, and lowers heapFree only
//     after the madvise, with no lock held in between. A goal computed in
//     that window is the scavenged bytes too high (seen on 2 Ps: a goal
//     32 KiB, 64 KiB or 2 MiB above what the same reading gives, in about 1
//     run in 100 of the memory-limit cases). The runner therefore sets
//     GOMAXPROCS=1: scavengeOne runs on the system stack and madvise does not
//     give up the P, so the only P is never in main while a scavenge is half
//     done. /sched/gomaxprocs:threads is read to show it.
//
// Output: one JSON object, metric name -> uint64 value, plus "live" and
// "churn" as given.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
)

// Every input of gcControllerState.heapGoal, the goal itself, and the cycle
// counts that show the churn ran cycles of its own.
var names = []string{
	"/memory/classes/total:bytes",         // + heap/released: mappedReady (all of mem.go's sysAlloc/sysUsed, less released)
	"/memory/classes/heap/released:bytes", // heapReleased
	"/memory/classes/heap/free:bytes",     // heapFree
	"/gc/heap/allocs:bytes",               // totalAlloc
	"/gc/heap/frees:bytes",                // totalFree
	"/gc/heap/goal:bytes",                 // gcController.heapGoal()
	"/gc/gogc:percent",                    // uint64(gcPercent): 2^64-1 for off
	"/gc/gomemlimit:bytes",                // memoryLimit
	"/gc/heap/live:bytes",                 // heapMarked
	"/gc/scan/stack:bytes",                // lastStackScan
	"/gc/scan/globals:bytes",              // globalsScan
	"/gc/cycles/total:gc-cycles",
	"/gc/cycles/forced:gc-cycles",
	"/sched/gomaxprocs:threads",
}

const objectSize = 1024

// The live heap and the last piece of garbage, globals so that the compiler
// keeps every allocation on the heap.
var (
	live []*[objectSize]byte
	sink *[objectSize]byte
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "heapgoal: "+format+"\n", args...)
	os.Exit(2)
}

func main() {
	liveBytes := flag.Int64("live", 32<<20, "bytes of live heap to hold (in 1 KiB objects)")
	churn := flag.Int64("churn", 4, "bytes of garbage to allocate, in multiples of -live")
	flag.Parse()
	if *liveBytes < objectSize || *churn < 0 || flag.NArg() != 0 {
		fail("usage: heapgoal -live BYTES (>= %d) [-churn N]", objectSize)
	}

	samples := make([]metrics.Sample, len(names))
	for i, name := range names {
		samples[i].Name = name
	}
	metrics.Read(samples) // the first Read builds the runtime's metric table (allocates)
	for _, s := range samples {
		if s.Value.Kind() != metrics.KindUint64 {
			fail("metric %s is not a uint64 in this Go", s.Name)
		}
	}

	live = make([]*[objectSize]byte, *liveBytes/objectSize)
	for i := range live {
		live[i] = new([objectSize]byte)
	}
	for i := int64(0); i < *churn*int64(len(live)); i++ {
		sink = new([objectSize]byte)
	}
	sink = nil

	runtime.GC()
	runtime.GC()
	runtime.GC()
	metrics.Read(samples) // nothing allocated since the last GC returned
	runtime.KeepAlive(live)

	out := map[string]any{"live": *liveBytes, "churn": *churn}
	for _, s := range samples {
		out[s.Name] = s.Value.Uint64()
	}
	line, err := json.Marshal(out)
	if err != nil {
		fail("%v", err)
	}
	fmt.Println(string(line))
}
