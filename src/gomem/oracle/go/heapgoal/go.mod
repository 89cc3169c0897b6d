module heapgoal

go 1.24
