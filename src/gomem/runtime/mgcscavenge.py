"""Returning free heap memory to the OS: the scavenging mechanism. Models
mheap.scavengeAll and debug.FreeOSMemory's use of it, and the release step
of scavengeOne, in runtime/mgcscavenge.go (go1.24). The search for free,
unscavenged pages (pageAlloc.scavenge, the scavenge index, the huge-page
aware candidate search) is in mpagealloc. See docs/ARCHITECTURE.md.

Scavenging a run of free pages marks them allocated for the moment (so no
allocation takes them), releases them with sysUnused, which on Linux is
madvise(MADV_DONTNEED), frees them again and sets their scavenged bits.
The process's RSS falls by the pages that were resident, HeapReleased
rises and HeapFree falls by the same bytes. When the pages are allocated
again, allocSpan makes them Ready (sysUsed) and counts them back, and the
first touch of each OS page faults in a zeroed frame.

The goals (gcPaceScavenger, at every gcControllerCommit): keep the
retained heap (HeapInuse + HeapFree) within 10% over what the next heap
goal implies -- lastHeapInUse x heapGoal / lastHeapGoal, plus 10%,
rounded up to a page -- and total mapped memory under 95% of the memory
limit. The collector's background scavenger works toward them at 1% of
one CPU (Collector._bgscavenge); allocSpan scavenges at once when an
allocation would pass the memory limit or the retention goal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gomem.runtime.mem_linux import PHYS_PAGE_SIZE
from gomem.runtime.mgcpacer import MAX_UINT64, f2u64

if TYPE_CHECKING:
    from gomem.runtime.mgcpacer import GCControllerState
    from gomem.runtime.runtime import Runtime

RETAIN_EXTRA_PERCENT = 10  # retainExtraPercent: kept over the heap goal's share
REDUCE_EXTRA_PERCENT = 5  # reduceExtraPercent: kept under the memory limit


def gc_pace_scavenger(
    ctl: GCControllerState, heap_goal: int, last_heap_goal: int, last_heap_in_use: int
) -> None:
    """gcPaceScavenger: set the scavenger's two goals on ctl."""
    limit_goal = f2u64(float(ctl.memory_limit) * (1 - REDUCE_EXTRA_PERCENT / 100.0))
    if ctl.mapped_ready <= limit_goal:
        ctl.scavenge_memory_limit_goal = MAX_UINT64
    else:
        ctl.scavenge_memory_limit_goal = limit_goal
    if last_heap_goal == 0:  # before the first cycle ended: no GOGC-based goal
        ctl.scavenge_gc_percent_goal = MAX_UINT64
        return
    goal_ratio = float(heap_goal) / float(last_heap_goal)
    goal = f2u64(float(last_heap_in_use) * goal_ratio)
    # goal / (1.0 / (retainExtraPercent / 100.0)): Go's exact constant arithmetic
    # makes the divisor the integer 10, so this is an integer division.
    goal += goal // (100 // RETAIN_EXTRA_PERCENT)
    goal = (goal + PHYS_PAGE_SIZE - 1) & ~(PHYS_PAGE_SIZE - 1)
    retained = ctl.heap_in_use.nbytes + ctl.heap_free.nbytes
    if retained <= goal or retained - goal < PHYS_PAGE_SIZE:
        ctl.scavenge_gc_percent_goal = MAX_UINT64
    else:
        ctl.scavenge_gc_percent_goal = goal


def scavenge(rt: Runtime, nbytes: int) -> int:
    """Release up to nbytes (rounded up to whole runs) of free pages; bytes released."""
    if nbytes <= 0:
        return 0
    return rt.heap.pages.scavenge(nbytes, force=True)


def free_os_memory(rt: Runtime) -> int:
    """debug.FreeOSMemory, without the collection Go runs first: scavengeAll."""
    return rt.heap.pages.scavenge((1 << 64) - 1, force=True)
