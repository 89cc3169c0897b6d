// Prints the sizes of runtime records (from this binary's own DWARF), one
// "name size" line each. Built by tests/oracle/test_runtime_records_match_go.py.
package main

import (
	"debug/dwarf"
	"debug/elf"
	"fmt"
	"os"
)

func main() {
	f, err := elf.Open(os.Args[0])
	if err != nil {
		panic(err)
	}
	d, err := f.DWARF()
	if err != nil {
		panic(err)
	}
	r := d.Reader()
	want := map[string]bool{"runtime.g": true, "runtime.sudog": true, "runtime.mspan": true, "runtime.mcache": true, "runtime.heapArena": true, "runtime.m": true, "runtime.p": true}
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag == dwarf.TagStructType {
			name, _ := e.Val(dwarf.AttrName).(string)
			if want[name] {
				fmt.Println(name, e.Val(dwarf.AttrByteSize))
			}
		}
	}
}
