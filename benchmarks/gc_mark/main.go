// Builds a linked list of N 16-byte nodes (next pointer + int) from a global,
// then times runtime.GC() with GOGC off and one P. The mark phase dominates a
// forced collection of a live list; the program prints N, the best time of 5
// collections in ns, and the mark CPU from runtime/metrics.
// Used by benchmarks/gc_mark.py.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"time"
)

type node struct {
	next *node
	v    int
}

var head *node

func markCPU() float64 {
	s := []metrics.Sample{
		{Name: "/cpu/classes/gc/mark/dedicated:cpu-seconds"},
		{Name: "/cpu/classes/gc/mark/idle:cpu-seconds"},
		{Name: "/cpu/classes/gc/mark/assist:cpu-seconds"},
	}
	metrics.Read(s)
	return s[0].Value.Float64() + s[1].Value.Float64() + s[2].Value.Float64()
}

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	for i := 0; i < n; i++ {
		head = &node{next: head, v: i}
	}
	runtime.GC()
	best := time.Duration(1 << 62)
	bestMark := 1e9
	for i := 0; i < 5; i++ {
		m0 := markCPU()
		t := time.Now()
		runtime.GC()
		if d := time.Since(t); d < best {
			best = d
		}
		if m := markCPU() - m0; m < bestMark {
			bestMark = m
		}
	}
	runtime.KeepAlive(head)
	fmt.Printf("%d %d %d\n", n, best.Nanoseconds(), int64(bestMark*1e9))
}
