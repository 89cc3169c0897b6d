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

This first step of the collector marks with the world stopped for the
whole mark phase, as GODEBUG=gcstoptheworld=1 makes Go do; the
concurrent mark with its workers, write barriers and assists builds on
the same Marker. Pause lengths and mark time come from the cost table:
stw_base per stop, scan_word per word scanned and mark_object per
object marked.

The gctrace line is Go's, field for field:
`gc N @T.TTTs U%: a+b+c ms clock, d+e/f/g+h ms cpu, X->Y->Z MB,
G MB goal, S MB stacks, L MB globals, P P (forced)`, with Go's
truncating number formatting (fmtNSAsMS, itoaDiv, >>20 for MB).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from gomem.runtime.mgcmark import Marker
from gomem.runtime.mgcsweep import sweep_span
from gomem.runtime.mheap import PAGE_SIZE, SpanState

if TYPE_CHECKING:
    from gomem.runtime.runtime import Runtime

HEAP_MINIMUM = 4 << 20  # defaultHeapMinimum (GOGC=100)


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


def gctrace_line(r: CycleRecord, cpu_fraction: float, assist_ns: int, mark_ns: int) -> str:
    """One GODEBUG=gctrace=1 line for cycle r."""
    marks = (r.t_sweep_term, r.t_mark, r.t_mark_term, r.t_end)
    clock = "+".join(fmt_ns_as_ms(b - a) for a, b in zip(marks, marks[1:], strict=False))
    stw1 = r.procs * (r.t_mark - r.t_sweep_term)
    stw2 = r.procs * (r.t_end - r.t_mark_term)
    cpu = (
        f"{fmt_ns_as_ms(stw1)}+{fmt_ns_as_ms(assist_ns)}/{fmt_ns_as_ms(mark_ns)}/"
        f"{fmt_ns_as_ms(0)}+{fmt_ns_as_ms(stw2)}"
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
        self.gcpercent = 100  # GOGC; None-like -1 means off
        self.heap_marked = 0  # bytes marked by the last cycle
        self.gc_cpu_ns = 0  # CPU time spent in the collector, all cycles
        self.trace: list[str] = []  # gctrace lines, when enabled
        self.gctrace = False
        self.trigger = self.heap_trigger()  # heap_live at which allocation starts a cycle

    def set_gc_percent(self, percent: int) -> None:
        """GOGC / debug.SetGCPercent: a negative value turns the collector off."""
        self.gcpercent = percent
        self.trigger = self.heap_trigger()

    def heap_trigger(self) -> int:
        """The plain controller's trigger: 45/64 of the way from heap marked to the goal
        (Go's lower bound for the trigger; the pacer computes the real one)."""
        if self.gcpercent < 0:
            return (1 << 64) - 1
        goal = self.heap_goal()
        return self.heap_marked + (goal - self.heap_marked) * 45 // 64

    def heap_goal(self) -> int:
        """The plain controller's goal: heap marked x (1 + GOGC/100), at least 4 MiB x GOGC/100."""
        if self.gcpercent < 0:
            return (1 << 64) - 1
        goal = self.heap_marked + self.heap_marked * self.gcpercent // 100
        return max(goal, HEAP_MINIMUM * self.gcpercent // 100)

    def finish_sweep(self) -> tuple[int, int]:
        """Sweep every span still unswept (sweepone until done); (spans, pages freed)."""
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

    def run_cycle(self, *, forced: bool) -> CycleRecord:
        """A whole cycle, marking with the world stopped, then a full sweep."""
        rt = self.rt
        sched, costs, heap = rt.sched, rt.costs, rt.heap
        procs = len(rt.ps)
        # Sweep termination (STW): finish the previous cycle's sweep, flush the mcaches.
        self.finish_sweep()
        rt.flush_mcaches()
        heap0 = rt.gc_controller.heap_live
        t0 = sched.now
        sched.stop_the_world("GC sweep termination", costs.stw_base)
        t_mark = sched.now
        self.phase = GCPhase.MARK
        marker = Marker(rt)
        marker.mark_roots()
        stack_bytes = sum(g.stack.hi - g.sched_sp for g in sched.allgs if g.frames)
        global_bytes = sum(t.size for _, _, t in rt.globals)
        marker.drain()
        for g in list(sched.allgs):
            if g.frames:
                rt.shrink_stack(g)  # scanstack shrinks a stack it finds mostly unused
        st = marker.stats
        mark_ns = st.words_scanned * costs.scan_word + st.objects_marked * costs.mark_object
        # The world stays stopped while marking (gcstoptheworld): the time passes on every P.
        t_mark_term = t_mark + mark_ns
        for p in rt.ps:
            p.clock_ns = max(p.clock_ns, t_mark_term)
        heap1 = rt.gc_controller.heap_live
        self.phase = GCPhase.MARK_TERMINATION
        sched.stop_the_world("GC mark termination", costs.stw_base)
        t_end = sched.now
        self.phase = GCPhase.OFF
        heap.sweepgen += 2  # every span now needs sweeping
        goal = self.heap_goal()
        self.heap_marked = st.bytes_marked
        rt.gc_controller.heap_live = st.bytes_marked  # resetLive
        rt.flush_mcaches()  # prepareForSweep: cached spans are stale and get swept
        spans, pages = self.finish_sweep()
        for c in rt.mcaches:
            rt.stackalloc.cache_release_all(c)  # stackcache_clear at mark termination
        rt.next_gc = self.heap_goal()
        self.trigger = self.heap_trigger()
        self.gc_cpu_ns += procs * (t_end - t0)
        record = CycleRecord(
            n=len(self.cycles) + 1,
            t_sweep_term=t0,
            t_mark=t_mark,
            t_mark_term=t_mark_term,
            t_end=t_end,
            heap0=heap0,
            heap1=heap1,
            heap2=st.bytes_marked,
            goal=goal,
            stacks=stack_bytes,
            globals=global_bytes,
            procs=procs,
            forced=forced,
            objects_marked=st.objects_marked,
            words_scanned=st.words_scanned,
            spans_swept=spans,
            pages_freed=pages,
        )
        self.cycles.append(record)
        if self.gctrace:
            total = max(sched.now * procs, 1)
            self.trace.append(gctrace_line(record, self.gc_cpu_ns / total, 0, mark_ns))
        return record

    def marked_bytes_of_live_spans(self) -> int:
        """Bytes of allocated blocks in in-use heap spans (after a full sweep: the marked ones)."""
        total = 0
        for s in self.rt.heap.spans():
            if s.state == SpanState.IN_USE:
                total += s.allocated_slots().bit_count() * s.elemsize
        return total


__all__ = ["PAGE_SIZE", "Collector", "CycleRecord", "GCPhase", "fmt_ns_as_ms", "gctrace_line"]
