"""The collector's controller. Models gcControllerState's interface and
heap accounting in runtime/mgcpacer.go (go1.24), with a plain controller
behind Go's call points. See docs/ARCHITECTURE.md.

The seam, as Go's collector uses it. The collector *asks*: trigger()
(the heap_live at which an allocation starts a cycle), heap_goal(),
workers() (dedicated mark workers and the fractional share) and
assist_work_per_byte. It *tells*: start_cycle(now, procs) when mark
begins, revise() as heap_live and the scan work change during mark,
update() on every mcache refill and flush, end_cycle(heap_marked, ...)
at mark termination, and commit() when GOGC changes. The plain
controller here: goal = heap marked x (1 + GOGC/100), at least 4 MiB x
GOGC/100; trigger at 45/64 of the way from heap marked to the goal (Go's
lower bound for it); 25% background utilisation as GOMAXPROCS/4
dedicated workers rounded, the rest fractional; assist work per byte =
scan work left / heap left before the goal. Go's own pacer (the issue
after the collector) replaces the arithmetic behind the same calls.

gcControllerState is where Go keeps the figures the pacer steers by. The
allocator keeps them current: every span taken from or given back to the
page heap moves bytes between heapInUse, heapFree and heapReleased (the
three add up to HeapSys), every mcache refill and flush moves heapLive and
heapScan, and totalAlloc/totalFree count bytes ever allocated and freed.

Simplified: `memory_limit` and `scavenge_gc_percent_goal` hold the
values Go has before the first cycle: no limit (math.MaxInt64) and no
GOGC-based scavenging (^uint64(0)).
"""

from __future__ import annotations

from gomem.runtime.mem_linux import SysMemStat

MAX_INT64 = (1 << 63) - 1
MAX_UINT64 = (1 << 64) - 1
HEAP_MINIMUM = 4 << 20  # defaultHeapMinimum: the goal's floor at GOGC=100
TRIGGER_NUM, TRIGGER_DEN = 45, 64  # the plain controller's trigger: 45/64 of the runway
BACKGROUND_UTILIZATION = 0.25  # gcBackgroundUtilization


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

        self.gc_percent = 100  # GOGC; negative: off
        self.heap_marked = 0  # bytes marked by the last cycle
        self.last_heap_goal = 0  # the goal of the last cycle (gctrace prints it)
        self.trigger_bytes = self._trigger()  # cached trigger(); commit() refreshes it
        self.assist_work_per_byte = 0.0  # scan work to do per byte allocated during mark
        self.cycle_start_ns = 0  # when the current cycle's mark began

    def update(self, d_heap_live: int, d_heap_scan: int) -> None:
        """gcControllerState.update: the allocator reports heap growth."""
        self.heap_live += d_heap_live
        self.heap_scan += d_heap_scan

    # -- the collector asks --------------------------------------------------

    def heap_goal(self) -> int:
        """heapGoal: heap marked x (1 + GOGC/100), at least 4 MiB x GOGC/100."""
        if self.gc_percent < 0:
            return MAX_UINT64
        goal = self.heap_marked + self.heap_marked * self.gc_percent // 100
        return max(goal, HEAP_MINIMUM * self.gc_percent // 100)

    def _trigger(self) -> int:
        if self.gc_percent < 0:
            return MAX_UINT64
        goal = self.heap_goal()
        return self.heap_marked + (goal - self.heap_marked) * TRIGGER_NUM // TRIGGER_DEN

    def trigger(self) -> int:
        """trigger: the heap_live at which an allocation starts a cycle."""
        return self.trigger_bytes

    def workers(self, procs: int) -> tuple[int, float]:
        """(dedicated mark workers, fractional utilisation) for 25% of procs."""
        goal = procs * BACKGROUND_UTILIZATION
        dedicated = int(goal + 0.5)
        if abs(goal - dedicated) / goal > 0.3:  # rounding is too far off: Go goes fractional
            dedicated = int(goal)
        return dedicated, max(goal - dedicated, 0.0) / procs

    # -- the collector tells ---------------------------------------------------

    def commit(self) -> None:
        """commit: recompute the goal and trigger after a setting or the heap changed."""
        self.trigger_bytes = self._trigger()

    def set_gc_percent(self, percent: int) -> None:
        """debug.SetGCPercent / GOGC."""
        self.gc_percent = percent
        self.commit()

    def start_cycle(self, now_ns: int, procs: int) -> None:
        """startCycle: mark begins."""
        del procs  # the plain controller's workers do not depend on the cycle
        self.cycle_start_ns = now_ns
        self.last_heap_goal = self.heap_goal()
        self.revise()

    def revise(self) -> None:
        """revise: assist work per byte = scan work left / heap left before the goal."""
        left = self.last_heap_goal - self.heap_live
        self.assist_work_per_byte = self.heap_scan / left if left > 0 else float(self.heap_scan)

    def end_cycle(self, heap_marked: int) -> None:
        """endCycle + resetLive: the cycle marked heap_marked bytes."""
        self.heap_marked = heap_marked
        self.heap_live = heap_marked
        self.commit()
