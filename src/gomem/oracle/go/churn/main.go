// Command churn is the reference program of the what-if accuracy check: a
// steady live heap of fixed-size objects, churned at full speed. Built and
// run by gomem.oracle.churn (see there).
//
//	churn -live BYTES [-total BYTES] [-kind ptr64|noscan1k] [-sample BYTES]
//
// GOGC, GOMEMLIMIT and GOMAXPROCS come from the environment; with
// GODEBUG=gctrace=1 the runtime writes its gctrace lines to stderr.
//
// The live heap is a ring: a slice of LIVE/SIZE pointers (the slots), each
// to one object of SIZE bytes. The program first fills every slot (the fill
// phase), then allocates one object at a time and stores it in the next slot
// round robin, which drops the object that was there (the churn phase),
// until TOTAL bytes have been allocated in both phases together. Kinds:
//
//	ptr64     struct{ self *node; pad [56]byte }: exactly 64 bytes (size
//	          class 64), one pointer word, so its span is scanned; the
//	          pointer points at the object itself, so that marking follows a
//	          real pointer but no dropped object is kept alive through it
//	noscan1k  [1024]byte: size class 1024, pointer-free, never scanned; its
//	          first byte is written, as a program that uses its objects
//	          would, so that its page is resident (the runtime does not zero
//	          memory fresh from the OS, and untouched it would not count in
//	          the RSS)
//
// The ring slice itself is live heap too: SLOTS x 8 bytes ("ring_bytes"),
// one large pointerful object (1/8 of LIVE for ptr64, 1/128 for noscan1k).
//
// Output: one JSON object on stdout (see gomem.oracle.churn for the fields).
// The peak heap is sampled: every SAMPLE bytes allocated (default 1 MiB) the
// program reads /memory/classes/heap/objects:bytes (MemStats.HeapAlloc) and
// keeps the largest value seen; a peak between two samples is missed by at
// most SAMPLE bytes of allocation. The read does not allocate.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

type node struct {
	self *node
	pad  [56]byte
}

type block [1024]byte

// Compile-time checks: both kinds are exactly their size class.
var (
	_ [unsafe.Sizeof(node{}) - 64]struct{}
	_ [64 - unsafe.Sizeof(node{})]struct{}
	_ [unsafe.Sizeof(block{}) - 1024]struct{}
	_ [1024 - unsafe.Sizeof(block{})]struct{}
)

// The ring, global so that every allocation escapes to the heap.
var (
	nodes  []*node
	blocks []*block
)

// Metrics read at the end (and at the end of the fill phase).
var names = []string{
	"/gc/cycles/total:gc-cycles",
	"/gc/cycles/forced:gc-cycles",
	"/gc/heap/goal:bytes",
	"/gc/heap/live:bytes",
	"/gc/heap/allocs:bytes",
	"/gc/gogc:percent",
	"/gc/gomemlimit:bytes",
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
	"/sched/gomaxprocs:threads",
	// Where the memory is at the end (the memory limit sees all of it).
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/metadata/mspan/inuse:bytes",
	"/memory/classes/metadata/mspan/free:bytes",
	"/memory/classes/metadata/mcache/inuse:bytes",
	"/memory/classes/metadata/mcache/free:bytes",
	"/memory/classes/metadata/other:bytes",
	"/memory/classes/os-stacks:bytes",
	"/memory/classes/other:bytes",
	"/memory/classes/profiling/buckets:bytes",
	"/memory/classes/total:bytes",
	// Where the CPU went (each class up to the last mark termination, as the total).
	"/cpu/classes/gc/mark/assist:cpu-seconds",
	"/cpu/classes/gc/mark/dedicated:cpu-seconds",
	"/cpu/classes/gc/mark/idle:cpu-seconds",
	"/cpu/classes/gc/pause:cpu-seconds",
	"/cpu/classes/scavenge/assist:cpu-seconds",
	"/cpu/classes/scavenge/background:cpu-seconds",
	"/cpu/classes/idle:cpu-seconds",
	"/cpu/classes/user:cpu-seconds",
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "churn: "+format+"\n", args...)
	os.Exit(2)
}

// peak samples the heap's object bytes every `every` bytes allocated.
type peak struct {
	every, since uint64
	sample       []metrics.Sample
	max, count   uint64
}

func newPeak(every uint64) *peak {
	p := &peak{every: every, sample: []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}}
	p.read()
	return p
}

func (p *peak) read() {
	metrics.Read(p.sample)
	p.count++
	if v := p.sample[0].Value.Uint64(); v > p.max {
		p.max = v
	}
}

func (p *peak) alloc(bytes uint64) {
	p.since += bytes
	if p.since >= p.every {
		p.since = 0
		p.read()
	}
}

// procStatus returns the named fields of /proc/self/status ("VmRSS" ...) in bytes.
func procStatus(fields ...string) map[string]uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fail("%v", err)
	}
	out := map[string]uint64{}
	for _, line := range strings.Split(string(data), "\n") {
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		for _, f := range fields {
			if key == f {
				kb := strings.TrimSuffix(strings.TrimSpace(rest), " kB")
				n, err := strconv.ParseUint(kb, 10, 64)
				if err != nil {
					fail("/proc/self/status %s: %q", key, rest)
				}
				out[f] = n << 10
			}
		}
	}
	for _, f := range fields {
		if _, ok := out[f]; !ok {
			fail("/proc/self/status has no %s", f)
		}
	}
	return out
}

// values reads the samples; every metric in names is a uint64 or a float64.
func values(samples []metrics.Sample) map[string]metrics.Value {
	metrics.Read(samples)
	out := map[string]metrics.Value{}
	for _, s := range samples {
		if k := s.Value.Kind(); k != metrics.KindUint64 && k != metrics.KindFloat64 {
			fail("metric %s is not supported by this Go", s.Name)
		}
		out[s.Name] = s.Value
	}
	return out
}

// classes: the metrics read at the end whose names start with prefix, by name,
// each read with value (the /memory/classes/ are uint64, the /cpu/classes/ float64).
func classes[T any](final map[string]metrics.Value, prefix string, value func(metrics.Value) T) map[string]T {
	out := map[string]T{}
	for name, v := range final {
		if strings.HasPrefix(name, prefix) {
			out[name] = value(v)
		}
	}
	return out
}

func main() {
	live := flag.Uint64("live", 64<<20, "bytes of live objects in the ring")
	total := flag.Uint64("total", 2<<30, "bytes to allocate in all, the fill included")
	kind := flag.String("kind", "ptr64", "object kind: ptr64 or noscan1k")
	every := flag.Uint64("sample", 1<<20, "sample the heap every this many bytes allocated")
	flag.Parse()
	if flag.NArg() != 0 {
		fail("unexpected arguments %q", flag.Args())
	}
	var size uint64
	switch *kind {
	case "ptr64":
		size = uint64(unsafe.Sizeof(node{}))
	case "noscan1k":
		size = uint64(unsafe.Sizeof(block{}))
	default:
		fail("-kind %q: must be ptr64 or noscan1k", *kind)
	}
	slots := *live / size
	if slots == 0 || *total < slots*size || *every == 0 {
		fail("need -live >= %d (the object size), -total >= -live, -sample > 0", size)
	}
	allocs := *total / size // fill + churn

	samples := make([]metrics.Sample, len(names))
	for i, name := range names {
		samples[i].Name = name
	}
	values(samples) // the first Read builds the runtime's metric table (allocates)
	p := newPeak(*every)

	var fillDone, end time.Time
	start := time.Now()
	var atFill map[string]metrics.Value
	switch *kind {
	case "ptr64":
		nodes = make([]*node, slots)
		for i := range nodes {
			n := new(node)
			n.self = n
			nodes[i] = n
			p.alloc(size)
		}
		fillDone = time.Now()
		atFill = values(samples)
		for i := slots; i < allocs; i++ {
			n := new(node)
			n.self = n
			nodes[i%slots] = n
			p.alloc(size)
		}
	case "noscan1k":
		blocks = make([]*block, slots)
		for i := range blocks {
			b := new(block)
			b[0] = 1
			blocks[i] = b
			p.alloc(size)
		}
		fillDone = time.Now()
		atFill = values(samples)
		for i := slots; i < allocs; i++ {
			b := new(block)
			b[0] = 1
			blocks[i%slots] = b
			p.alloc(size)
		}
	}
	end = time.Now()
	p.read()
	final := values(samples)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	status := procStatus("VmRSS", "VmHWM")
	runtime.KeepAlive(nodes)
	runtime.KeepAlive(blocks)

	u := func(name string) uint64 { return final[name].Uint64() }
	gcCPU := final["/cpu/classes/gc/total:cpu-seconds"].Float64()
	allCPU := final["/cpu/classes/total:cpu-seconds"].Float64()
	fraction := 0.0
	if allCPU > 0 {
		fraction = gcCPU / allCPU
	}
	out := map[string]any{
		"go_version":               runtime.Version(),
		"kind":                     *kind,
		"object_size":              size,
		"live":                     *live,
		"total":                    *total,
		"slots":                    slots,
		"ring_bytes":               slots * 8,
		"allocated":                allocs * size,
		"fill_seconds":             fillDone.Sub(start).Seconds(),
		"churn_seconds":            end.Sub(fillDone).Seconds(),
		"gc_cycles":                u("/gc/cycles/total:gc-cycles"),
		"gc_cycles_fill":           atFill["/gc/cycles/total:gc-cycles"].Uint64(),
		"gc_cycles_forced":         u("/gc/cycles/forced:gc-cycles"),
		"heap_goal":                u("/gc/heap/goal:bytes"),
		"heap_live":                u("/gc/heap/live:bytes"),
		"heap_allocs":              u("/gc/heap/allocs:bytes"),
		"peak_heap":                p.max,
		"peak_heap_samples":        p.count,
		"rss":                      status["VmRSS"],
		"rss_peak":                 status["VmHWM"],
		"gc_cpu_seconds":           gcCPU,
		"total_cpu_seconds":        allCPU,
		"gc_cpu_fraction":          fraction,
		"memstats_gc_cpu_fraction": ms.GCCPUFraction,
		"gomaxprocs":               runtime.GOMAXPROCS(0),
		"gogc":                     int64(u("/gc/gogc:percent")), // 2^64-1 (off) reads -1
		"gomemlimit":               u("/gc/gomemlimit:bytes"),
		"memory_classes":           classes(final, "/memory/classes/", metrics.Value.Uint64),
		"cpu_classes":              classes(final, "/cpu/classes/", metrics.Value.Float64),
	}
	line, err := json.Marshal(out)
	if err != nil {
		fail("%v", err)
	}
	fmt.Println(string(line))
}
