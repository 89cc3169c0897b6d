// Prints this process's /proc/self/maps, a line "--", then /proc/self/status.
// Built by tests/oracle/test_layout_matches_go.py to compare the model's
// process layout with a real Go binary's.
package main

import (
	"fmt"
	"os"
)

func main() {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		panic(err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		panic(err)
	}
	fmt.Print(string(maps))
	fmt.Println("--")
	fmt.Print(string(status))
}
