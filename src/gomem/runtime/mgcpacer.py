"""The collector's controller. Models gcControllerState's interface and
heap accounting in runtime/mgcpacer.go (go1.24), with a plain controller
behind Go's call points. See docs/ARCHITECTURE.md.

The seam, as Go's collector uses it. The collector *asks*: trigger()
(the heap_live at which an allocation starts a cycle), heap_goal(),
workers() (dedicated mark workers and the fractional share) and
assist_work_per_byte. It *tells*: start_cycle(now, procs) when mark
begins, revise() as heap_live and the scan work change during mark,
update() on every mcache refill and flush, mark_worker_stop(mode, ns)
when a worker stops (and assist_time as assists run), end_cycle(heap_marked, ...)
at mark termination, and commit() when GOGC changes. The plain
controller here: goal = heap marked x (1 + GOGC/100), at least 4 MiB x
GOGC/100; trigger at 45/64 of the way from heap marked to the goal (Go's
lower bound for it); 25% background utilisation as GOMAXPROCS/4
dedicated workers rounded, with a fractional worker when rounding is
more than 30% off (Go's startCycle rule), idle workers on at most
GOMAXPROCS - dedicated idle Ps; assist work per byte =
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
        self.cycle_start_ns = 0  # markStartTime: when the current cycle's mark began
        self.marking = False  # gcBlackenEnabled: between start_cycle and end_cycle
        self.last_cycle: dict[str, int] = {}  # what end_cycle was told about the last cycle
        # The mark workers of the current cycle (startCycle sets them).
        self.dedicated_mark_workers_needed = 0  # dedicated workers not yet running
        self.fractional_utilization_goal = 0.0  # per P, for the fractional worker
        self.idle_mark_workers = 0  # idle workers running now
        self.max_idle_mark_workers = 0
        # This cycle's mark time by kind, in ns (gctrace's cpu column; the pacer's input).
        self.assist_time = 0
        self.dedicated_mark_time = 0
        self.fractional_mark_time = 0
        self.idle_mark_time = 0

    def update(self, d_heap_live: int, d_heap_scan: int) -> None:
        """gcControllerState.update: the allocator reports heap growth. During mark
        heap_scan stays as the cycle began and the assist ratio is revised instead."""
        self.heap_live += d_heap_live
        if self.marking:
            self.revise()
        else:
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
        """(dedicated mark workers, fractional utilisation goal per P) for 25% of
        procs: round to the nearest count of whole Ps; if that is more than 30%
        off the goal (GOMAXPROCS 1, 2, 3 and 6), round down and make up the rest
        with a fractional worker."""
        goal = procs * BACKGROUND_UTILIZATION
        dedicated = int(goal + 0.5)
        util_error = dedicated / goal - 1
        if util_error < -0.3 or util_error > 0.3:
            if dedicated > goal:
                dedicated -= 1
            return dedicated, (goal - dedicated) / procs
        return dedicated, 0.0

    def add_idle_mark_worker(self) -> bool:
        """addIdleMarkWorker: may one more idle P run an idle mark worker?"""
        if self.idle_mark_workers >= self.max_idle_mark_workers:
            return False
        self.idle_mark_workers += 1
        return True

    def mark_worker_stop(self, mode: str, duration_ns: int) -> None:
        """markWorkerStop: a worker of this mode ran duration_ns and stopped."""
        if mode == "dedicated":
            self.dedicated_mark_time += duration_ns
            self.dedicated_mark_workers_needed += 1
        elif mode == "fractional":
            self.fractional_mark_time += duration_ns
        else:
            self.idle_mark_time += duration_ns
            self.idle_mark_workers -= 1

    # -- the collector tells ---------------------------------------------------

    def commit(self) -> None:
        """commit: recompute the goal and trigger after a setting or the heap changed."""
        self.trigger_bytes = self._trigger()

    def set_gc_percent(self, percent: int) -> None:
        """debug.SetGCPercent / GOGC."""
        self.gc_percent = percent
        self.commit()

    def start_cycle(self, now_ns: int, procs: int, *, periodic: bool = False) -> None:
        """startCycle: mark begins; choose this cycle's mark workers."""
        self.cycle_start_ns = now_ns
        self.assist_time = self.dedicated_mark_time = 0
        self.fractional_mark_time = self.idle_mark_time = 0
        dedicated, self.fractional_utilization_goal = self.workers(procs)
        self.dedicated_mark_workers_needed = dedicated
        self.idle_mark_workers = 0
        if periodic:  # a 2-minute GC: idle Ps mark only if nothing else would
            self.max_idle_mark_workers = 0 if dedicated > 0 else 1
        else:
            self.max_idle_mark_workers = procs - dedicated
        self.last_heap_goal = self.heap_goal()
        self.marking = True
        self.revise()

    def revise(self) -> None:
        """revise: assist work per byte = scan work left / heap left before the goal."""
        left = self.last_heap_goal - self.heap_live
        self.assist_work_per_byte = self.heap_scan / left if left > 0 else float(self.heap_scan)

    def end_cycle(
        self, heap_marked: int, now_ns: int = 0, procs: int = 1, scan_work: int = 0
    ) -> None:
        """endCycle + resetLive: the cycle marked heap_marked bytes and did scan_work
        bytes of scan work (the next cycle's heap_scan estimate), ending at now_ns
        on procs Ps. The plain controller keeps the times for the record only; Go's
        pacer derives its cons/mark ratio from them."""
        self.marking = False
        self.last_cycle = {
            "mark_ns": now_ns - self.cycle_start_ns,
            "procs": procs,
            "assist_ns": self.assist_time,
            "worker_ns": self.dedicated_mark_time + self.fractional_mark_time,
            "idle_ns": self.idle_mark_time,
        }
        self.heap_marked = heap_marked
        self.heap_live = heap_marked
        self.heap_scan = scan_work
        self.commit()
