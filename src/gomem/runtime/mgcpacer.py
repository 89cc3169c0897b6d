"""The collector's controller: its memory accounting. Models the heap
accounting fields of gcControllerState in runtime/mgcpacer.go (go1.24).
See docs/ARCHITECTURE.md.

gcControllerState is where Go keeps the figures the pacer steers by. The
allocator keeps them current: every span taken from or given back to the
page heap moves bytes between heapInUse, heapFree and heapReleased (the
three add up to HeapSys), every mcache refill and flush moves heapLive and
heapScan, and totalAlloc/totalFree count bytes ever allocated and freed.

Simplified: this issue has no collector, so only the accounting is here;
the pacing arithmetic (heap goal, trigger, assist ratio, workers) is added
by the pacer. `memory_limit` and `scavenge_gc_percent_goal` hold the values
Go has before the first cycle: no limit (math.MaxInt64) and no
GOGC-based scavenging (^uint64(0)).
"""

from __future__ import annotations

from gomem.runtime.mem_linux import SysMemStat

MAX_INT64 = (1 << 63) - 1
MAX_UINT64 = (1 << 64) - 1


class GCControllerState:
    """gcController's memory figures, all in bytes."""

    def __init__(self) -> None:
        # heap_in_use + heap_free + heap_released == HeapSys, always.
        self.heap_in_use = SysMemStat("HeapInuse")  # pages of in-use heap spans
        self.heap_free = SysMemStat("HeapFree")  # free pages still backed by the OS
        self.heap_released = SysMemStat("HeapReleased")  # free pages returned to the OS
        self.total_alloc = 0  # bytes ever allocated, counted when an mcache lets go of a span
        self.total_free = 0  # bytes ever freed (by sweeping, here by free_object)
        self.heap_live = 0  # bytes of spans handed to mcaches minus their free slots
        self.heap_scan = 0  # bytes of allocated objects the collector would scan
        self.memory_limit = MAX_INT64  # GOMEMLIMIT; the pacer sets it
        self.scavenge_gc_percent_goal = MAX_UINT64  # scavenge.gcPercentGoal; the pacer sets it

    def update(self, d_heap_live: int, d_heap_scan: int) -> None:
        """gcControllerState.update: the allocator reports heap growth."""
        self.heap_live += d_heap_live
        self.heap_scan += d_heap_scan
