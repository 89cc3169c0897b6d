// Prints, for a table of types, what the runtime's type descriptor says:
// name, size, alignment, PtrBytes and the pointer bitmask (one bit per word,
// lowest word first, as a binary string). Built by tests/runtime/test_type.py.
//
// The descriptor is read through an interface value: its first word points
// at the type, whose leading fields are laid out as internal/abi.Type's.
package main

import (
	"fmt"
	"unsafe"
)

type abiType struct {
	Size       uintptr
	PtrBytes   uintptr
	Hash       uint32
	TFlag      uint8
	Align      uint8
	FieldAlign uint8
	Kind       uint8
	Equal      unsafe.Pointer
	GCData     *byte
}

const tflagGCMaskOnDemand = 1 << 4

type eface struct {
	typ  *abiType
	data unsafe.Pointer
}

func show(name string, x any) {
	t := (*eface)(unsafe.Pointer(&x)).typ
	mask := "-"
	if t.PtrBytes > 0 && t.TFlag&tflagGCMaskOnDemand == 0 {
		mask = ""
		for w := uintptr(0); w < t.PtrBytes/8; w++ {
			b := *(*byte)(unsafe.Add(unsafe.Pointer(t.GCData), w/8))
			mask += fmt.Sprint((b >> (w % 8)) & 1)
		}
	}
	fmt.Printf("%s %d %d %d %s\n", name, t.Size, t.Align, t.PtrBytes, mask)
}

type node struct {
	left, right *node
	key         int
	val         string
}

type mixed struct {
	a byte
	b int64
	c byte
}

type tail struct {
	n int32
	z struct{}
}

type record struct {
	id    int
	name  string
	tags  []string
	extra any
	score float64
}

func main() {
	show("bool", false)
	show("int", 0)
	show("string", "")
	show("slice_int", []int(nil))
	show("struct_any", struct{ e any }{})
	show("ptr_int", (*int)(nil))
	show("map_int_int", map[int]int(nil))
	show("node", node{})
	show("mixed", mixed{})
	show("tail", tail{})
	show("record", record{})
	show("array4_ptr", [4]*int{})
	show("array3_string", [3]string{})
	show("array2_node", [2]node{})
	show("array5_int", [5]int{})
}
