"""The garbage collector's cycle. Models runtime/mgc.go (go1.24): gcStart,
the phases, gcMarkTermination's accounting, runtime.GC and the gctrace
line. See docs/ARCHITECTURE.md for the collector's overview.

A cycle, as Go runs it:

    _GCoff           sweeping the previous cycle's spans, lazily
    sweep termination   (STW) finish sweeping, flush the mcaches
    _GCmark          mark roots and drain the grey queue
    mark termination    (STW) no work left; heap marked is known
    _GCoff           mheap.sweepgen += 2: every span now needs sweeping;
                     the mcaches are flushed (their spans are stale)

runtime.GC() runs a whole cycle and then finishes the sweep before it
returns, so afterwards HeapAlloc is exactly the bytes of the marked
blocks (nothing was allocated since mark termination).

Marking is concurrent: after the stop-the-world sweep termination the
mutators run with the write barrier on and their new objects allocated
black, beside mark workers on the Ps. There is one gcBgMarkWorker G per
P; whenever a P schedules, findRunnableGCWorker may give it a dedicated
worker (25% of GOMAXPROCS, rounded) or a fractional one (when rounding is
too far off, while the P is behind its share), and an idle P runs an idle
worker. A worker does one unit of work per scheduled step -- a root job
(the globals, the g records, or one goroutine's stack), one grey object,
or its P's write-barrier buffer flush -- until it runs out of work (or, if
fractional, is past its share; if idle, a goroutine wants the P). The last
worker out of work runs gcMarkDone: flush every P's buffers, and if
nothing turns up, mark termination. With stop_the_world_mark
(GODEBUG=gcstoptheworld=1), or runtime.GC() outside a running program,
the mark runs with the world stopped instead. Pause lengths and mark
time come from the cost table: stw_base per stop, scan_word per word
scanned, mark_object per object.

The gctrace line is Go's, field for field:
`gc N @T.TTTs U%: a+b+c ms clock, d+e/f/g+h ms cpu, X->Y->Z MB,
G MB goal, S MB stacks, L MB globals, P P (forced)`, with Go's
truncating number formatting (fmtNSAsMS, itoaDiv, >>20 for MB).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from gomem.runtime.mbarrier import WriteBarrier
from gomem.runtime.mbitmap import type_pointers_of
from gomem.runtime.mem_linux import PHYS_PAGE_SIZE, RuntimeThrow
from gomem.runtime.mgcmark import Marker, gcmarknewobject
from gomem.runtime.mgcpacer import MAX_INT64, MAX_UINT64, s64
from gomem.runtime.mgcscavenge import gc_pace_scavenger
from gomem.runtime.mgcsweep import sweep_span
from gomem.runtime.mheap import PAGE_SIZE, SpanState
from gomem.runtime.proc import G, GStatus, P

if TYPE_CHECKING:
    from gomem.runtime.runtime import Runtime


FORCE_GC_PERIOD = 2 * 60 * 1_000_000_000  # forcegcperiod: 2 minutes, in ns
GC_OVER_ASSIST_WORK = 64 << 10  # gcOverAssistWork: an assist does at least 64 KiB of work
SCAVENGE_PERCENT = 1  # scavengePercent: the background scavenger's share of one CPU
SCAVENGE_QUANTUM = 64 << 10  # scavengeQuantum: what it releases per turn at most
SCAVENGE_PERIOD = 1_000_000  # ns between its turns while above a goal (the model's)
DRAIN_CHECK_THRESHOLD = 100_000  # drainCheckThreshold: scan work between idle/fractional checks
MAX_TIME = 1 << 62


class GCPhase(IntEnum):
    OFF = 0  # _GCoff: not collecting; sweeping in the background
    MARK = 1  # _GCmark: marking, write barrier on
    MARK_TERMINATION = 2  # _GCmarktermination: the world is stopped


@dataclass(frozen=True, slots=True)
class CycleRecord:
    """What one cycle did, with Go's gctrace quantities."""

    n: int  # cycle number, from 1 (memstats.numgc)
    t_sweep_term: int  # ns: the cycle started (sweep termination began)
    t_mark: int  # ns: mark began
    t_mark_term: int  # ns: mark termination began
    t_end: int  # ns: mark termination ended
    heap0: int  # heap live at the start (gcController.heapLive)
    heap1: int  # heap live at mark termination
    heap2: int  # heap marked
    goal: int  # the heap goal of this cycle
    stacks: int  # bytes of goroutine stacks scanned
    globals: int  # bytes of globals scanned
    assist_ns: int  # mark assist CPU time
    mark_ns: int  # dedicated + fractional mark workers' CPU time
    idle_ns: int  # idle mark workers' CPU time
    procs: int  # GOMAXPROCS
    forced: bool  # runtime.GC() or debug.FreeOSMemory
    objects_marked: int
    words_scanned: int
    spans_swept: int
    pages_freed: int


def itoa_div(val: int, dec: int) -> str:
    """itoaDiv: val / 10**dec with dec decimals, digits truncated, as Go prints it."""
    s = str(val)
    if dec == 0:
        return s
    s = s.rjust(dec + 1, "0")
    return s[:-dec] + "." + s[-dec:]


def fmt_ns_as_ms(ns: int) -> str:
    """fmtNSAsMS: ns as milliseconds with 3 significant-ish digits (Go's rule)."""
    if ns >= 10_000_000:
        return itoa_div(ns // 1_000_000, 0)
    x = ns // 1000
    if x == 0:
        return "0"
    dec = 3
    while x >= 100:
        x //= 10
        dec -= 1
    return itoa_div(x, dec)


def gctrace_line(r: CycleRecord, cpu_fraction: float) -> str:
    """One GODEBUG=gctrace=1 line for cycle r."""
    marks = (r.t_sweep_term, r.t_mark, r.t_mark_term, r.t_end)
    clock = "+".join(fmt_ns_as_ms(b - a) for a, b in zip(marks, marks[1:], strict=False))
    stw1 = r.procs * (r.t_mark - r.t_sweep_term)
    stw2 = r.procs * (r.t_end - r.t_mark_term)
    cpu = (
        f"{fmt_ns_as_ms(stw1)}+{fmt_ns_as_ms(r.assist_ns)}/{fmt_ns_as_ms(r.mark_ns)}/"
        f"{fmt_ns_as_ms(r.idle_ns)}+{fmt_ns_as_ms(stw2)}"
    )
    line = (
        f"gc {r.n} @{itoa_div(r.t_sweep_term // 1_000_000, 3)}s {int(cpu_fraction * 100)}%: "
        f"{clock} ms clock, {cpu} ms cpu, "
        f"{r.heap0 >> 20}->{r.heap1 >> 20}->{r.heap2 >> 20} MB, {r.goal >> 20} MB goal, "
        f"{r.stacks >> 20} MB stacks, {r.globals >> 20} MB globals, {r.procs} P"
    )
    return line + (" (forced)" if r.forced else "")


class Collector:
    """The collector of one runtime: phase, cycle count, records."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.phase = GCPhase.OFF
        self.cycles: list[CycleRecord] = []
        self.gc_cpu_ns = 0  # CPU time spent in the collector, all cycles
        self.trace: list[str] = []  # gctrace lines, when enabled
        self.gctrace = False
        self.barrier = WriteBarrier("go")
        self.stop_the_world_mark = False  # GODEBUG=gcstoptheworld=1: mark with the world stopped
        self.marker: Marker | None = None  # this cycle's mark state while phase == MARK
        self.root_jobs: deque[object] = deque()  # "globals", "gs", or a G whose stack to scan
        self.waiters: list[G] = []  # goroutines parked in runtime.GC() until the cycle ends
        self._cycle: dict[str, int | bool] = {}  # this cycle's times and sizes so far
        self.worker_ps: dict[int, P] = {}  # the P of each system goroutine, by id (clocks only)
        self.sweep_done = True  # no span is left to sweep (sweepone found none)
        self.worker_pool: list[G] = []  # gcBgMarkWorkerPool: mark workers not running
        self.active_workers = 0  # mark workers running now (nproc - nwait)
        self.worker_mode: dict[int, str] = {}  # goid -> mode of a worker's latest stint
        self.bg_scan_credit = 0  # scan work done by the worker, not yet used by assists
        self.assist_queue: list[G] = []  # goroutines parked in an assist, waiting for credit
        self.assists = 0  # gcAssistAlloc calls this run
        self._sweep_g: G | None = None  # the background sweeper's G
        self.check_after_cycle = False  # --check: walk the heap after each cycle
        self.check_each_step = False  # check the barrier's invariant before every step
        self.lazy_sweep = True  # sweep after the cycle in the background and on allocation
        self.last_work = ""  # what the mark worker's last step did (for demos)
        # Called (read-only observers, e.g. `gomem gc sweepgen`) at phase changes.
        self.on_phase: Callable[[str], None] | None = None
        self._unreachable_at_start: set[int] = set()  # --check: blocks to stay white
        # sysmon's periodic GC: a cycle when 2 minutes pass without one (after the first).
        self._periodic_deadline = MAX_TIME
        # The background scavenger (bgscavenge): when it next runs, and when it last did.
        self.scav_deadline = MAX_TIME
        self.scav_last = 0
        self.scav_released = 0  # bytes it returned to the OS
        self.scav_ns = 0  # CPU time it spent (madvise)
        self.last_heap_in_use = 0  # memstats.lastHeapInUse: HeapInuse at mark termination
        self.wake_ns = MAX_TIME  # the earlier of the two: what sysmon checks the clocks against

    def cpu_fraction(self) -> float:
        """GCCPUFraction: collector CPU time over all Ps' time since the start."""
        total = self.rt.sched.now * len(self.rt.ps)
        return self.gc_cpu_ns / total if total else 0.0

    def set_gc_percent(self, percent: int) -> None:
        """GOGC / debug.SetGCPercent: a negative value turns the collector off."""
        ctl = self.rt.gc_controller
        ctl.set_gc_percent(percent)
        self.controller_commit()
        if percent < 0:
            self.periodic_deadline = MAX_TIME
        elif self.cycles:
            self.periodic_deadline = self.cycles[-1].t_end + FORCE_GC_PERIOD

    def set_memory_limit(self, limit: int) -> int:
        """debug.SetMemoryLimit: a negative limit only reads the current one."""
        ctl = self.rt.gc_controller
        out = ctl.set_memory_limit(limit)
        if limit >= 0 and out != limit:
            self.controller_commit()
        return out

    def controller_commit(self) -> None:
        """gcControllerCommit: the pacer recomputes goal and trigger; the sweeper's
        pace follows."""
        ctl = self.rt.gc_controller
        ctl.commit(self.sweep_done)
        if self.phase != GCPhase.OFF:
            ctl.revise()
        self.pace_sweeper(ctl.trigger())
        gc_pace_scavenger(ctl, ctl.heap_goal(), ctl.last_heap_goal, self.last_heap_in_use)
        self._wake_scavenger(self.rt.sched.now)

    @property
    def periodic_deadline(self) -> int:
        """When sysmon's forced GC is due (MAX_TIME: never)."""
        return self._periodic_deadline

    @periodic_deadline.setter
    def periodic_deadline(self, t: int) -> None:
        self._periodic_deadline = t
        self.wake_ns = min(t, self.scav_deadline)

    def check_periodic(self, now_ns: int) -> None:
        """sysmon's forced GC: start a cycle if 2 minutes passed since the last one
        ended; and the background scavenger's turn."""
        if now_ns > self.scav_deadline:
            self._bgscavenge(now_ns)
        if now_ns > self.periodic_deadline and self.phase == GCPhase.OFF:
            self.periodic_deadline = MAX_TIME
            self.start(forced=False, periodic=True)

    # -- the background scavenger ---------------------------------------------------

    def _scavenge_excess(self) -> int:
        """Bytes above the scavenger's goals: retained heap over the GOGC-based goal,
        or mapped memory over the memory-limit goal (0: nothing to do)."""
        ctl = self.rt.gc_controller
        excess = 0
        if ctl.scavenge_gc_percent_goal != MAX_UINT64:
            retained = ctl.heap_in_use.nbytes + ctl.heap_free.nbytes
            excess = retained - ctl.scavenge_gc_percent_goal
        if ctl.scavenge_memory_limit_goal != MAX_UINT64:
            excess = max(excess, ctl.mapped_ready - ctl.scavenge_memory_limit_goal)
        return max(excess, 0)

    def _wake_scavenger(self, now_ns: int) -> None:
        """Start (or stop) the scavenger's periodic work for the goals just set."""
        if self._scavenge_excess() > 0:
            if self.scav_deadline == MAX_TIME:
                self.scav_last = now_ns
                self.scav_deadline = now_ns + SCAVENGE_PERIOD
        else:
            self.scav_deadline = MAX_TIME
        self.wake_ns = min(self._periodic_deadline, self.scav_deadline)

    def _bgscavenge(self, now_ns: int) -> None:
        """bgscavenge, paced to 1% of one CPU: the time since its last turn buys
        madvise work at the cost table's price; it releases that much (64 KiB
        quanta, the densest free memory first) while above a goal."""
        costs = self.rt.costs
        budget = (now_ns - self.scav_last) * SCAVENGE_PERCENT // 100
        self.scav_last = now_ns
        quantum_ns = costs.madvise_per_page * (SCAVENGE_QUANTUM // PHYS_PAGE_SIZE)
        quanta = budget // quantum_ns if quantum_ns else 0
        want = min(self._scavenge_excess(), quanta * SCAVENGE_QUANTUM)
        if want > 0:
            released = self.rt.heap.pages.scavenge(want)
            self.scav_released += released
            self.scav_ns += released // PHYS_PAGE_SIZE * costs.madvise_per_page
        self.scav_deadline = MAX_TIME
        self._wake_scavenger(now_ns)

    @property
    def trigger(self) -> int:
        """The heap_live at which an allocation starts a cycle (asked of the controller)."""
        ctl = self.rt.gc_controller
        if ctl.memory_limit != MAX_INT64:  # the limit's goal moves with memory use
            return ctl.trigger()
        return ctl.trigger_bytes

    def _worker_p(self, pid: int) -> P:
        p = self.worker_ps.get(pid)
        if p is None:
            p = self.worker_ps[pid] = P(pid, self.rt.mcaches[0])
        return p

    def sweepone(self) -> tuple[bool, int]:
        """sweepone: sweep one unswept span, if any; (swept one, pages it freed)."""
        if self.sweep_done:
            return False, 0
        heap = self.rt.heap
        sg = heap.sweepgen
        for central in heap.central:
            for sets in (central.partial, central.full):
                s = sets[1 - sg // 2 % 2].pop()
                if s is not None:
                    npages = s.npages
                    return True, npages if sweep_span(heap, s, preserve=False) else 0
        self.sweep_done = True
        return False, 0

    def pace_sweeper(self, trigger: int) -> None:
        """gcPaceSweeper: sweep every in-use page by the time heap_live reaches the
        trigger (less a 1 MiB margin): set the pages to sweep per byte allocated."""
        heap = self.rt.heap
        if self.sweep_done:
            heap.sweep_pages_per_byte = 0.0
            return
        live_basis = self.rt.gc_controller.heap_live
        trigger = s64(trigger)  # Go converts the uint64 trigger to int64 (off: -1)
        heap_distance = max(trigger - live_basis - (1 << 20), PAGE_SIZE)
        sweep_distance = heap.pages_in_use - heap.pages_swept
        if sweep_distance <= 0:
            heap.sweep_pages_per_byte = 0.0
            return
        heap.sweep_pages_per_byte = float(sweep_distance) / float(heap_distance)
        heap.sweep_heap_live_basis = live_basis
        heap.pages_swept_basis = heap.pages_swept

    def deduct_sweep_credit(self, span_bytes: int, caller_sweep_pages: int) -> None:
        """deductSweepCredit: before a span of span_bytes is allocated, sweep until the
        pages swept keep pace with the bytes allocated since the rate was set."""
        heap = self.rt.heap
        if heap.sweep_pages_per_byte == 0:
            return
        live = self.rt.gc_controller.heap_live
        new_heap_live = span_bytes + max(live - heap.sweep_heap_live_basis, 0)
        target = int(heap.sweep_pages_per_byte * new_heap_live) - caller_sweep_pages
        while target > heap.pages_swept - heap.pages_swept_basis:
            swept, _ = self.sweepone()
            if not swept:
                heap.sweep_pages_per_byte = 0.0
                return

    def reclaim(self, npages: int) -> None:
        """mheap.reclaim: before allocating npages while sweeping is unfinished, sweep
        spans until at least npages were freed (or nothing is left to sweep)."""
        freed = 0
        while freed < npages:
            swept, pages = self.sweepone()
            if not swept:
                return
            freed += pages

    def _bgsweep(self, gp: G) -> None:
        """bgsweep: the background sweeper, one span per scheduled step."""
        sched, cost = self.rt.sched, self.rt.costs.sweep_span
        while True:
            sched.switch_point(gp)
            swept, _ = self.sweepone()
            if not swept:
                return
            if gp.p is not None:
                gp.p.clock_ns += cost

    def finish_sweep(self) -> tuple[int, int]:
        """Sweep every span still unswept (sweepone until done); (spans, pages freed)."""
        self.sweep_done = True
        heap = self.rt.heap
        sg = heap.sweepgen
        spans = pages = 0
        for central in heap.central:
            for sets in (central.partial, central.full):
                unswept = sets[1 - sg // 2 % 2]
                while (s := unswept.pop()) is not None:
                    npages = s.npages
                    if sweep_span(heap, s, preserve=False):
                        pages += npages
                    spans += 1
        return spans, pages

    # -- the phases ------------------------------------------------------------

    def _sweep_termination(self, forced: bool, *, periodic: bool = False) -> None:
        """gcStart up to the mark phase: finish sweeping, flush the mcaches (STW),
        enable the write barrier."""
        rt = self.rt
        sched = rt.sched
        self.finish_sweep()
        rt.flush_mcaches()
        heap0 = rt.gc_controller.heap_live
        t0 = sched.now
        rt.gc_cpu_limiter.start_gc_transition(True, t0)
        sched.stop_the_world("GC sweep termination", rt.costs.stw_base)
        self.marker = Marker(rt)
        self.phase = GCPhase.MARK
        rt.write_barrier_enabled = True
        if self._sweep_g is None:  # gcBgMarkStartWorkers (one per P), bgsweep: allocated black
            for _ in rt.ps:
                w = rt.system_g("gcBgMarkWorker")
                w.goid = sched.new_goid()
                self.worker_pool.append(w)
            self.worker_pool.reverse()  # the first worker made is the first one taken
            self._sweep_g = rt.system_g("bgsweep")
        for p in rt.ps:
            p.gc_fractional_mark_ns = 0
        for g in sched.allgs:
            g.stack_scanned = False
            g.gc_assist_bytes = 0  # each cycle starts without credit or debt
        self._cycle = {"t0": t0, "t_mark": sched.now, "heap0": heap0, "forced": forced}
        rt.gc_controller.start_cycle(sched.now, len(rt.ps), periodic=periodic)
        rt.gc_controller.blacken_enabled = True
        rt.gc_cpu_limiter.finish_gc_transition(sched.now)
        if self.check_after_cycle:
            # Blocks no root reaches now can never be reached again: they must stay white.
            self._unreachable_at_start = self.allocated_blocks() - self._walk()[1]

    def _scanstack(self, g: G) -> None:
        """scanstack: grey what g's frames point to; its stack is black from now on."""
        marker = self.marker
        assert marker is not None
        if g.status == GStatus.DEAD or g.stack_scanned:
            return
        marker.scan_words(self.rt.stack_roots(g))
        marker.stats.stack_scan_bytes += g.stack.hi - g.sched_sp
        if g.inflight:
            marker.shade(g.inflight)  # a result in a register is live too
        g.stack_scanned = True
        if not g.system and g is not self.rt.sched.current:
            self.rt.shrink_stack(g)  # a mostly unused stack is halved when scanned

    def _scan_root_job(self, job: object) -> None:
        marker = self.marker
        assert marker is not None
        if job == "globals":
            roots = self.rt.global_roots()
            marker.stats.roots += len(roots)
            marker.stats.globals_scan_bytes += sum(t.size for _, _, t in self.rt.globals)
            marker.scan_words(roots)
        elif job == "gs":
            for g in self.rt.sched.allgs:  # allgs keeps every g record alive
                if g.addr:
                    marker.shade(g.addr)
        elif isinstance(job, G):
            self._scanstack(job)

    def run_cycle(self, *, forced: bool) -> CycleRecord:
        """A whole cycle with the world stopped while marking (gcstoptheworld=1)."""
        rt = self.rt
        self._sweep_termination(forced)
        marker = self.marker
        assert marker is not None
        for job in ["globals", "gs", *rt.sched.allgs]:
            self._scan_root_job(job)
        marker.drain()
        st = marker.stats
        mark_ns = self._mark_cost(st.words_scanned, st.objects_marked)
        t_mark_term = int(self._cycle["t_mark"]) + mark_ns
        for p in rt.ps:  # the world stays stopped while marking: the time passes on every P
            p.clock_ns = max(p.clock_ns, t_mark_term)
        rt.gc_controller.dedicated_mark_time = mark_ns  # gcstoptheworld: all Ps dedicated
        return self._mark_termination()

    def start(self, *, forced: bool, inflight: int = 0, periodic: bool = False) -> None:
        """gcStart, concurrent: STW sweep termination, then mark workers run on the Ps
        beside the mutators until the work runs out; the last one runs mark termination.

        inflight is the object whose allocation triggered the cycle: in Go it is in the
        allocating goroutine's registers, live; here it is marked black at once.
        """
        if self.phase != GCPhase.OFF:
            return
        if self.stop_the_world_mark:
            self.run_cycle(forced=forced)
            return
        rt = self.rt
        self._sweep_termination(forced, periodic=periodic)
        if inflight:
            found = self.marker.find_object(inflight) if self.marker is not None else None
            if found is not None:
                self._unreachable_at_start.discard(found[2])
            self.allocated(inflight)
        gs = [g for g in rt.sched.allgs if g.status != GStatus.DEAD and not g.system]
        self.root_jobs = deque(["globals", "gs"])
        if self.barrier.mode == "yuasa":
            for g in gs:  # snapshot at the beginning: every stack, with the world stopped
                self._scanstack(g)
        else:
            self.root_jobs.extend(gs)  # one goroutine's stack at a time
        # The world starts again: every P goes through schedule(), where
        # findRunnableGCWorker hands out the dedicated and fractional workers.
        sched = rt.sched
        sched.gc_worker = self.find_runnable_gc_worker
        sched.idle_worker = self.find_idle_gc_worker
        sched.resched = list(rt.ps)

    # -- the mark workers ----------------------------------------------------------

    def mark_work_available(self, p: P | None) -> bool:
        """gcMarkWorkAvailable: root jobs left, grey objects in the global list, or
        (p given) in p's gcWork."""
        marker = self.marker
        if marker is None:
            return False
        if self.root_jobs or marker.queues.full:
            return True
        if p is None:
            return False
        gcw = marker.gcws.get(p.id)
        return gcw is not None and not gcw.empty()

    def _run_worker(self, p: P, mode: str) -> G:
        """Take a worker G from the pool and start it in mode on p."""
        gp = self.worker_pool.pop()
        self.active_workers += 1
        self.rt.sched.start(gp, lambda: self._worker(gp, p, mode))
        gp.stack_scanned = True  # a mark worker's stack holds no heap pointers
        self.worker_mode[gp.goid] = mode
        return gp

    def find_runnable_gc_worker(self, p: P) -> G | None:
        """findRunnableGCWorker: a dedicated worker while one is still needed, else a
        fractional one if p is behind the fractional goal, else none."""
        if self.phase != GCPhase.MARK or not self.worker_pool:
            return None
        limiter = self.rt.gc_cpu_limiter
        if limiter.need_update(p.clock_ns):
            limiter.update(p.clock_ns)
        if not self.mark_work_available(p):
            return None
        ctl = self.rt.gc_controller
        if ctl.dedicated_mark_workers_needed > 0:
            ctl.dedicated_mark_workers_needed -= 1
            return self._run_worker(p, "dedicated")
        if ctl.fractional_utilization_goal == 0:
            return None
        # Is p behind the goal? ("now" is p's own clock: the model's Ps keep their own.)
        delta = p.clock_ns - ctl.mark_start_time
        if delta > 0 and p.gc_fractional_mark_ns / delta > ctl.fractional_utilization_goal:
            return None
        return self._run_worker(p, "fractional")

    def find_idle_gc_worker(self, p: P) -> G | None:
        """findRunnable's last resort: an idle P runs an idle mark worker."""
        if self.phase != GCPhase.MARK or not self.worker_pool:
            return None
        if not self.mark_work_available(p) or not self.rt.gc_controller.add_idle_mark_worker():
            return None
        p.clock_ns = max(p.clock_ns, self.rt.sched.now)  # the idle P wakes up now
        return self._run_worker(p, "idle")

    def _poll_fractional_exit(self, p: P, start_ns: int) -> bool:
        """pollFractionalWorkerExit: stop once over 1.2 x the fractional goal."""
        ctl = self.rt.gc_controller
        delta = p.clock_ns - ctl.mark_start_time
        if delta <= 0:
            return True
        self_time = p.gc_fractional_mark_ns + (p.clock_ns - start_ns)
        return self_time / delta > 1.2 * ctl.fractional_utilization_goal

    def _worker(self, gp: G, p: P, mode: str) -> None:
        """gcBgMarkWorker, one stint on p: drain (one unit of work per scheduled
        step) until no work is left, or, for a fractional worker, its share is
        used up, or, for an idle one, a goroutine is waiting for a P (pollWork).
        Then account the time; the last worker out of work finishes the mark."""
        sched, ctl = self.rt.sched, self.rt.gc_controller
        marker = self.marker
        assert marker is not None
        start_ns = p.clock_ns
        check_at = marker.stats.words_scanned * 8 + DRAIN_CHECK_THRESHOLD
        while True:
            sched.switch_point(gp)
            if self.check_each_step:
                self.check_invariant()  # after whatever step came before this one
            if self.phase != GCPhase.MARK:
                break
            was_root = bool(self.root_jobs)
            if not self._mark_step(gp):
                break
            # gcDrain's check, for the workers that stop early: after each root job
            # and after every drainCheckThreshold bytes of scan work.
            if mode != "dedicated" and (was_root or marker.stats.words_scanned * 8 >= check_at):
                check_at = marker.stats.words_scanned * 8 + DRAIN_CHECK_THRESHOLD
                if mode == "fractional" and self._poll_fractional_exit(p, start_ns):
                    break
                if mode == "idle" and sched.runq:  # pollWork: a goroutine wants the P
                    break
        duration = p.clock_ns - start_ns
        ctl.mark_worker_stop(mode, duration)
        if mode == "fractional":
            p.gc_fractional_mark_ns += duration
        elif mode == "idle":
            self.rt.gc_cpu_limiter.add_idle_time(duration)  # limiterEventIdleMarkWork
        self.active_workers -= 1
        self.worker_pool.append(gp)
        # The last worker out, with no work anywhere: gcMarkDone.
        last = self.active_workers == 0 and self.phase == GCPhase.MARK
        if last and not self.mark_work_available(None):
            self._mark_done()

    def _mark_done(self) -> None:
        """gcMarkDone: flush every P's write-barrier buffer and gcWork (the ragged
        barrier); if that found grey objects, marking goes on, else mark termination."""
        marker = self.marker
        assert marker is not None
        if self.barrier.pending() or marker.has_grey():
            self.barrier.flush_all(marker)
            marker.flush_all()
            self.last_work = "gcMarkDone: flush found work, mark goes on"
            if marker.has_grey():
                for p in self.rt.ps:  # the Ps take up the work at their next schedule()
                    self.rt.sched.resched.append(p)
                return
        self.last_work = "no work left: mark termination"
        self._mark_termination()

    def _mark_step(self, gp: G) -> bool:
        """One unit of mark work from p's gcWork, the global list or the root jobs."""
        marker = self.marker
        assert marker is not None
        st = marker.stats
        words, objs = st.words_scanned, st.objects_marked
        marker.use(gp.p.id if gp.p is not None else 0)
        if self.root_jobs:
            job = self.root_jobs.popleft()
            self._scan_root_job(job)
            self.last_work = "root: " + (
                f"stack of goroutine {job.goid} ({job.name})" if isinstance(job, G) else str(job)
            )
        elif obj := marker.pop():
            marker.scanobject(obj)
            self.last_work = f"scan object {obj:#x}"
        elif gp.p is not None and self.barrier.buffers.get(gp.p.id):
            self.barrier.flush(marker, gp.p.id)  # wbBufFlush: this P's buffer, then retry
            self.last_work = "flush this P's write-barrier buffer"
        else:
            self.last_work = "no work for this P"
            return False
        ns = self._mark_cost(st.words_scanned - words, st.objects_marked - objs)
        if gp.p is not None:
            gp.p.clock_ns += ns
        self._flush_bg_credit(8 * (st.words_scanned - words))  # scan work: bytes scanned
        self._report_work()
        return True

    def _report_work(self) -> None:
        """The scan work so far goes to the pacer (gcw's counters flushed)."""
        marker = self.marker
        if marker is None:
            return
        st, ctl = marker.stats, self.rt.gc_controller
        ctl.heap_scan_work = st.scan_bytes
        ctl.stack_scan_work = st.stack_scan_bytes
        ctl.globals_scan_work = st.globals_scan_bytes

    # -- mark assist --------------------------------------------------------------

    def _flush_bg_credit(self, work: int) -> None:
        """gcFlushBgCredit: the worker's scan work pays parked assists first, then banks."""
        ctl = self.rt.gc_controller
        per_work = 1.0 / ctl.assist_work_per_byte if ctl.assist_work_per_byte else 0.0
        while work > 0 and self.assist_queue:
            g = self.assist_queue[0]
            need = int(-g.gc_assist_bytes / per_work) + 1 if per_work else 0
            if work >= need:
                g.gc_assist_bytes = 0
                work -= need
                self.assist_queue.pop(0)
                self.rt.sched.ready(g)
            else:
                g.gc_assist_bytes += int(per_work * work)
                work = 0
        self.bg_scan_credit += work

    def charge(self, g: G, nbytes: int) -> None:
        """deductAssistCredit: an allocation of nbytes (the slot size) during mark."""
        g.gc_assist_bytes -= nbytes
        if g.gc_assist_bytes < 0:
            self.assist(g)

    def assist(self, g: G) -> None:
        """gcAssistAlloc: g is in debt; steal background credit, then scan, else park."""
        ctl = self.rt.gc_controller
        marker = self.marker
        if marker is None:
            return
        limiter = self.rt.gc_cpu_limiter
        if limiter.limiting():
            return  # the CPU limiter is on: no assists, the heap may overshoot instead
        self.assists += 1
        work_per_byte = ctl.assist_work_per_byte
        bytes_per_work = 1.0 / work_per_byte if work_per_byte else float("inf")
        debt = -g.gc_assist_bytes
        scan_work = int(work_per_byte * debt)
        if scan_work < GC_OVER_ASSIST_WORK:
            scan_work = GC_OVER_ASSIST_WORK
            debt = int(bytes_per_work * scan_work) if work_per_byte else debt
        credit = self.bg_scan_credit
        if credit > 0:  # steal the workers' banked credit first
            if credit < scan_work:
                stolen = credit
                g.gc_assist_bytes += 1 + int(bytes_per_work * stolen) if work_per_byte else debt
            else:
                stolen = scan_work
                g.gc_assist_bytes += debt
            self.bg_scan_credit -= stolen
            scan_work -= stolen
            if scan_work <= 0:
                return
        # gcDrainN: do scan work (roots first, then grey objects) up to scan_work.
        st = marker.stats
        marker.use(g.p.id if g.p is not None else 0)
        words0, objs0 = st.words_scanned, st.objects_marked
        while (st.words_scanned - words0) * 8 < scan_work and not limiter.limiting():
            if self.root_jobs:
                self._scan_root_job(self.root_jobs.popleft())
            elif obj := marker.pop():
                marker.scanobject(obj)
            else:
                break
        done = (st.words_scanned - words0) * 8
        ns = self._mark_cost(st.words_scanned - words0, st.objects_marked - objs0)
        ctl.assist_time += ns
        self._report_work()
        limiter.add_assist_time(ns)
        now = g.p.clock_ns if g.p is not None else self.rt.sched.now
        if limiter.need_update(now):
            limiter.update(now)
        if g.p is not None:
            g.p.clock_ns += ns
        g.gc_assist_bytes += 1 + int(bytes_per_work * done) if work_per_byte else debt
        if self.active_workers == 0 and not self.mark_work_available(None):
            self._mark_done()  # this assist took the last of the work
        if g.gc_assist_bytes < 0 and self.phase == GCPhase.MARK and not limiter.limiting():
            # gcParkAssist: wait for the workers' credit (or the end of the cycle).
            self.assist_queue.append(g)
            self.rt.sched.park(g)

    def _mark_cost(self, words: int, objects: int) -> int:
        """Simulated ns of marking: scan_word per word scanned, mark_object per object."""
        costs = self.rt.costs
        return words * costs.scan_word + objects * costs.mark_object

    def after_alloc(self, g: G, x: int, nbytes: int) -> None:
        """What mallocgc does for the collector once x (a slot of nbytes) is allocated
        by g: during mark, allocate black and charge g's assist debt (x is live in g's
        registers meanwhile, so a parked assist keeps it as a root); otherwise test
        the heap trigger."""
        if self.phase:
            self.allocated(x)
            g.inflight = x
            self.charge(g, nbytes)
            g.inflight = 0
        elif self.rt.gc_controller.heap_live >= self.trigger:
            self.start(forced=False, inflight=x)  # gcTrigger{kind: gcTriggerHeap}

    def allocated(self, x: int) -> None:
        """An object allocated during mark is black (gcmarknewobject)."""
        if self.phase == GCPhase.MARK and self.marker is not None:
            s = self.rt.heap.span_of(x)
            if s is not None:
                gcmarknewobject(self.marker, s, x)

    def _mark_termination(self) -> CycleRecord:
        """gcMarkDone + gcMarkTermination (STW), then the sweep."""
        rt = self.rt
        sched, costs, heap = rt.sched, rt.costs, rt.heap
        marker = self.marker
        assert marker is not None
        procs = len(rt.ps)
        t_mark_term = sched.now
        heap1 = rt.gc_controller.heap_live
        self.phase = GCPhase.MARK_TERMINATION
        sched.gc_worker = sched.idle_worker = None  # no more mark workers
        rt.gc_cpu_limiter.start_gc_transition(False, t_mark_term)
        sched.stop_the_world("GC mark termination", costs.stw_base)
        ctl = rt.gc_controller
        self._report_work()
        ctl.end_cycle(t_mark_term, procs, bool(self._cycle["forced"]))
        ctl.blacken_enabled = False
        if self.barrier.mode == "dijkstra":
            for g in sched.allgs:  # insertion barrier: rescan every stack, world stopped
                if g.status != GStatus.DEAD and not g.system:
                    g.stack_scanned = False
                    self._scanstack(g)
        self.barrier.flush_all(marker)
        marker.drain()  # with the world stopped, whatever the rescan and flush found
        if self.root_jobs or marker.has_grey() or self.barrier.pending():
            raise RuntimeThrow("gcMarkTermination: mark work left after the final drain")
        if self.check_after_cycle:
            marked = [b for b in self._unreachable_at_start if self.colour(b) != "white"]
            if marked:
                raise RuntimeThrow(
                    f"GC marked {len(marked)} blocks unreachable at mark start, e.g. {marked[0]:#x}"
                )
            self.checkmark()
        marker.queues.release()  # freeSomeWbufs: the work buffers' spans go back
        st = marker.stats
        t_end = sched.now
        rt.heap.pages.scav_index.next_gen()  # peak heap in use: sweeping is about to start
        rt.gc_cpu_limiter.finish_gc_transition(t_end)
        self.phase = GCPhase.OFF
        rt.write_barrier_enabled = False
        heap.sweepgen += 2  # every span now needs sweeping
        if self.on_phase is not None:
            self.on_phase("mark termination")
        goal = ctl.last_heap_goal
        self._report_work()
        ctl.reset_live(st.bytes_marked)
        self.last_heap_in_use = ctl.heap_in_use.nbytes  # memstats.lastHeapInUse
        rt.flush_mcaches()  # prepareForSweep: cached spans are stale and get swept
        heap.pages_swept = 0  # gcSweep: a new sweep cycle
        if self.lazy_sweep and self.rt.sched.current is not None:
            # Sweep lazily: allocation (mcentral.cache_span, mheap.reclaim) and the
            # background sweeper take the spans one by one from now on.
            spans = pages = 0
            self.sweep_done = False
            assert self._sweep_g is not None
            if self._sweep_g.status == GStatus.DEAD:  # else it is still sweeping: it goes on
                rt.start_system_g(self._sweep_g, self._bgsweep, self._worker_p(1001))
        else:
            spans, pages = self.finish_sweep()
        self.controller_commit()
        for c in rt.mcaches:
            rt.stackalloc.cache_release_all(c)  # stackcache_clear
        rt.next_gc = ctl.heap_goal()
        # gcTrigger{kind: gcTriggerTime}: only with GOGC on, and only after a first cycle.
        self.periodic_deadline = t_end + FORCE_GC_PERIOD if ctl.gc_percent >= 0 else MAX_TIME
        t0 = int(self._cycle["t0"])
        mark_ns = ctl.dedicated_mark_time + ctl.fractional_mark_time
        # GCCPUFraction counts pauses, assists and dedicated/fractional marking, not idle.
        self.gc_cpu_ns += procs * (int(self._cycle["t_mark"]) - t0) + mark_ns + ctl.assist_time
        self.gc_cpu_ns += procs * (t_end - t_mark_term)
        record = CycleRecord(
            n=len(self.cycles) + 1,
            t_sweep_term=t0,
            t_mark=int(self._cycle["t_mark"]),
            t_mark_term=t_mark_term,
            t_end=t_end,
            heap0=int(self._cycle["heap0"]),
            heap1=heap1,
            heap2=st.bytes_marked,
            goal=goal,
            stacks=ctl.last_stack_scan,
            globals=ctl.globals_scan,
            assist_ns=ctl.assist_time,
            mark_ns=mark_ns,
            idle_ns=ctl.idle_mark_time,
            procs=procs,
            forced=bool(self._cycle["forced"]),
            objects_marked=st.objects_marked,
            words_scanned=st.words_scanned,
            spans_swept=spans,
            pages_freed=pages,
        )
        self.cycles.append(record)
        self.marker = None
        if self.gctrace:
            total = max(sched.now * procs, 1)
            self.trace.append(gctrace_line(record, self.gc_cpu_ns / total))
        if self.check_after_cycle:
            problems = self.check_reachable()
            if problems:
                raise RuntimeThrow("GC lost reachable objects: " + "; ".join(problems[:3]))
        waiters, self.waiters = self.waiters, []
        for g in waiters:
            sched.ready(g)
        for g in self.assist_queue:  # the cycle is over: nobody owes scan work any more
            g.gc_assist_bytes = 0
            sched.ready(g)
        self.assist_queue = []
        self.bg_scan_credit = 0
        return record

    def gc(self, g: G | None) -> None:
        """runtime.GC: a full cycle; the calling goroutine g waits for it (None: run it now)."""
        if g is None or self.stop_the_world_mark:
            if self.phase == GCPhase.OFF:
                self.run_cycle(forced=True)
            return
        sched = self.rt.sched
        while self.phase != GCPhase.OFF:  # a cycle is running: wait for its end first
            self.waiters.append(g)
            sched.park(g)
        self.start(forced=True)
        self.waiters.append(g)
        sched.park(g)
        self.finish_sweep()  # runtime.GC sweeps to completion before it returns

    def colour(self, addr: int) -> str:
        """The tri-colour of the object at addr: white, grey, black -- or free."""
        heap = self.rt.heap
        s = heap.span_of(addr)
        if s is None or s.state != SpanState.IN_USE:
            return "free"
        idx = s.object_index(addr)
        if not s.is_allocated(idx):
            return "free"
        if not s.gcmark_bits >> idx & 1:
            return "white"
        base = s.start_addr + idx * s.elemsize
        marker = self.marker
        if marker is not None and (
            base in marker.grey_objects() or base in self.barrier.buffered()
        ):
            return "grey"
        return "black"

    def check_reachable(self) -> list[str]:
        """Walk the heap from every root; report each reachable object that is freed.

        A pointer is followed when it points into a heap arena; it must land in an
        allocated slot of an in-use span. Returns one line per violation (empty: OK).
        """
        return self._walk()[0]

    def _object_refs(self, base: int) -> list[int]:
        """The heap objects (block bases) the block at base points to."""
        rt = self.rt
        s = rt.heap.span_of(base)
        assert s is not None
        out = []
        for w in type_pointers_of(rt.process, s, base, rt.type_at):
            v = rt.process.load64(w)
            if v and rt.heap.in_arena(v):
                found = self.marker.find_object(v) if self.marker is not None else None
                if found is not None:
                    out.append(found[2])
        return out

    def check_invariant(self) -> None:
        """The invariant the barrier promises, checked between two steps of the mark.

        dijkstra keeps the strong invariant: no black object points to a white one.
        yuasa, hybrid and go keep the weak one: a white object a black one points to
        is reachable from a grey object (a queued one, a buffered pointer, or a slot
        of a stack or global not yet scanned) through white objects only.
        """
        marker = self.marker
        if marker is None or self.phase != GCPhase.MARK or self.barrier.mode == "none":
            return
        rt = self.rt
        greyq = marker.grey_objects()
        buffered = set()
        for p in self.barrier.buffered():
            found = marker.find_object(p)
            if found is not None:
                buffered.add(found[2])
        grey = greyq | buffered
        black_to_white: list[tuple[int, int]] = []
        for base in self.allocated_blocks():
            c = self.colour(base)
            if c != "black" or base in grey:
                continue
            for t in self._object_refs(base):
                if self.colour(t) == "white" and t not in grey:
                    black_to_white.append((base, t))
        if not black_to_white:
            return
        if self.barrier.mode == "dijkstra":
            b, w = black_to_white[0]
            raise RuntimeThrow(f"strong invariant: black {b:#x} points to white {w:#x}")
        # Grey sources: queued and buffered objects, unscanned stacks' and globals' targets.
        sources = set(grey)
        pending = set(map(id, self.root_jobs))
        roots: list[int] = []
        if "globals" in self.root_jobs:
            roots.extend(rt.global_roots())
        for g in rt.sched.allgs:
            if g.status != GStatus.DEAD and not g.stack_scanned:
                roots.extend(rt.stack_roots(g))
                if g.inflight:
                    found = marker.find_object(g.inflight)
                    if found is not None:
                        sources.add(found[2])
        del pending
        for a in roots:
            v = rt.process.load64(a)
            found = marker.find_object(v) if v else None
            if found is not None:
                sources.add(found[2])
        protected: set[int] = set()
        todo = [b for b in sources]
        while todo:
            b = todo.pop()
            for t in self._object_refs(b):
                if t not in protected and self.colour(t) == "white":
                    protected.add(t)
                    todo.append(t)
        for b, w in black_to_white:
            if w not in protected and w not in sources:
                raise RuntimeThrow(
                    f"weak invariant: black {b:#x} points to white {w:#x}, "
                    "which no grey object reaches through white ones"
                )

    def checkmark(self) -> None:
        """mcheckmark.go's check, at mark termination with the world stopped: re-mark
        everything reachable from the roots and require each such block to be marked
        already. A reachable white block is the lost object before it is lost."""
        problems, reachable = self._walk()
        white = sorted(b for b in reachable if self.colour(b) == "white")
        if problems or white:
            what = problems[:1] or [f"reachable block {white[0]:#x} is white"]
            raise RuntimeThrow(f"checkmark: {len(white)} reachable blocks unmarked; {what[0]}")

    def allocated_blocks(self) -> set[int]:
        """The base of every allocated block (slot) of every in-use heap span."""
        out: set[int] = set()
        for s in self.rt.heap.spans():
            if s.state != SpanState.IN_USE:
                continue
            bits, i = s.allocated_slots() & ~s.freed, 0
            while bits:
                if bits & 1:
                    out.add(s.start_addr + i * s.elemsize)
                bits >>= 1
                i += 1
        return out

    def _walk(self) -> tuple[list[str], set[int]]:
        """(violations, bases of the reachable blocks) of a walk from every root."""
        rt = self.rt
        heap = rt.heap
        load64 = rt.process.load64
        problems: list[str] = []
        seen: set[int] = set()
        # Work items: (a word's address, or a pointer value itself; is it a value?; where).
        work: list[tuple[int, bool, str]] = [
            (a, False, f"global word {a:#x}") for a in rt.global_roots()
        ]
        for g in rt.sched.allgs:
            if g.addr:  # allgs keeps every g record alive, dead goroutines' too
                work.append((g.addr, True, f"g record of goroutine {g.goid}"))
            if g.status != GStatus.DEAD:
                work.extend(
                    (a, False, f"stack of goroutine {g.goid} ({g.name})") for a in rt.stack_roots(g)
                )
                if g.inflight:
                    work.append((g.inflight, True, f"goroutine {g.goid}'s result in flight"))
        while work:
            item, is_value, where = work.pop()
            p = item if is_value else load64(item)
            if not p or not heap.in_arena(p):
                continue
            s = heap.span_of(p)
            if s is not None and s.state == SpanState.MANUAL:
                continue  # a pointer into a goroutine stack
            if s is None or s.state != SpanState.IN_USE or not s.start_addr <= p < s.limit:
                problems.append(f"{p:#x}, reachable from {where}, is in no allocated object")
                continue
            idx = s.object_index(p)
            base = s.start_addr + idx * s.elemsize
            if not s.is_allocated(idx) or s.freed >> idx & 1:
                problems.append(
                    f"object {base:#x} ({s.elemsize} B), reachable from {where}, was freed"
                )
                continue
            if base in seen:
                continue
            seen.add(base)
            for w in type_pointers_of(rt.process, s, base, rt.type_at):
                work.append((w, False, f"object {base:#x}"))
        return problems, seen


__all__ = ["Collector", "CycleRecord", "GCPhase", "fmt_ns_as_ms", "gctrace_line"]
