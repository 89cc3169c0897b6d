// Command allocstats measures what COUNT allocations of one shape and size do
// to runtime.MemStats. Built and run by gomem.oracle.allocstats (see there).
//
//	allocstats SHAPE SIZE COUNT
//
// SHAPE is the object's pointer layout, built at run time with reflect so
// that SIZE is not a compile-time constant:
//
//	noscan    [SIZE]byte                             PtrBytes 0
//	ptrfirst  struct{ P *byte; Pad [SIZE-8]byte }    PtrBytes 8
//	allptr    [SIZE/8]*byte                          PtrBytes SIZE
//	ptrlast   struct{ Pad [SIZE-8]byte; P *byte }    PtrBytes SIZE
//
// The measured window holds nothing but the COUNT reflect.New calls and
// stores of their pointers into a slice made beforehand: the type, its
// pointer type (reflect caches *T on the first New), the slice and the
// MemStats records (globals) all exist before the baseline. The runner sets
// GOGC=off and GOMAXPROCS=1; main sets them again to be safe.
//
// Output: one JSON line, the inputs, the type's Size and PtrBytes as its
// runtime type descriptor (internal/abi.Type) has them, the deltas of the
// MemStats totals, and the BySize classes whose counts moved.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"strconv"
	"unsafe"
)

// abiType is the head of internal/abi.Type, which reflect's *rtype points at.
type abiType struct {
	Size     uintptr
	PtrBytes uintptr
}

// The two readings are globals so that taking their address allocates nothing.
var before, after runtime.MemStats

type sizeClass struct {
	Size    uint32
	Mallocs int64
	Frees   int64
}

type result struct {
	Shape        string  `json:"shape"`
	Size         int     `json:"size"`
	Count        int     `json:"count"`
	TypeSize     uintptr `json:"type_size"` // abi.Type.Size_ of the object's type
	PtrBytes     uintptr `json:"ptr_bytes"` // abi.Type.PtrBytes: prefix holding pointers
	HeapAlloc    int64
	HeapObjects  int64
	HeapInuse    int64
	HeapSys      int64
	HeapIdle     int64
	HeapReleased int64
	Mallocs      int64
	Frees        int64
	TotalAlloc   int64
	Sys          int64
	BySize       []sizeClass
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "allocstats: "+format+"\n", args...)
	os.Exit(2)
}

var (
	bytePtr = reflect.TypeOf((*byte)(nil))
	byteTyp = reflect.TypeOf(byte(0))
)

func pad(n int) reflect.StructField {
	return reflect.StructField{Name: "Pad", Type: reflect.ArrayOf(n, byteTyp)}
}

func ptr() reflect.StructField {
	return reflect.StructField{Name: "P", Type: bytePtr}
}

// shapeType builds the type of one object; size is checked by the caller.
func shapeType(shape string, size int) reflect.Type {
	switch shape {
	case "noscan":
		return reflect.ArrayOf(size, byteTyp)
	case "allptr":
		return reflect.ArrayOf(size/8, bytePtr)
	case "ptrfirst", "ptrlast":
		if size == 8 {
			// A zero-size trailing field would gain a byte of padding.
			return reflect.StructOf([]reflect.StructField{ptr()})
		}
		if shape == "ptrfirst" {
			return reflect.StructOf([]reflect.StructField{ptr(), pad(size - 8)})
		}
		return reflect.StructOf([]reflect.StructField{pad(size - 8), ptr()})
	}
	fail("unknown shape %q (noscan, ptrfirst, allptr, ptrlast)", shape)
	return nil
}

func descriptor(t reflect.Type) *abiType {
	// An interface's second word is its data: here the *rtype, an abi.Type.
	return (*abiType)((*[2]unsafe.Pointer)(unsafe.Pointer(&t))[1])
}

func atoi(name, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		fail("%s must be a positive integer, not %q", name, s)
	}
	return n
}

func main() {
	runtime.MemProfileRate = 0 // no heap profile buckets: they would move Sys
	debug.SetGCPercent(-1)
	runtime.GOMAXPROCS(1)
	if len(os.Args) != 4 {
		fail("usage: allocstats SHAPE SIZE COUNT")
	}
	shape := os.Args[1]
	size := atoi("SIZE", os.Args[2])
	count := atoi("COUNT", os.Args[3])
	if shape != "noscan" && size%8 != 0 {
		fail("SIZE of a %s object must be a multiple of 8, not %d", shape, size)
	}
	t := shapeType(shape, size)
	d := descriptor(t)
	if int(d.Size) != size {
		fail("built a %s type of %d bytes, wanted %d", shape, d.Size, size)
	}

	keep := make([]unsafe.Pointer, count)
	keep[0] = reflect.New(t).UnsafePointer() // warm-up: reflect caches the type *T
	keep[0] = nil
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range keep {
		keep[i] = reflect.New(t).UnsafePointer()
	}
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)

	r := result{
		Shape:        shape,
		Size:         size,
		Count:        count,
		TypeSize:     d.Size,
		PtrBytes:     d.PtrBytes,
		HeapAlloc:    int64(after.HeapAlloc - before.HeapAlloc),
		HeapObjects:  int64(after.HeapObjects - before.HeapObjects),
		HeapInuse:    int64(after.HeapInuse - before.HeapInuse),
		HeapSys:      int64(after.HeapSys - before.HeapSys),
		HeapIdle:     int64(after.HeapIdle - before.HeapIdle),
		HeapReleased: int64(after.HeapReleased - before.HeapReleased),
		Mallocs:      int64(after.Mallocs - before.Mallocs),
		Frees:        int64(after.Frees - before.Frees),
		TotalAlloc:   int64(after.TotalAlloc - before.TotalAlloc),
		Sys:          int64(after.Sys - before.Sys),
		BySize:       []sizeClass{},
	}
	for i := range after.BySize {
		a, b := after.BySize[i], before.BySize[i]
		if a.Mallocs != b.Mallocs || a.Frees != b.Frees {
			r.BySize = append(r.BySize, sizeClass{
				a.Size, int64(a.Mallocs - b.Mallocs), int64(a.Frees - b.Frees),
			})
		}
	}
	out, err := json.Marshal(r)
	if err != nil {
		fail("%v", err)
	}
	fmt.Println(string(out))
}
