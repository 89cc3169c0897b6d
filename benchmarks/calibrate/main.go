// Command calibrate times the operations that gomem charges simulated time
// for: the real-Go half of benchmarks/calibrate_costs.py, which builds and
// runs it and turns its raw figures into gomem's cost table
// (src/gomem/runtime/cost.py).
//
//	calibrate EXPERIMENT...
//
// Each experiment prints lines "KEY VALUE": raw measurements, in ns unless
// the key says otherwise. The runner chooses the environment:
//
//	fresh                               GOMAXPROCS=1, first in its process
//	loops alloc gc stack sched os stw   GOMAXPROCS=1, GODEBUG=adaptivestackstart=0
//	wb                                  GOMAXPROCS=2 (a GC on the other P turns the barrier on)
//
// The collector is off (debug.SetGCPercent(-1)) except where runtime.GC runs
// it on purpose, and heap profiling is off (MemProfileRate = 0) so that no
// sampling cost enters the figures. Every timed loop stores what it makes
// into a global, so escape analysis must put each object on the heap.
package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// node is 16 bytes with one pointer word: size class 2, a scan span.
type node struct {
	next *node
	v    int
}

// node64 is 64 bytes with one pointer word: class 5, heap bits in the span.
type node64 struct {
	next *node
	pad  [7]int
}

// nodeHeader is 520 bytes with a pointer: over 512 bytes, so mallocgc puts
// an 8-byte malloc header in front of it (528 -> class 576, 14 per span).
type nodeHeader struct {
	next *node
	pad  [64]int
}

var (
	sinkInt  int
	sinkNode *node
	sinkPtr  unsafe.Pointer // where the allocation loops keep their objects

	arr    *[64]node // 1 KiB of nodes, L1-resident: the store loops write here
	arrQ   *[64]node // every next == target: stores of target over target
	ring   *node     // 64 nodes in a cycle: the load loop chases it
	target *node     // the pointer the store loops store
)

//go:linkname writeBarrier runtime.writeBarrier
var writeBarrier struct {
	enabled bool    // set by the runtime while the GC marks (with the world stopped)
	pad     [3]byte // (runtime/mgc.go's layout, which the compiler relies on)
	alignme uint64
}

func emit(key string, v float64) { fmt.Printf("%s %.4f\n", key, v) }

func minorFaults() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return ru.Minflt
}

// timed is the fastest of several timed runs: ns per op and minor faults per op.
type timed struct{ ns, faults float64 }

// best runs loop(n) once untimed (warm-up: code paged in, heap grown), then
// repeat times with runtime.GC() before each run, outside the timing, and
// returns the fastest run. With the collector otherwise off, that GC frees
// the previous run's objects, so every timed run reuses memory that the
// warm-up faulted in: the steady state of a program that collects.
func best(n, repeat int, loop func(int)) timed {
	runtime.GC()
	loop(n)
	b := timed{ns: math.Inf(1)}
	for r := 0; r < repeat; r++ {
		runtime.GC()
		f0 := minorFaults()
		start := time.Now()
		loop(n)
		d := time.Since(start)
		f1 := minorFaults()
		if ns := float64(d.Nanoseconds()) / float64(n); ns < b.ns {
			b = timed{ns, float64(f1-f0) / float64(n)}
		}
	}
	return b
}

func emitTimed(key string, t timed) {
	emit(key, t.ns)
	emit(key+"_faults", t.faults)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// -- loops: the mutator's single operations ----------------------------------

func emptyLoop(n int) {
	for i := 0; i < n; i++ {
	}
}

//go:noinline
func storeScalars(a *[64]node, n int) {
	for i := 0; i < n; i++ {
		a[i&63].v = i
	}
}

// storePointers stores q into the next fields of a; the compiler puts a
// write-barrier check (and, when it is on, a gcWriteBarrier2 call) on each.
//
//go:noinline
func storePointers(a *[64]node, q *node, n int) {
	for i := 0; i < n; i++ {
		a[i&63].next = q
	}
}

//go:noinline
func loadPointers(p *node, n int) *node {
	for i := 0; i < n; i++ {
		p = p.next // each load's address is the previous load's value: latency
	}
	return p
}

//go:noinline
func callee(x int) int { return x + 1 }

func calls(n int) {
	s := 0
	for i := 0; i < n; i++ {
		s = callee(s)
	}
	sinkInt = s
}

func expLoops() {
	const n = 50_000_000
	emit("loop_empty", best(n, 5, emptyLoop).ns)
	emit("loop_scalar_store", best(n, 5, func(n int) { storeScalars(arr, n) }).ns)
	emit("loop_pointer_store", best(n, 5, func(n int) { storePointers(arr, target, n) }).ns)
	emit("loop_pointer_load", best(n, 5, func(n int) { sinkNode = loadPointers(ring, n) }).ns)
	emit("loop_call", best(n, 5, calls).ns)
}

// -- alloc: mallocgc's paths ---------------------------------------------------

func allocLoop[T any]() func(int) {
	return func(n int) {
		for i := 0; i < n; i++ {
			sinkPtr = unsafe.Pointer(new(T))
		}
	}
}

func expAlloc() {
	const repeat = 5
	// The same loop storing one preallocated pointer: subtracted from each kind.
	p := unsafe.Pointer(new(node64))
	emitTimed("alloc_baseline", best(1<<20, repeat, func(n int) {
		for i := 0; i < n; i++ {
			sinkPtr = p
		}
	}))
	// 16-64 MiB per run, so that the heap is much larger than the caches.
	emitTimed("alloc_tiny8", best(2<<20, repeat, allocLoop[[8]byte]()))
	emitTimed("alloc_scan64", best(1<<20, repeat, allocLoop[node64]()))
	emitTimed("alloc_header520", best(100_000, repeat, allocLoop[nodeHeader]()))
	emitTimed("alloc_noscan64", best(1<<20, repeat, allocLoop[[64]byte]()))
	// Large objects: 5, 16, 32 and 64 pages of 8 KiB, 32 MiB per run.
	emitTimed("alloc_large5", best(800, repeat, allocLoop[[5 << 13]byte]()))
	emitTimed("alloc_large16", best(256, repeat, allocLoop[[16 << 13]byte]()))
	emitTimed("alloc_large32", best(128, repeat, allocLoop[[32 << 13]byte]()))
	emitTimed("alloc_large64", best(64, repeat, allocLoop[[64 << 13]byte]()))
}

// -- fresh: refills and large spans, without zeroing ---------------------------

// bestFresh is best without the collections: the heap only grows, so every
// run takes memory that the process never used. mallocgc does not zero such
// memory (span.needzero == 0) and nothing touches a pointer-free object, so
// none of its pages is faulted: what remains is the fast path, the refills
// and the spans, with a few faults of new mspan structs and heap metadata
// (counted, and subtracted by the runner) and the heap's growth amortized.
func bestFresh(n, repeat int, loop func(int)) timed {
	loop(n / 8) // warm-up: code paged in
	b := timed{ns: math.Inf(1)}
	for r := 0; r < repeat; r++ {
		f0 := minorFaults()
		start := time.Now()
		loop(n)
		d := time.Since(start)
		f1 := minorFaults()
		if ns := float64(d.Nanoseconds()) / float64(n); ns < b.ns {
			b = timed{ns, float64(f1-f0) / float64(n)}
		}
	}
	return b
}

// expFresh must run first in its process: memory that was ever allocated and
// freed is reused first, and needs zeroing.
func expFresh() {
	const repeat = 5
	emitTimed("fresh_noscan64", bestFresh(1<<20, repeat, allocLoop[[64]byte]()))
	// One object per 1-page span: every allocation refills the mcache.
	emitTimed("fresh_noscan8192", bestFresh(8192, repeat, allocLoop[[8192]byte]()))
	// Large objects are not zeroed either: what remains is the span's own cost.
	emitTimed("fresh_large5", bestFresh(800, repeat, allocLoop[[5 << 13]byte]()))
	emitTimed("fresh_large16", bestFresh(256, repeat, allocLoop[[16 << 13]byte]()))
	emitTimed("fresh_large32", bestFresh(128, repeat, allocLoop[[32 << 13]byte]()))
	emitTimed("fresh_large64", bestFresh(64, repeat, allocLoop[[64 << 13]byte]()))
}

// -- gc: marking and sweeping --------------------------------------------------

var markMetrics = []metrics.Sample{
	{Name: "/cpu/classes/gc/mark/assist:cpu-seconds"},
	{Name: "/cpu/classes/gc/mark/dedicated:cpu-seconds"},
	{Name: "/cpu/classes/gc/mark/idle:cpu-seconds"},
}

// markCPU is the mark workers' and assists' CPU time so far, in ns; the
// runtime adds each cycle's share at mark termination.
func markCPU() float64 {
	metrics.Read(markMetrics)
	s := 0.0
	for _, m := range markMetrics {
		s += m.Value.Float64()
	}
	return s * 1e9
}

// gcCycle runs one whole collection and returns, in ns, the mark CPU time
// and the time from the end of mark termination (MemStats.LastGC) until
// runtime.GC returns: the sweep, which runtime.GC finishes before returning.
func gcCycle() (mark, sweep float64) {
	m0 := markCPU()
	runtime.GC()
	end := time.Now()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return markCPU() - m0, float64(end.UnixNano() - int64(ms.LastGC))
}

// minMark is the least mark CPU time of repeat collections of the current heap.
func minMark(repeat int) float64 {
	runtime.GC() // collect leftovers first
	m := math.Inf(1)
	for r := 0; r < repeat; r++ {
		mark, _ := gcCycle()
		m = min(m, mark)
	}
	return m
}

var (
	gcSlice []*node // the live heap the mark experiments scan
	gcOne   *node   // the object that the "same" words point at
)

func expGC() {
	const n = 1 << 21 // pointer words in the scanned slice (16 MiB)
	const repeat = 5
	emit("gc_words", n)
	gcSlice, gcOne = nil, new(node)
	emit("gc_mark_empty", minMark(repeat))
	gcSlice = make([]*node, n) // every word nil
	emit("gc_mark_nil", minMark(repeat))
	for i := range gcSlice {
		gcSlice[i] = gcOne
	}
	emit("gc_mark_same", minMark(repeat)) // every word points at one (marked) object
	for i := range gcSlice {
		gcSlice[i] = &node{next: gcOne}
	}
	// Every word points at an object of its own, whose one word points at gcOne.
	emit("gc_mark_distinct", minMark(repeat))
	gcSlice = nil

	// Sweeping: the same collection with and without spans full of garbage.
	const spans = 4096
	runtime.GC()
	none, garbage := math.Inf(1), math.Inf(1)
	for r := 0; r < repeat; r++ {
		_, sweep := gcCycle()
		none = min(none, sweep)
	}
	for r := 0; r < repeat; r++ {
		for i := 0; i < spans*512; i++ { // 512 16-byte objects fill an 8 KiB span
			sinkNode = new(node)
		}
		_, sweep := gcCycle()
		garbage = min(garbage, sweep)
	}
	emit("sweep_spans", spans)
	emit("sweep_no_garbage", none)
	emit("sweep_garbage", garbage)
}

// -- wb: pointer stores while the write barrier is on --------------------------

var wbLive []*node

func expWB() {
	// A live heap of 4M objects keeps each cycle's mark phase going for tens
	// of ms while this goroutine stores in chunks on its own P.
	wbLive = make([]*node, 4<<20)
	for i := range wbLive {
		wbLive[i] = new(node)
	}
	const chunk = 8192
	samples := map[string][]float64{}
	for cycle := 0; cycle < 4; cycle++ {
		done := make(chan struct{})
		go func() {
			runtime.GC()
			close(done)
		}()
		for k := 0; ; k++ {
			select {
			case <-done:
			default:
				// nil over nil: the buffer path; its flushes find nothing to shade.
				// target over target: flushes find a marked object each time.
				a, q, mode := arr, (*node)(nil), "nil"
				if k%2 == 1 {
					a, q, mode = arrQ, target, "marked"
				}
				on0 := writeBarrier.enabled
				start := time.Now()
				storePointers(a, q, chunk)
				d := time.Since(start)
				on1 := writeBarrier.enabled
				if on0 == on1 {
					key := "wb_off_" + mode
					if on0 {
						key = "wb_on_" + mode
					}
					samples[key] = append(samples[key], float64(d.Nanoseconds())/chunk)
				}
				continue
			}
			break
		}
	}
	for _, key := range []string{"wb_off_nil", "wb_off_marked", "wb_on_nil", "wb_on_marked"} {
		emit(key, median(samples[key]))
		emit(key+"_chunks", float64(len(samples[key])))
	}
	wbLive = nil
}

// -- stack: morestack / copystack ----------------------------------------------

var frameAddr [3]uintptr

//go:noinline
func recurse(d int) int {
	var buf [24]int // 192 bytes, kept in memory by the variable indexes
	buf[d%24] = d
	if d < 3 {
		frameAddr[d] = uintptr(unsafe.Pointer(&buf))
	}
	if d > 0 {
		buf[(d+1)%24] += recurse(d - 1)
	}
	return buf[(d+2)%24]
}

// twice runs recurse(depth) twice in a new goroutine and returns both times:
// the first grows the 2 KiB starting stack (each growth copies it), the
// second runs on the grown stack.
func twice(depth int) (first, second float64) {
	res := make(chan [2]time.Duration)
	go func() {
		t0 := time.Now()
		recurse(depth)
		t1 := time.Now()
		recurse(depth)
		res <- [2]time.Duration{t1.Sub(t0), time.Since(t1)}
	}()
	r := <-res
	return float64(r[0].Nanoseconds()), float64(r[1].Nanoseconds())
}

func expStack() {
	// The frame size of recurse: the distance between consecutive frames,
	// on a stack already grown (the second of two runs).
	done := make(chan struct{})
	go func() {
		recurse(64)
		recurse(64)
		close(done)
	}()
	<-done
	frame := float64(frameAddr[1] - frameAddr[0])
	if frameAddr[2]-frameAddr[1] != frameAddr[1]-frameAddr[0] {
		panic("calibrate: recurse's frames are not evenly spaced")
	}
	emit("stack_frame_bytes", frame)
	const guard = 928 // runtime.stackGuard on linux/amd64
	const below = 256 // frames under recurse: the goroutine's function, goexit
	for k := 1; k <= 9; k++ {
		size := float64(int(2048) << k) // the stack the first run ends with
		depth := int((0.75*size - guard - below) / frame)
		trials := 200
		var grow []float64
		f0 := minorFaults()
		for t := 0; t < trials; t++ {
			first, second := twice(depth)
			grow = append(grow, first-second)
		}
		emit(fmt.Sprintf("stack_grow_k%d", k), median(grow))
		emit(fmt.Sprintf("stack_grow_k%d_faults", k), float64(minorFaults()-f0)/float64(trials))
	}
}

// -- sched: newproc and gosched ----------------------------------------------

var spawned atomic.Int64

func noop() { spawned.Add(1) }

func switches(n int) {
	done := make(chan struct{})
	go func() {
		for i := 0; i < n; i++ {
			runtime.Gosched()
		}
		close(done)
	}()
	for i := 0; i < n; i++ {
		runtime.Gosched()
	}
	<-done
}

func expSched() {
	// Batches of 200 go statements: fewer than a P's run queue holds (256), so
	// none spills to the global queue; the Gs are reused from the free list.
	const batch = 200
	bestNS := math.Inf(1)
	for r := 0; r < 500; r++ {
		want := spawned.Load() + batch
		start := time.Now()
		for i := 0; i < batch; i++ {
			go noop()
		}
		d := time.Since(start)
		for spawned.Load() < want {
			runtime.Gosched()
		}
		if r >= 20 { // warmed up: Gs and their stacks on the free list
			bestNS = min(bestNS, float64(d.Nanoseconds())/batch)
		}
	}
	emit("newproc", bestNS)
	// Two goroutines that Gosched in turn: 2n switches per run.
	emit("gosched_pair", best(200_000, 5, switches).ns)
}

// -- os: the kernel's side -------------------------------------------------

func expOS() {
	const size = 64 << 20
	const page = 4096
	fault, fpp, madv := math.Inf(1), 0.0, math.Inf(1)
	for r := 0; r < 4; r++ {
		b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE,
			syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err != nil {
			panic(err)
		}
		// 4 KiB pages, as the simulated machine has (THP may be "always").
		if err := syscall.Madvise(b, syscall.MADV_NOHUGEPAGE); err != nil {
			panic(err)
		}
		f0 := minorFaults()
		start := time.Now()
		for i := 0; i < size; i += page {
			b[i] = 1 // a write: a zeroed anonymous page is mapped
		}
		d := time.Since(start)
		f1 := minorFaults()
		if ns := float64(d.Nanoseconds()) / (size / page); ns < fault {
			fault, fpp = ns, float64(f1-f0)/(size/page)
		}
		start = time.Now()
		if err := syscall.Madvise(b, syscall.MADV_DONTNEED); err != nil {
			panic(err)
		}
		madv = min(madv, float64(time.Since(start).Nanoseconds())/(size/page))
		if err := syscall.Munmap(b); err != nil {
			panic(err)
		}
	}
	emit("page_fault", fault)
	emit("page_fault_faults_per_page", fpp)
	emit("madvise_dontneed_per_page", madv)
}

// -- stw: collections of an empty heap ----------------------------------------

func expSTW() {
	// MemStats.PauseNs holds each cycle's work.pauseNS: the sum of its two
	// stop-the-world pauses (sweep termination, mark termination), each from
	// the stop request until the world runs again; gctrace prints the same
	// two pauses, but in whole microseconds.
	const cycles = 200 // PauseNs keeps the last 256
	for i := 0; i < cycles; i++ {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var pauses []float64
	for i := uint32(0); i < cycles; i++ {
		pauses = append(pauses, float64(ms.PauseNs[(ms.NumGC+255-i)%256]))
	}
	emit("gc_pause_per_cycle", median(pauses))
	// ReadMemStats: a stop-the-world pause around reading the statistics.
	emit("readmemstats", best(1000, 5, func(n int) {
		for i := 0; i < n; i++ {
			runtime.ReadMemStats(&ms)
		}
	}).ns)
}

var experiments = map[string]func(){
	"fresh": expFresh,
	"loops": expLoops,
	"alloc": expAlloc,
	"gc":    expGC,
	"wb":    expWB,
	"stack": expStack,
	"sched": expSched,
	"os":    expOS,
	"stw":   expSTW,
}

func main() {
	runtime.MemProfileRate = 0
	debug.SetGCPercent(-1)
	arr, arrQ, target = new([64]node), new([64]node), new(node)
	for i := range arrQ {
		arrQ[i].next = target
	}
	nodes := make([]*node, 64)
	for i := range nodes {
		nodes[i] = new(node)
	}
	for i := range nodes {
		nodes[i].next = nodes[(i+1)%64]
	}
	ring = nodes[0]
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: calibrate EXPERIMENT... (fresh loops alloc gc wb stack sched os stw)")
		os.Exit(2)
	}
	for _, name := range os.Args[1:] {
		f, ok := experiments[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "calibrate: unknown experiment %q\n", name)
			os.Exit(2)
		}
		start := time.Now()
		f()
		emit("seconds_"+name, time.Since(start).Seconds())
	}
}
