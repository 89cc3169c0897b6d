// Command gomalloc times heap allocations through mallocgc's paths: the
// real-Go half of benchmarks/go_malloc.py, which builds and runs it.
//
//	gomalloc N_SMALL N_LARGE REPEAT
//
// For each kind of object it allocates N (N_SMALL, or N_LARGE for the large
// kind) objects in a loop, each stored into a global so that escape analysis
// must put it on the heap (runtime.newobject -> mallocgc), and prints one
// line "KIND NS_PER_ALLOC", the best of REPEAT timed runs after one untimed
// warm-up run. runtime.GC() runs between runs, outside the timing, so that
// with GOGC=off the heap does not keep growing. The runner chooses GOGC and
// GOMAXPROCS through the environment.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

// node is 64 bytes with one pointer word: a small scan object without a
// malloc header (class 64, heap bits in the span).
type node struct {
	next *node
	pad  [7]int
}

var (
	sink64    *[64]byte
	sink16    *[16]byte
	sink8     *[8]byte
	sinkNode  *node
	sinkLarge *[40000]byte
)

// The loops are separate functions so that each is one plain call per object.

func alloc64(n int) {
	for i := 0; i < n; i++ {
		sink64 = new([64]byte)
	}
}

func alloc16(n int) {
	for i := 0; i < n; i++ {
		sink16 = new([16]byte)
	}
}

func alloc8(n int) {
	for i := 0; i < n; i++ {
		sink8 = new([8]byte)
	}
}

func allocNode(n int) {
	for i := 0; i < n; i++ {
		sinkNode = new(node)
	}
}

func allocLarge(n int) {
	for i := 0; i < n; i++ {
		sinkLarge = new([40000]byte)
	}
}

var kinds = []struct {
	name  string
	large bool
	loop  func(int)
}{
	{"noscan64", false, alloc64},
	{"noscan16", false, alloc16},
	{"tiny8", false, alloc8},
	{"scan64", false, allocNode},
	{"large40000", true, allocLarge},
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: gomalloc N_SMALL N_LARGE REPEAT")
		os.Exit(2)
	}
	nSmall, err1 := strconv.Atoi(os.Args[1])
	nLarge, err2 := strconv.Atoi(os.Args[2])
	repeat, err3 := strconv.Atoi(os.Args[3])
	if err1 != nil || err2 != nil || err3 != nil || nSmall < 1 || nLarge < 1 || repeat < 1 {
		fmt.Fprintln(os.Stderr, "gomalloc: N_SMALL, N_LARGE and REPEAT must be positive integers")
		os.Exit(2)
	}
	for _, k := range kinds {
		n := nSmall
		if k.large {
			n = nLarge
		}
		runtime.GC()
		k.loop(n / 10) // warm up: spans cached, heap grown, code paged in
		best := time.Duration(1<<63 - 1)
		for r := 0; r < repeat; r++ {
			runtime.GC()
			start := time.Now()
			k.loop(n)
			if d := time.Since(start); d < best {
				best = d
			}
		}
		fmt.Printf("%s %.3f\n", k.name, float64(best.Nanoseconds())/float64(n))
	}
}
