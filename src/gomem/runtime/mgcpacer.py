"""The GC pacer: gcControllerState of runtime/mgcpacer.go (go1.24; the
arithmetic is the same in go1.27). See docs/ARCHITECTURE.md.

The collector talks to it at Go's call points. It *asks*: trigger()
(the heap_live at which an allocation starts a cycle, and the goal),
heap_goal(), the mark workers (start_cycle sets
dedicated_mark_workers_needed and fractional_utilization_goal) and
assist_work_per_byte / assist_bytes_per_work. It *tells*:
start_cycle(mark_start, procs, kind) when mark begins; update() on every
mcache refill and flush (during mark it revises the assist ratio);
revise(); the scan work done (heap_scan_work, stack_scan_work,
globals_scan_work) and the time spent (assist_time, mark_worker_stop);
end_cycle(now, procs, user_forced) when mark is done, reset_live(marked)
at mark termination, commit(is_sweep_done) whenever an input of the goal
changes, set_gc_percent / set_memory_limit for debug.SetGCPercent and
debug.SetMemoryLimit, add_scannable_stack / add_globals as goroutine
stacks and globals come and go.

The model, as Go computes it:

    GOGC goal   heap_marked + (heap_marked + last stack scan + globals)
                x GOGC/100, at least heap_minimum (4 MiB x GOGC/100)
    limit goal  memory_limit - (non-heap memory + overage), less
                max(3%, 1 MiB) of headroom, never below heap_marked
    goal        the lower of the two; with the GOGC goal, raised to the
                sweep-distance floor (heap_live + 1 MiB when the sweep is
                not done) and to the trigger + 64 KiB during a cycle
    runway      cons/mark x (1 - u)/u x the last cycle's scan work, with
                u = 25%; cons/mark is the max over the last 4 cycles
    trigger     goal - runway, kept between 45/64 and 61/64 of the way
                from heap_marked to the goal (the upper bound raised to
                goal - 4 MiB for large goals)
    assists     scan work left / heap left before the goal, the goal
                extended (at most to the hard goal) when the scan work
                passes its estimate, and by 10% once the heap passes it

Go's integer and float semantics are kept where they matter: uint64
arithmetic wraps (GOGC=off makes heap_minimum a wrapped product), float
to integer conversions truncate, as amd64 does out of range (int64 gives
-2^63; uint64 of a huge value gives 2^63), a float division by zero is
+-Inf or NaN, and products are evaluated left to right without fused
multiply-adds, as on amd64.

gcControllerState is also where Go keeps the figures the pacer steers
by. The allocator keeps them current: every span taken from or given
back to the page heap moves bytes between heapInUse, heapFree and
heapReleased (the three add up to HeapSys), every mcache refill and flush
moves heapLive and heapScan, totalAlloc/totalFree count bytes ever
allocated and freed, and mapped_ready (the OS layer's Ready bytes) is
read through a callback.

Simplified: `scavenge_gc_percent_goal` holds the value Go has before the
first cycle (no GOGC-based scavenging, ^uint64(0)); the scavenger's goal
comes later.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from gomem.runtime.mem_linux import SysMemStat

MAX_INT64 = (1 << 63) - 1
MAX_UINT64 = (1 << 64) - 1
U64 = 1 << 64
HEAP_MINIMUM = 4 << 20  # defaultHeapMinimum: the goal's floor at GOGC=100
GC_GOAL_UTILIZATION = 0.25  # gcGoalUtilization
BACKGROUND_UTILIZATION = 0.25  # gcBackgroundUtilization
MEMORY_LIMIT_MIN_HEAP_GOAL_HEADROOM = 1 << 20  # memoryLimitMinHeapGoalHeadroom
MEMORY_LIMIT_HEAP_GOAL_HEADROOM_PERCENT = 3  # memoryLimitHeapGoalHeadroomPercent
SWEEP_MIN_HEAP_DISTANCE = 1 << 20  # sweepMinHeapDistance (mgc.go)
MAX_STACK_SCAN_SLACK = 8 << 10  # maxStackScanSlack: per-P batching of stack sizes
TRIGGER_RATIO_DEN = 64
MIN_TRIGGER_RATIO_NUM = 45  # ~0.7 of the way from heap marked to the goal
MAX_TRIGGER_RATIO_NUM = 61  # ~0.95
MIN_RUNWAY = 64 << 10  # heapGoalInternal's minimum runway above the trigger


def u64(x: int) -> int:
    """uint64(x): wrap to 64 bits."""
    return x % U64


def s64(x: int) -> int:
    """int64(x) of an integer: wrap to a signed 64-bit value."""
    x %= U64
    return x - U64 if x > MAX_INT64 else x


def f2i64(f: float) -> int:
    """int64(f) on amd64: truncate; NaN and out-of-range give -2^63 (CVTTSD2SQ)."""
    if f != f or not -9.223372036854775808e18 <= f < 9.223372036854775808e18:
        return -(1 << 63)
    return int(f)


def f2u64(f: float) -> int:
    """uint64(f) on amd64, as Go's compiler lowers it: below 2^63 through int64;
    at or above, int64(f - 2^63) with the top bit set (2^63 for Inf and NaN)."""
    if f < 9.223372036854775808e18:  # False for NaN
        return u64(f2i64(f))
    return u64(f2i64(f - 9.223372036854775808e18)) | (1 << 63)


def fdiv(a: float, b: float) -> float:
    """a / b in float64 as Go does it: no exception at zero."""
    if b == 0.0:
        if a == 0.0 or a != a:
            return math.nan
        neg = (a < 0) != (math.copysign(1.0, b) < 0)
        return -math.inf if neg else math.inf
    return a / b


def go_print_float(v: float) -> str:
    """The runtime's print(float64) (printfloat in print.go): 7 digits, as
    +d.dddddde+ddd, rounded by adding 5e-7 after normalising, digits cut."""
    if v != v:
        return "NaN"
    if v + v == v and v > 0:
        return "+Inf"
    if v + v == v and v < 0:
        return "-Inf"
    n = 7
    sign, e = "+", 0
    if v == 0:
        if math.copysign(1.0, v) < 0:
            sign = "-"
    else:
        if v < 0:
            v, sign = -v, "-"
        while v >= 10:
            e += 1
            v /= 10
        while v < 1:
            e -= 1
            v *= 10
        h = 5.0
        for _ in range(n):
            h /= 10
        v += h
        if v >= 10:
            e += 1
            v /= 10
    digits = []
    for _ in range(n):
        d = int(v)
        digits.append(chr(d + 48))
        v -= float(d)
        v *= 10
    esign = "-" if e < 0 else "+"
    e = abs(e)
    return f"{sign}{digits[0]}.{''.join(digits[1:])}e{esign}{e // 100}{e // 10 % 10}{e % 10}"


class GCControllerState:
    """gcControllerState: the pacer's state and the heap figures, in bytes and ns."""

    def __init__(self, gc_percent: int = 100, memory_limit: int = MAX_INT64) -> None:
        # heap_in_use + heap_free + heap_released == HeapSys, always.
        self.heap_in_use = SysMemStat("HeapInuse")  # pages of in-use heap spans
        self.heap_free = SysMemStat("HeapFree")  # free pages still backed by the OS
        self.heap_released = SysMemStat("HeapReleased")  # free pages returned to the OS
        self.total_alloc = 0  # bytes ever allocated, counted when an mcache lets go of a span
        self.total_free = 0  # bytes ever freed (by sweeping, here by free_object)
        # mappedReady: the OS layer's Ready bytes (0 for a controller on its own, as
        # Go's test copy has).
        self.mapped_ready_source: Callable[[], int] | None = None
        # The scavenger's goals (gcPaceScavenger sets them; ^uint64(0): none).
        self.scavenge_gc_percent_goal = MAX_UINT64  # scavenge.gcPercentGoal
        self.scavenge_memory_limit_goal = MAX_UINT64  # scavenge.memoryLimitGoal

        # Settings.
        self.gc_percent = 100  # GOGC; -1: off
        self.memory_limit = MAX_INT64  # GOMEMLIMIT
        self.heap_minimum = HEAP_MINIMUM  # the GOGC goal's floor

        # The pacer's model of the program.
        self.runway = 0  # heap bytes the mark needs at the current cons/mark
        self.cons_mark = 0.0  # allocation rate / scan rate, the max of the last cycles
        self.last_cons_mark = [0.0] * 4
        self.gc_percent_heap_goal = 0  # the GOGC goal (commit sets it)
        self.sweep_dist_min_trigger = 0  # heap_live + 1 MiB while the sweep is unfinished
        self.triggered = MAX_UINT64  # heap_live when the current cycle started
        self.last_heap_goal = 0  # the goal at the end of the last mark (gctrace's goal)
        self.heap_live = 0  # bytes of spans handed to mcaches minus their free slots
        self.heap_scan = 0  # scannable bytes allocated since the last cycle (an estimate)
        self.last_heap_scan = 0  # heap scan work of the last cycle
        self.last_stack_scan = 0  # stack scan work of the last cycle
        self.max_stack_scan = 0  # bytes of all goroutine stacks (what could be scanned)
        self.globals_scan = 0  # bytes of data and bss
        self.heap_marked = 0  # bytes marked by the last cycle

        # This cycle's work and time.
        self.heap_scan_work = 0
        self.stack_scan_work = 0
        self.globals_scan_work = 0
        self.bg_scan_credit = 0
        self.assist_time = 0
        self.dedicated_mark_time = 0
        self.fractional_mark_time = 0
        self.idle_mark_time = 0
        self.mark_start_time = 0  # markStartTime
        self.dedicated_mark_workers_needed = 0
        self.idle_mark_workers = 0  # idle workers running now
        self.max_idle_mark_workers = 0
        self.assist_work_per_byte = 0.0
        self.assist_bytes_per_work = 0.0
        self.fractional_utilization_goal = 0.0
        self.blacken_enabled = False  # gcBlackenEnabled: the collector sets it during mark
        self.trigger_bytes = 0  # trigger() at the last commit
        self.pacertrace: list[str] | None = None  # GODEBUG=gcpacertrace=1 lines go here

        # init: the settings, then commit with no sweep in progress.
        self.set_gc_percent(gc_percent)
        self.set_memory_limit(memory_limit)
        self.commit(True)

    @property
    def mapped_ready(self) -> int:
        src = self.mapped_ready_source
        return src() if src is not None else 0

    # -- cycle -------------------------------------------------------------------

    def start_cycle(self, mark_start_time: int, procs: int, *, periodic: bool = False) -> None:
        """startCycle: reset the cycle's counters and choose its mark workers."""
        self.heap_scan_work = self.stack_scan_work = self.globals_scan_work = 0
        self.bg_scan_credit = 0
        self.assist_time = self.dedicated_mark_time = 0
        self.fractional_mark_time = self.idle_mark_time = 0
        self.mark_start_time = mark_start_time
        self.triggered = self.heap_live
        dedicated, self.fractional_utilization_goal = self.workers(procs)
        if periodic:  # gcTriggerTime: idle Ps mark only if nothing else would
            self.max_idle_mark_workers = 0 if dedicated > 0 else 1
        else:
            self.max_idle_mark_workers = procs - dedicated
        self.dedicated_mark_workers_needed = dedicated
        self.revise()
        if self.pacertrace is not None:
            self.pacertrace.append(
                f"pacer: assist ratio={go_print_float(self.assist_work_per_byte)} "
                f"(scan {self.heap_scan >> 20} MB in {self.heap_live >> 20}->"
                f"{self.heap_goal() >> 20} MB) workers={dedicated}"
                f"+{go_print_float(self.fractional_utilization_goal)}"
            )

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

    def revise(self) -> None:
        """revise: the assist ratio from the scan work left and the heap left."""
        gc_percent = self.gc_percent if self.gc_percent >= 0 else 100000
        live = self.heap_live
        scan = self.heap_scan
        work = self.heap_scan_work + self.stack_scan_work + self.globals_scan_work
        heap_goal = s64(self.heap_goal())
        scan_work_expected = s64(self.last_heap_scan + self.last_stack_scan + self.globals_scan)
        max_scan_work = s64(scan + self.max_stack_scan + self.globals_scan)
        if work > scan_work_expected:
            # More scan work than expected: extend the goal in proportion, up to the
            # hard goal, and expect the worst case from now on.
            triggered = s64(self.triggered)
            ratio = fdiv(float(s64(heap_goal - triggered)), float(scan_work_expected))
            ext = f2i64(ratio * max_scan_work) + triggered
            scan_work_expected = max_scan_work
            hard_goal = f2i64((1.0 + gc_percent / 100.0) * heap_goal)
            heap_goal = min(ext, hard_goal)
        if s64(live) > heap_goal:
            heap_goal = f2i64(heap_goal * 1.1)  # maxOvershoot
            scan_work_expected = max_scan_work
        scan_work_remaining = max(scan_work_expected - work, 1000)
        heap_remaining = heap_goal - s64(live)
        if heap_remaining <= 0:
            heap_remaining = 1
        self.assist_work_per_byte = float(scan_work_remaining) / float(heap_remaining)
        self.assist_bytes_per_work = float(heap_remaining) / float(scan_work_remaining)

    def end_cycle(self, now: int, procs: int, user_forced: bool = False) -> None:
        """endCycle: measure the cycle's cons/mark ratio (allocation during mark over
        scan work, scaled by the CPU shares) for the next trigger."""
        del user_forced  # Go only uses it for the CPU limiter's accounting
        self.last_heap_goal = self.heap_goal()
        assist_duration = now - self.mark_start_time
        utilization = GC_GOAL_UTILIZATION
        if assist_duration > 0:
            utilization += self.assist_time / float(assist_duration * procs)
        if self.heap_live <= self.triggered:
            return  # nothing allocated during mark: keep the old ratio
        idle_utilization = 0.0
        if assist_duration > 0:
            idle_utilization = self.idle_mark_time / float(assist_duration * procs)
        scan_work = self.heap_scan_work + self.stack_scan_work + self.globals_scan_work
        current = fdiv(
            float(self.heap_live - self.triggered) * (utilization + idle_utilization),
            float(scan_work) * (1 - utilization),
        )
        old_cons_mark = self.cons_mark
        self.cons_mark = max([current, *self.last_cons_mark])
        self.last_cons_mark = [*self.last_cons_mark[1:], current]
        if self.pacertrace is not None:
            expected = self.last_heap_scan + self.last_stack_scan + self.globals_scan
            live = self.heap_live
            self.pacertrace.append(
                f"pacer: {int(utilization * 100)}% CPU ({int(GC_GOAL_UTILIZATION * 100)} exp.) "
                f"for {self.heap_scan_work}+{self.stack_scan_work}+{self.globals_scan_work} B "
                f"work ({expected} B exp.) in {self.triggered} B -> {live} B "
                f"(\u2206goal {s64(live) - s64(self.last_heap_goal)}, "
                f"cons/mark {go_print_float(old_cons_mark)})"
            )

    def reset_live(self, bytes_marked: int) -> None:
        """resetLive: the cycle marked bytes_marked; the next cycle's estimates."""
        self.heap_marked = bytes_marked
        self.heap_live = bytes_marked
        self.heap_scan = u64(self.heap_scan_work)
        self.last_heap_scan = u64(self.heap_scan_work)
        self.last_stack_scan = u64(self.stack_scan_work)
        self.triggered = MAX_UINT64

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

    def add_idle_mark_worker(self) -> bool:
        """addIdleMarkWorker: may one more idle P run an idle mark worker?"""
        if self.idle_mark_workers >= self.max_idle_mark_workers:
            return False
        self.idle_mark_workers += 1
        return True

    def update(self, d_heap_live: int, d_heap_scan: int) -> None:
        """update: the allocator reports heap growth. During mark heap_scan stays as
        the cycle began and the assist ratio is revised instead."""
        self.heap_live = u64(self.heap_live + d_heap_live)
        if self.blacken_enabled:
            self.revise()
        else:
            self.heap_scan = u64(self.heap_scan + d_heap_scan)

    def add_scannable_stack(self, amount: int) -> None:
        """addScannableStack (the per-P batching left out): stack bytes came or went."""
        self.max_stack_scan = u64(self.max_stack_scan + amount)

    def add_globals(self, amount: int) -> None:
        self.globals_scan = u64(self.globals_scan + amount)

    # -- goal and trigger ----------------------------------------------------------

    def heap_goal(self) -> int:
        return self.heap_goal_internal()[0]

    def heap_goal_internal(self) -> tuple[int, int]:
        """heapGoalInternal: (goal, the sweep distance's minimum trigger)."""
        goal = self.gc_percent_heap_goal
        min_trigger = 0
        new_goal = self.memory_limit_heap_goal()
        if new_goal < goal:
            goal = new_goal
        else:
            sweep_dist_trigger = self.sweep_dist_min_trigger
            if sweep_dist_trigger > goal:
                goal = sweep_dist_trigger
            min_trigger = sweep_dist_trigger
            if self.triggered != MAX_UINT64 and goal < self.triggered + MIN_RUNWAY:
                goal = self.triggered + MIN_RUNWAY
        return goal, min_trigger

    def memory_limit_heap_goal(self) -> int:
        """memoryLimitHeapGoal: the heap that keeps total memory under the limit."""
        heap_free = self.heap_free.nbytes
        heap_alloc = u64(self.total_alloc - self.total_free)
        mapped_ready = self.mapped_ready
        memory_limit = u64(self.memory_limit)
        non_heap = u64(mapped_ready - heap_free - heap_alloc)
        overage = mapped_ready - memory_limit if mapped_ready > memory_limit else 0
        if u64(non_heap + overage) >= memory_limit:
            return self.heap_marked
        goal = u64(memory_limit - (non_heap + overage))
        headroom = max(
            goal // 100 * MEMORY_LIMIT_HEAP_GOAL_HEADROOM_PERCENT,
            MEMORY_LIMIT_MIN_HEAP_GOAL_HEADROOM,
        )
        if goal < headroom or goal - headroom < headroom:
            goal = headroom
        else:
            goal -= headroom
        return max(goal, self.heap_marked)

    def trigger(self) -> int:
        """The heap_live at which an allocation starts a cycle (trigger()[0] in Go)."""
        return self.trigger_and_goal()[0]

    def trigger_and_goal(self) -> tuple[int, int]:
        """trigger: (trigger, goal)."""
        goal, min_trigger = self.heap_goal_internal()
        marked = self.heap_marked
        if marked >= goal:
            return goal, goal
        min_trigger = max(min_trigger, marked)
        lower = (goal - marked) // TRIGGER_RATIO_DEN * MIN_TRIGGER_RATIO_NUM + marked
        min_trigger = max(min_trigger, lower)
        max_trigger = (goal - marked) // TRIGGER_RATIO_DEN * MAX_TRIGGER_RATIO_NUM + marked
        if goal > HEAP_MINIMUM and goal - HEAP_MINIMUM > max_trigger:
            max_trigger = goal - HEAP_MINIMUM
        max_trigger = max(max_trigger, min_trigger)
        trigger = min_trigger if self.runway > goal else goal - self.runway
        trigger = min(max(trigger, min_trigger), max_trigger)
        return trigger, goal

    # -- settings ------------------------------------------------------------------

    def commit(self, is_sweep_done: bool = True) -> None:
        """commit: recompute the GOGC goal and the runway after an input changed."""
        if is_sweep_done:
            self.sweep_dist_min_trigger = 0
        else:
            self.sweep_dist_min_trigger = u64(self.heap_live + SWEEP_MIN_HEAP_DISTANCE)
        goal = MAX_UINT64
        if self.gc_percent >= 0:
            base = u64(self.heap_marked + self.last_stack_scan + self.globals_scan)
            goal = u64(self.heap_marked + u64(base * self.gc_percent) // 100)
        self.gc_percent_heap_goal = max(goal, self.heap_minimum)
        scan = float(self.last_heap_scan + self.last_stack_scan + self.globals_scan)
        self.runway = f2u64(self.cons_mark * (1 - GC_GOAL_UTILIZATION) / GC_GOAL_UTILIZATION * scan)
        # The trigger as of now, for the allocation path's quick test. Under a memory
        # limit the goal moves with every allocation, so the collector asks trigger().
        self.trigger_bytes = self.trigger()

    def set_gc_percent(self, percent: int) -> int:
        """setGCPercent (debug.SetGCPercent, without the commit): the old value."""
        out = self.gc_percent
        if percent < 0:
            percent = -1
        self.heap_minimum = u64(HEAP_MINIMUM * u64(percent)) // 100
        self.gc_percent = percent
        return out

    def set_memory_limit(self, limit: int) -> int:
        """setMemoryLimit (debug.SetMemoryLimit, without the commit): the old value;
        a negative limit only reads it."""
        out = self.memory_limit
        if limit >= 0:
            self.memory_limit = limit
        return out


# -- the settings from the environment (readGOGC, readGOMEMLIMIT) ----------------


def _atoi64(s: str) -> int | None:
    """atoi64 (runtime/string.go): a decimal int64, optional '-', no '+', no spaces;
    None if malformed or out of range."""
    if not s:
        return None
    neg = s[0] == "-"
    digits = s[1:] if neg else s
    un = 0
    for ch in digits:
        if not "0" <= ch <= "9":
            return None
        un = un * 10 + (ord(ch) - 48)
        if un > MAX_UINT64:
            return None
    if not neg and un > MAX_INT64:
        return None
    if neg and un > MAX_INT64 + 1:
        return None
    return -un if neg else un


def parse_byte_count(s: str) -> int | None:
    """parseByteCount: '1024', '1024B', '512MiB', '1GiB' (KiB..TiB); None if malformed,
    negative or past MaxInt64. Go accepts no other unit (no 'MB', no spaces)."""
    if not s:
        return None
    last = s[-1]
    if "0" <= last <= "9":
        n = _atoi64(s)
        return n if n is not None and n >= 0 else None
    if last != "B" or len(s) < 2:
        return None
    if "0" <= s[-2] <= "9":
        n = _atoi64(s[:-1])
        return n if n is not None and n >= 0 else None
    if s[-2] != "i" or len(s) < 4:
        return None
    power = {"K": 1, "M": 2, "G": 3, "T": 4}.get(s[-3])
    if power is None:
        return None
    n = _atoi64(s[:-3])
    if n is None or n < 0:
        return None
    m = 1024**power
    if n > MAX_UINT64 // m or n * m > MAX_INT64:
        return None
    return n * m


def read_gogc(value: str | None) -> int:
    """readGOGC: what the runtime makes of the GOGC environment string. 'off' is -1;
    an int32 is taken as is (setGCPercent turns any negative into -1); anything else,
    empty or malformed, silently gives the default 100."""
    if value == "off":
        return -1
    n = _atoi64(value or "")
    if n is not None and -(1 << 31) <= n < (1 << 31):
        return n
    return 100


class MalformedGOMEMLIMIT(ValueError):
    """readGOMEMLIMIT throws: the process dies at start-up."""


def read_memlimit(value: str | None) -> int:
    """readGOMEMLIMIT: unset, empty or 'off' is no limit (MaxInt64); a byte count as
    parseByteCount reads it; anything else is fatal in Go ("malformed GOMEMLIMIT")."""
    if not value or value == "off":
        return MAX_INT64
    n = parse_byte_count(value)
    if n is None:
        raise MalformedGOMEMLIMIT(
            f"GOMEMLIMIT={value}: malformed GOMEMLIMIT; see `go doc runtime/debug.SetMemoryLimit`"
        )
    return n
