"""The GC CPU limiter. Models gcCPULimiterState of runtime/mgclimit.go
(go1.24). See docs/ARCHITECTURE.md.

A leaky bucket of CPU time: over each window since the last update, GC
time (assists, plus 25% of all CPU while the collector runs) fills it and
mutator time drains it. Capacity is one CPU-second per P. When the bucket
is full the limiter is *on*: assists stop (the heap may then overshoot its
goal rather than spending more than about half the CPU in the collector,
the death spiral a tight memory limit would cause), and the memory-limit
scavenging stands back. It turns off as soon as mutator time drains any
of it. Updates happen at the collector's transitions (cycle start, mark
termination), when a P looks for a mark worker at most every 10 ms, and
after assists.

Simplified: Go's per-P event stamps (an assist or idle period in progress
is counted up to now at each update) are folded into the pools at the end
of each assist or idle mark worker; idle time of idle Ps is not counted
(the model's Ps have no idle clock), only idle marking.
"""

from __future__ import annotations

from collections.abc import Callable

from gomem.runtime.mgcpacer import BACKGROUND_UTILIZATION, f2i64, u64

CAPACITY_PER_PROC = 1_000_000_000  # capacityPerProc: 1 CPU-second per P
UPDATE_PERIOD = 10_000_000  # gcCPULimiterUpdatePeriod: 10 ms


class GCCPULimiterState:
    """gcCPULimiter: the bucket, its pools of time, and whether it is on."""

    def __init__(self, numgc: Callable[[], int] = lambda: 0) -> None:
        self.enabled = False  # limiting(): the bucket is full
        self.gc_enabled = False  # the collector is running (between transitions)
        self.transitioning = False
        self.fill = 0
        self.capacity = 0
        self.overflow = 0  # GC time that did not fit in the bucket, ever
        self.assist_time_pool = 0
        self.idle_time_pool = 0
        self.last_update = 0
        self.last_enabled_cycle = 0  # the GC cycle during which it last turned on
        self.nprocs = 0
        self.numgc = numgc  # memstats.numgc

    def limiting(self) -> bool:
        return self.enabled

    def start_gc_transition(self, enable_gc: bool, now: int) -> None:
        """startGCTransition: account the window up to now in the old state."""
        if self.gc_enabled == enable_gc:
            raise ValueError("transitioning GC to the same state as before")
        self._update_locked(now)
        self.gc_enabled = enable_gc
        self.transitioning = True

    def finish_gc_transition(self, now: int) -> None:
        """finishGCTransition: the stop-the-world since the start is all GC time."""
        if not self.transitioning:
            raise ValueError("finishGCTransition without startGCTransition")
        if now >= self.last_update:
            self.accumulate(0, (now - self.last_update) * self.nprocs)
        self.last_update = now
        self.transitioning = False

    def need_update(self, now: int) -> bool:
        return now - self.last_update > UPDATE_PERIOD

    def add_assist_time(self, t: int) -> None:
        self.assist_time_pool += t

    def add_idle_time(self, t: int) -> None:
        self.idle_time_pool += t

    def update(self, now: int) -> None:
        if not self.transitioning:
            self._update_locked(now)

    def _update_locked(self, now: int) -> None:
        last = self.last_update
        if now < last:
            return
        window_total = (now - last) * self.nprocs
        self.last_update = now
        assist, self.assist_time_pool = self.assist_time_pool, 0
        idle, self.idle_time_pool = self.idle_time_pool, 0
        window_gc = assist
        if self.gc_enabled:
            window_gc += f2i64(float(window_total) * BACKGROUND_UTILIZATION)
        window_total -= idle
        self.accumulate(window_total - window_gc, window_gc)

    def accumulate(self, mutator_time: int, gc_time: int) -> None:
        """accumulate: GC time fills the bucket, mutator time drains it."""
        headroom = self.capacity - self.fill
        was_enabled = headroom == 0
        change = gc_time - mutator_time
        if change > 0 and headroom <= change:
            self.overflow = u64(self.overflow + change - headroom)
            self.fill = self.capacity
            if not was_enabled:
                self.enabled = True
                self.last_enabled_cycle = self.numgc() + 1
            return
        if change < 0 and self.fill <= -change:
            self.fill = 0
        else:
            self.fill += change  # Go: fill -= uint64(-change), wrapping for change > 0
        if change != 0 and was_enabled:
            self.enabled = False

    def reset_capacity(self, now: int, nprocs: int) -> None:
        """resetCapacity (procresize): one CPU-second per P."""
        self._update_locked(now)
        self.nprocs = nprocs
        self.capacity = nprocs * CAPACITY_PER_PROC
        if self.fill > self.capacity:
            self.fill = self.capacity
            self.enabled = True
            self.last_enabled_cycle = self.numgc() + 1
        elif self.fill < self.capacity:
            self.enabled = False


__all__ = ["CAPACITY_PER_PROC", "UPDATE_PERIOD", "GCCPULimiterState"]
