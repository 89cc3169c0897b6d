"""The what-if model: Go's pacer (mgcpacer.GCControllerState) and CPU
limiter (mgclimit.GCCPULimiterState) driven by rates instead of a program.
See docs/ARCHITECTURE.md.

A program is described by a few rates: it allocates alloc_rate bytes per
second of wall time (while it is not assisting the collector), keeps a
live heap of `live` bytes (changing by live_growth bytes per second), of
which `scannable` is pointerful, on procs Ps of which the mutator keeps
mutator_cpus busy; the collector scans scan_rate bytes per second per CPU.
Objects of object_size bytes take their size class's slot, so the heap
grows by alloc_rate x slot/size.

Cycle by cycle, exactly as the runtime sequences it:

    between cycles   the heap grows at the allocation rate from the
                     heap marked (plus what was allocated black) to the
                     pacer's trigger; the mutator runs, the limiter drains
    mark             startCycle at the trigger; in a few steps the work
                     (globals, stacks, then the live heap's scannable
                     part) is done by the background workers (25% of the
                     Ps, or the share a trace shows, plus idle workers on
                     the Ps the mutator leaves idle)
                     and by assists: when the background rate falls short
                     of assist ratio x allocation rate, the mutator gives
                     up the fraction x of its time that closes the gap,
                     x = (ratio a - B) / (S m + ratio a); while the CPU
                     limiter is on, there are no assists and the heap
                     overshoots instead (an assist updates the limiter at
                     once; otherwise it is updated every 10 ms); revise
                     after each step
    peak             for a mark in which the limiter turns on, also the heap
                     it reaches if the limiter stays on for 20 ms the first
                     time (Go has nothing to turn it off but a P looking for a
                     worker, at most every 10 ms, when one passes through the
                     scheduler, which sysmon forces after 10 ms)
    end              endCycle (the cons/mark ratio), resetLive(live +
                     allocated black), commit: the next trigger and goal

The memory-limit goal sees the memory the pacer would: heap in use, free
heap not yet returned (retained at the previous peak until the scavenger,
held to 10% over what the goal implies and to 95% of the limit, gives it
back at 1% of one CPU) and the non-heap
memory (stacks, a base `overhead`, and metadata in proportion to the
heap retained: mspans, mark bits, and the heap bits of small pointerful
objects). Predicted RSS is that total at the end.

The mutator's time is the allocation's at the rate, plus fault_cost for
each heap byte beyond the pages retained (fresh memory, or pages the
scavenger gave back), plus sweep_cost for each heap byte in use when a
cycle ends (its spans are swept before they are allocated from again);
with fill, start_heap is allocated at once at t = 0.

Simplified, beside the rates themselves: the mark is a handful of steps
(not Go's 500 us), sweeping frees at once (its time is charged as above), allocation
during mark is black and counted live until the next cycle (as in Go),
and the mutator's allocation rate is the same on every P.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gomem.runtime.cost import DEFAULT_COSTS
from gomem.runtime.mem_linux import PHYS_PAGE_SIZE
from gomem.runtime.mgc import SCAVENGE_PERCENT
from gomem.runtime.mgclimit import UPDATE_PERIOD, GCCPULimiterState
from gomem.runtime.mgcpacer import MAX_INT64, GCControllerState
from gomem.runtime.mgcscavenge import REDUCE_EXTRA_PERCENT, RETAIN_EXTRA_PERCENT
from gomem.runtime.msize import explain, roundupsize
from gomem.runtime.proc import FORCE_PREEMPT_NS

NS = 1_000_000_000
MARK_STEPS = 12  # revise points per mark phase (Go revises continuously; the answers
# change by under 1% from 12 to 48 on the accuracy workloads, and by up to 10% from 6)
# Non-heap memory the runtime maps, as go1.24's /memory/classes show it on a churning
# heap: a base (the "other" class, runtime goroutines' stacks, mcaches, fixed
# metadata) plus, per byte of heap retained, mspan structs and other metadata (mark
# and alloc bits, arena and page-allocator metadata), plus the span's pointer bitmap,
# 1/64 of the span, for pointerful objects of up to 512 bytes (heap bits at the end
# of each span, computed from msize). The two constants are a least-squares fit
# over 20 runs of the churn program (benchmarks/nonheap_calibration.py,
# 2026-11-26: 2.49 MiB and 2.99%, residuals within 2 MiB).
DEFAULT_OVERHEAD = 2_612_000
METADATA_PER_HEAP_BYTE = 0.0299
# The background scavenger's seconds per byte returned: the cost table's madvise
# (MADV_DONTNEED) of one 4 KiB page, measured single-threaded on real Go. In the
# churn runs real scavenging cost 4-5 times that (docs/FIDELITY.md).
SCAVENGE_COST = DEFAULT_COSTS.madvise_per_page * 1e-9 / PHYS_PAGE_SIZE
# The longest a CPU limiter that turned on stays on, in seconds. While it is on there
# are no assists to update it: only a P looking for a mark worker does
# (findRunnableGCWorker), once UPDATE_PERIOD (10 ms) has passed, and a P looks only
# when it passes through the scheduler, which sysmon forces on a goroutine that has
# run for FORCE_PREEMPT_NS (10 ms).
LIMITER_ON_MAX = (UPDATE_PERIOD + FORCE_PREEMPT_NS) / NS


@dataclass(frozen=True, slots=True)
class Workload:
    """What the program does, in rates."""

    live: int  # bytes of live heap objects (requested sizes)
    alloc_rate: float  # bytes allocated per second of wall time, without assists
    scan_rate: float = 1e9  # bytes of scan work per CPU-second of marking
    scannable: float = 1.0  # fraction of the live heap with pointers (scanned)
    live_growth: float = 0.0  # bytes per second the live heap grows (or shrinks)
    stacks: int = 8 << 10  # bytes of goroutine stacks in use
    globals: int = 128 << 10  # bytes of data + bss (Go's runtime alone has ~140 KB)
    procs: int = 1  # GOMAXPROCS
    mutator_cpus: float = 1.0  # Ps the mutator keeps busy (<= procs)
    object_size: int = 64  # bytes per object requested: its size class sets the slot
    overhead: int = DEFAULT_OVERHEAD  # non-heap memory besides stacks and metadata
    fill: bool = False  # start from an empty heap: the first `live` bytes allocated stay live
    # The mutator's speed while the collector marks, relative to alloc_rate, before
    # any assist: write barriers on and black allocation slow it (gctrace shows it).
    mark_alloc_factor: float = 1.0
    # Seconds per heap byte the mutator loses when it allocates memory the process
    # does not hold resident: the first touch of fresh pages, or of pages the
    # scavenger returned (the kernel's page fault and zeroing; demand paging).
    fault_cost: float = 0.0
    # With fill: heap bytes allocated at once at the start, before the fill (a
    # program's first large allocation, such as a table; it stays live).
    start_heap: int = 0
    # Seconds per heap byte of sweeping after each cycle, on the mutator's time: every
    # span in use is swept before it is allocated from again (0: sweeping is free,
    # already in alloc_rate). The fit sets it from the cost table's sweep_span.
    sweep_cost: float = 0.0
    # Ps the dedicated and fractional workers run while the collector marks (None:
    # their 25% goal, procs x 0.25). A trace can show less: an idle worker takes the
    # work first. It sets what the CPU limiter sees: it counts 25% of the Ps as GC
    # time whatever the workers run, and the idle workers' time as idle.
    background_cpus: float | None = None
    # Seconds per byte the background scavenger takes to return memory to the OS
    # (madvise); it works at 1% of one CPU (0: at once). The default is the cost
    # table's madvise per 4 KiB page.
    scavenge_cost: float = SCAVENGE_COST

    @property
    def slot_factor(self) -> float:
        """Heap bytes per requested byte: the slot mallocgc gives an object of this
        size (its size class, or whole pages) over the size. Simplified: no malloc
        header (the fit folds scannability into the scan rate, so whether the
        objects hold pointers is not known) and no tiny-block packing."""
        size = max(self.object_size, 1)
        return roundupsize(size, True) / size

    @property
    def heap_bits_share(self) -> float:
        """The share of each span that holds its pointer bits (small pointerful objects,
        up to 512 bytes: heapBitsInSpan), 0 otherwise."""
        e = explain(max(self.object_size, 1), pointers=self.scannable > 0)
        return e.heap_bits / e.span_bytes if e.heap_bits else 0.0


@dataclass(frozen=True, slots=True)
class Setting:
    gogc: int = 100  # -1: off
    memlimit: int = MAX_INT64

    @property
    def label(self) -> str:
        g = "off" if self.gogc < 0 else str(self.gogc)
        m = "none" if self.memlimit == MAX_INT64 else f"{self.memlimit / (1 << 20):g}MiB"
        return f"GOGC={g} GOMEMLIMIT={m}"


@dataclass(slots=True)
class Cycle:
    """One GC cycle of the model."""

    n: int
    start_s: float  # when the cycle started (the trigger was reached)
    trigger: int
    goal: int
    peak: int  # heap_live when mark finished
    marked: int  # heap marked (for the next cycle)
    mark_s: float  # mark phase length
    gc_cpu_s: float  # background + assist + idle marking CPU (/cpu/classes/gc/total)
    assist_cpu_s: float
    idle_cpu_s: float
    limiter_on: bool
    # With the CPU limiter on at some point of the mark: the heap the mark reaches
    # if, the first time it turns on, it stays on for LIMITER_ON_MAX with no assists
    # (the rest of the mark as it went); 0: it never turned on.
    peak_unassisted: int = 0


@dataclass(slots=True)
class Result:
    """What one setting costs over the run."""

    setting: Setting
    duration_s: float
    allocated: int  # bytes requested in all
    cycles: list[Cycle] = field(default_factory=list)
    peak_heap: int = 0  # the largest heap_live
    final_goal: int = 0  # the pacer's goal at the end
    rss: int = 0  # predicted resident memory at the end
    gc_cpu_s: float = 0.0
    assist_cpu_s: float = 0.0
    limiter_engaged: bool = False
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, heap, goal)

    @property
    def cycles_per_s(self) -> float:
        return len(self.cycles) / self.duration_s if self.duration_s else 0.0

    def gc_cpu_fraction(self, procs: int) -> float:
        total = self.duration_s * procs
        return self.gc_cpu_s / total if total else 0.0

    def gc_cpu_fraction_to_last_cycle(self, procs: int) -> float:
        """GC CPU over all CPU from the start to the end of the last cycle's mark: the
        window Go's /cpu/classes metrics cover when read at the end, since the
        runtime adds to them at mark termination only (what a real run reports,
        where gc_cpu_fraction covers the whole run)."""
        if not self.cycles:
            return 0.0
        last = self.cycles[-1]
        total = (last.start_s + last.mark_s) * procs
        return sum(c.gc_cpu_s for c in self.cycles) / total if total else 0.0

    def figures(self, procs: int) -> dict[str, float]:
        """The five figures the accuracy check compares with real Go, by the names
        gomem.oracle.churn.interleaved gives them: cycles, the final goal, the peak heap,
        RSS, and the GC CPU fraction over the window Go's /cpu/classes metrics
        cover (gc_cpu_fraction_to_last_cycle)."""
        return {
            "cycles": len(self.cycles),
            "goal": self.final_goal,
            "peak": self.peak_heap,
            "rss": self.rss,
            "cpu": self.gc_cpu_fraction_to_last_cycle(procs),
        }

    @property
    def assist_share(self) -> float:
        return self.assist_cpu_s / self.gc_cpu_s if self.gc_cpu_s else 0.0


class Model:
    """One run of a workload under one setting."""

    def __init__(self, w: Workload, s: Setting) -> None:
        if w.alloc_rate <= 0 or w.scan_rate <= 0:
            raise ValueError("alloc_rate and scan_rate must be positive")
        if w.procs < 1 or not 0 < w.mutator_cpus <= w.procs:
            raise ValueError("need procs >= 1 and 0 < mutator_cpus <= procs")
        self.w, self.s = w, s
        self.c = GCControllerState(s.gogc, s.memlimit)
        self.lim = GCCPULimiterState(lambda: len(self.result.cycles))
        self.lim.reset_capacity(0, w.procs)
        self.t = 0.0  # seconds
        # Both looked up once: they are on every step's path.
        self.slot = w.slot_factor
        self.meta_per_byte = METADATA_PER_HEAP_BYTE + w.heap_bits_share
        # Start-up: the live heap is allocated (as at the end of a program's set-up),
        # or, with fill, only start_heap is and the program has yet to allocate the rest.
        start = min(w.start_heap / self.slot, w.live) if w.fill else w.live
        self.live = float(start)  # requested bytes live
        self.filling = w.fill and start < w.live
        self.heap_live = int(self.live * self.slot)  # the pacer's heap_live (slot bytes)
        self.retained = self.heap_live  # heap pages in use or free, not returned to the OS
        self.allocated = 0.0  # bytes requested
        self.scav_last = 0.0  # when the background scavenger last worked
        self.result = Result(s, 0.0, 0)
        self.c.mapped_ready_source = self._mapped_ready
        self.c.add_globals(w.globals)
        self.c.max_stack_scan = w.stacks
        self.c.heap_live = self.heap_live
        self.c.heap_scan = int(self.heap_live * w.scannable)
        self.c.total_alloc = self.heap_live
        self.c.commit(True)

    # -- memory as the pacer sees it --------------------------------------------------

    def _mapped_ready(self) -> int:
        return self.retained + self._non_heap()

    def _non_heap(self) -> int:
        """Stacks, the base overhead and the metadata of the retained heap."""
        w = self.w
        return w.stacks + w.overhead + int(self.retained * self.meta_per_byte)

    def _sync_memory(self) -> None:
        c = self.c
        self.retained = max(self.retained, self.heap_live)
        c.total_free = c.total_alloc - self.heap_live
        c.heap_free.nbytes = self.retained - self.heap_live

    # -- phases ---------------------------------------------------------------------

    def _alloc_time(self, grown: float, heap_rate: float) -> float:
        """Seconds the mutator takes to allocate grown heap bytes at heap_rate, the
        pages beyond the retained heap faulted in at fault_cost a byte."""
        fresh = min(max(self.heap_live + grown - self.retained, 0.0), grown)
        return grown / heap_rate + self.w.fault_cost * fresh

    def _alloc_in(self, dt: float, heap_rate: float) -> float:
        """Heap bytes the mutator allocates in dt seconds at heap_rate (the inverse of
        _alloc_time)."""
        plain = dt * heap_rate
        room = max(self.retained - self.heap_live, 0)
        if plain <= room or self.w.fault_cost <= 0:
            return plain
        rest = dt - room / heap_rate
        return room + rest / (1 / heap_rate + self.w.fault_cost)

    def _mutate(self, grown: int, heap_rate: float) -> None:
        """The mutator alone, until it has allocated grown heap bytes at heap_rate."""
        w = self.w
        dt = self._alloc_time(grown, heap_rate)
        requested = grown / self.slot
        self.heap_live += grown
        self.c.heap_live = self.heap_live
        self.c.heap_scan += int(grown * w.scannable)
        self.c.total_alloc += grown
        self.allocated += requested
        self._grow_live(requested, dt)
        self._sync_memory()
        self._pass(dt, w.procs - w.mutator_cpus)

    def _sweep(self, swept: int) -> None:
        """The sweeping of the spans the cycle left (swept heap bytes) on the mutator's
        time; the other Ps are idle meanwhile. In Go the allocating goroutine sweeps
        (mgcsweep.go deductSweepCredit, mcentral.go cacheSpan, and gcStart's
        sweepone loop for what is left) and bgsweep helps on idle Ps; a trace of
        the churn program shows the mutator doing nearly all of it
        (docs/VALIDATION.md). Simplified: one pass right after the cycle, all of
        it the mutator's."""
        w = self.w
        if w.sweep_cost > 0:
            self._pass(w.sweep_cost * swept, w.procs - w.mutator_cpus)

    def _pass(self, dt: float, idle_ps: float, assist_ps: float = 0.0) -> None:
        """dt seconds pass. The CPU limiter hears of the assists' time and of the idle
        Ps' (idle workers, or Ps with nothing to run: Go's limiterEventIdleMarkWork
        and limiterEventIdle). It updates after assists, which hand over their time
        once they hold 5 us of it (gcAssistAlloc, gcAssistTimeSlack), so it turns on
        as soon as its bucket is full; otherwise, as while it is on and there are no
        assists, only when its 10 ms period is up (findRunnableGCWorker)."""
        self.t += dt
        if assist_ps:
            self.lim.add_assist_time(int(assist_ps * dt * NS))
        self.lim.add_idle_time(int(idle_ps * dt * NS))
        t_ns = int(self.t * NS)
        if assist_ps or self.lim.need_update(t_ns):
            self.lim.update(t_ns)

    def _grow_live(self, requested: float, dt: float) -> None:
        """While filling, every byte allocated stays live; then live_growth applies."""
        if self.filling:
            self.live += requested
            if self.live >= self.w.live:
                self.live = float(self.w.live)
                self.filling = False
        else:
            self.live = max(self.live + self.w.live_growth * dt, 0.0)

    def _mark(self) -> Cycle:
        w, c, lim = self.w, self.c, self.lim
        heap_rate = w.alloc_rate * self.slot * w.mark_alloc_factor
        start_s = self.t
        t_ns = int(self.t * NS)
        lim.start_gc_transition(True, t_ns)
        lim.finish_gc_transition(t_ns)
        trigger = self.heap_live
        c.max_stack_scan = w.stacks
        c.start_cycle(t_ns, w.procs)
        goal = c.heap_goal()
        left = [w.globals, w.stacks, int(self.live * self.slot * w.scannable)]
        bg = w.procs * 0.25 if w.background_cpus is None else w.background_cpus
        idle = max(0.0, w.procs - w.mutator_cpus - bg)
        s_rate = w.scan_rate
        background = s_rate * (bg + idle)  # scan bytes/s of the workers
        total_work = sum(left)
        est = total_work / background if background else total_work / s_rate
        step = max(est / MARK_STEPS, 1e-6)
        assist_s = idle_s = bg_s = 0.0
        black = 0
        # When the limiter first turns on in this mark: the heap, the work left, and
        # the heap grown and work done if it stays on for LIMITER_ON_MAX.
        on_at: tuple[int, int, int, float] | None = None
        while sum(left) > 0:
            ratio = c.assist_work_per_byte
            need = ratio * heap_rate  # scan bytes/s that keeps pace with allocation
            if on_at is None and lim.limiting() and background > 0:
                # At worst it stays on for LIMITER_ON_MAX with no assists: the mutator
                # allocates freely, the workers alone mark (or until the work is done).
                on_s = min(sum(left) / background, LIMITER_ON_MAX)
                grown_on = int(self._alloc_in(on_s, heap_rate))
                on_at = (self.heap_live, sum(left), grown_on, on_s * background)
            x = 0.0
            if not lim.limiting() and need > background:
                x = min((need - background) / (s_rate * w.mutator_cpus + need), 1.0)
            rate = background + s_rate * w.mutator_cpus * x
            work = rate * step
            dt = step
            if work >= sum(left):
                dt = sum(left) / rate
                work = float(sum(left))
            done = [0, 0, 0]
            todo = int(work)
            for k in range(3):  # globals, then stacks, then heap, as markroot goes
                d = min(left[k], todo)
                done[k] = d
                left[k] -= d
                todo -= d
            if sum(left) > 0 and dt < step:  # rounding: take the rest now
                done[2] += left[2]
                left = [0, 0, 0]
            grown = int(self._alloc_in((1 - x) * dt, heap_rate))
            black += grown
            self.heap_live += grown
            c.heap_live = self.heap_live
            c.total_alloc += grown
            c.globals_scan_work += done[0]
            c.stack_scan_work += done[1]
            c.heap_scan_work += done[2]
            c.revise()
            self.allocated += grown / self.slot
            self._grow_live(grown / self.slot, dt)
            assist_s += w.mutator_cpus * x * dt
            idle_s += idle * dt
            bg_s += bg * dt
            self._sync_memory()
            self._pass(dt, idle, w.mutator_cpus * x)
        t_ns = int(self.t * NS)
        peak = self.heap_live
        unassisted = 0
        if on_at is not None:
            # The worst on period, then the rest of the work at the growth per byte of
            # work this mark showed after the limiter first turned on. It is never
            # below the mark's own end: without assists the heap grows most per byte
            # of work (assists slow the mutator and speed the marking).
            heap_on, work_on, grown_on, done_on = on_at
            per_work = (peak - heap_on) / work_on
            unassisted = heap_on + grown_on + int(per_work * (work_on - done_on))
        limiter_on = lim.limiting()
        lim.start_gc_transition(False, t_ns)
        lim.finish_gc_transition(t_ns)
        c.assist_time = int(assist_s * NS)
        c.dedicated_mark_time = int(bg_s * NS)
        c.idle_mark_time = int(idle_s * NS)
        c.end_cycle(t_ns, w.procs)
        marked = int(self.live * self.slot) + black
        c.reset_live(marked)
        # Sweeping frees the dead objects: the heap in use is what was marked.
        self.heap_live = marked
        c.heap_live = marked
        self._sync_memory()
        c.commit(False)
        self._scavenge(goal)
        return Cycle(
            n=len(self.result.cycles) + 1,
            start_s=start_s,
            trigger=trigger,
            goal=goal,
            peak=peak,
            marked=marked,
            mark_s=self.t - start_s,
            gc_cpu_s=bg_s + assist_s + idle_s,
            assist_cpu_s=assist_s,
            idle_cpu_s=idle_s,
            limiter_on=limiter_on,
            peak_unassisted=unassisted,
        )

    def _scavenge(self, last_goal: int) -> None:
        """The background scavenger, once a cycle: retained heap down to 10% over the
        heap the next goal implies, and total memory under 95% of the limit, as far as
        1% of one CPU since its last turn buys at scavenge_cost a byte (bgscavenge's
        pacing, scavengePercent). What it has not returned stays mapped: the memory
        limit's goal sees it. Simplified: allocSpan's scavenge assist, which returns
        memory at once when an allocation would pass the limit, is left out (the
        model's allocations reuse free retained pages before fresh ones)."""
        c = self.c
        target = self.retained
        if last_goal:
            target = min(target, int(c.heap_goal() * (1 + RETAIN_EXTRA_PERCENT / 100)))
        if c.memory_limit != MAX_INT64:
            limit_goal = int(c.memory_limit * (1 - REDUCE_EXTRA_PERCENT / 100))
            target = min(target, limit_goal - self._non_heap())
        budget = (self.t - self.scav_last) * SCAVENGE_PERCENT / 100
        self.scav_last = self.t
        if self.w.scavenge_cost > 0:
            target = max(target, self.retained - int(budget / self.w.scavenge_cost))
        self.retained = max(target, self.heap_live)
        self._sync_memory()

    # -- the run --------------------------------------------------------------------

    def run(self, *, total_alloc: float | None = None, duration: float | None = None) -> Result:
        """Run until total_alloc bytes were allocated or duration seconds passed."""
        if (total_alloc is None) == (duration is None):
            raise ValueError("give one of total_alloc and duration")
        w, c, res = self.w, self.c, self.result
        heap_rate = w.alloc_rate * self.slot

        def final(need: int) -> int | None:
            """The heap bytes left to allocate, if the run ends before need more are."""
            if total_alloc is not None:
                rest = int((total_alloc - self.allocated) * self.slot)
                return rest if rest <= need else None
            assert duration is not None
            left = duration - self.t
            if left <= self._alloc_time(need, heap_rate):
                return int(self._alloc_in(left, heap_rate))
            return None

        res.samples.append((0.0, self.heap_live, c.heap_goal()))
        while True:
            need = max(c.trigger() - self.heap_live, 0)
            rest = final(need)
            if rest is not None:
                self._mutate(max(rest, 0), heap_rate)
                res.peak_heap = max(res.peak_heap, self.heap_live)
                res.samples.append((self.t, self.heap_live, c.heap_goal()))
                break
            self._mutate(need, heap_rate)
            res.samples.append((self.t, self.heap_live, c.heap_goal()))
            cyc = self._mark()
            self._sweep(cyc.peak)
            res.cycles.append(cyc)
            res.peak_heap = max(res.peak_heap, cyc.peak, cyc.peak_unassisted)
            res.gc_cpu_s += cyc.gc_cpu_s
            res.assist_cpu_s += cyc.assist_cpu_s
            res.limiter_engaged |= cyc.limiter_on or cyc.peak_unassisted > 0
            res.samples.append((self.t, cyc.peak, cyc.goal))
            res.samples.append((self.t, self.heap_live, c.heap_goal()))
        res.duration_s = self.t
        res.allocated = int(self.allocated)
        res.final_goal = c.heap_goal()
        res.rss = self._mapped_ready()
        return res


def run(
    w: Workload, s: Setting, *, total_alloc: float | None = None, duration: float | None = None
) -> Result:
    """The model's answer for one setting."""
    return Model(w, s).run(total_alloc=total_alloc, duration=duration)


__all__ = ["Cycle", "Model", "Result", "Setting", "Workload", "run"]
