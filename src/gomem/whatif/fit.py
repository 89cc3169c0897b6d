"""Fitting a what-if Workload to a real program's gctrace lines.

From GODEBUG=gctrace=1 output (any Go from 1.21 to 1.27, gctrace.py) of a
run with a steady live heap, using the steady half of the cycles (the
later half, forced cycles left out):

    live          the median heap marked less what the mark allocated
                  black (X->Y->Z: Z - (Y - X), in MB)
    alloc rate    bytes allocated between cycles (the next X - Z) over
                  the time from one's mark end to the next's start, less
                  the time of sweeping Y bytes of spans (sweep cost)
    sweep cost    not from the trace: the cost table's sweep of one span
                  (gomem.runtime.cost, measured on real Go) per byte of a
                  one-page span
    mark factor   the allocation rate during mark ((Y - X) over the mark's
                  clock time) relative to it: write barriers and black
                  allocation slow the mutator down while the GC marks
    scan rate     the live heap found (Z less Y - X: objects allocated
                  during the mark are black and never scanned) + stacks +
                  globals, per CPU-ms of marking (assist + background +
                  idle), so the scannable share is folded in (scannable = 1)
    procs         the P count the lines print
    mutator CPUs  procs less the Ps that marked (background + idle worker
                  time per ms of mark), at least 0.25
    background    the Ps the dedicated and fractional workers ran (their
    CPUs          time per ms of mark): under their 25% goal when idle
                  workers take the work first; the rest of the marking Ps
                  are idle workers, which the CPU limiter counts as idle
    stacks,
    globals       as printed (MB)

From the earlier (growing) half:

    start heap    the heap at the first cycle, when the trace starts at gc 1:
                  what the program allocated before its first collection
                  (the model allocates it at once with fill)
    fault cost    between cycles while the heap grows past every size it
                  had, the time beyond what the steady allocation rate
                  explains, per byte of new heap: the first touch of fresh
                  pages (page faults and the kernel's zeroing)

With the gcpacertrace lines of the same run (pacer=...), some come from the
pacer's own byte counts at the end of each mark instead:

    scan rate     heap + stack + globals scan work per CPU-second of marking
    scannable     heap scan work over the live heap found
    stacks,
    globals       the bytes scanned (the largest of the steady cycles)

gctrace prints MB truncated (>> 20) and ms with three significant digits:
the rates carry that error (1 MB per cycle; use runs with heaps of tens of
MB or more).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from typing import Any

from gomem.runtime.cost import DEFAULT_COSTS
from gomem.runtime.mheap import PAGE_SIZE
from gomem.whatif.gctrace import (
    GCTraceLine,
    PacerEnd,
    PacerLine,
    parse_gctrace_output,
    parse_pacertrace_output,
)
from gomem.whatif.model import Workload

MB = 1 << 20
# Sweeping, per heap byte: the cost table's mspan.sweep of one span (measured on
# real Go, gomem.runtime.cost) over a one-page span, the size of the small classes'
# spans that make up most of a heap.
SWEEP_COST = DEFAULT_COSTS.sweep_span * 1e-9 / PAGE_SIZE


def fit(
    lines: Sequence[GCTraceLine],
    *,
    object_size: int = 64,
    source: str = "gctrace",
    pacer: Sequence[PacerLine] | None = None,
) -> Workload:
    """The Workload whose rates the gctrace lines show; ValueError if too few cycles.

    With pacer, the gcpacertrace lines read from the same text (their line
    numbers pair each cycle's end-of-mark line with its gctrace line), the scan
    work is the pacer's own count in bytes: the scan rate is heap + stack +
    globals scan work per CPU-second of marking, the scannable share is the heap
    scan work over the live heap, and stacks and globals are the bytes scanned."""
    cycles = [ln for ln in lines if not ln.forced]
    if len(cycles) < 4:
        raise ValueError(
            f"{source}: need at least 4 unforced GC cycles to fit rates, not {len(cycles)}"
        )
    steady = cycles[len(cycles) // 2 :]
    # Marked = live + what was allocated black during the mark (Y - X).
    live = statistics.median(ln.heap2_mb - (ln.heap1_mb - ln.heap0_mb) for ln in steady) * MB
    allocated = elapsed = 0.0  # between cycles: from one's end to the next's start
    for a, b in zip(steady, steady[1:], strict=False):
        allocated += (b.heap0_mb - a.heap2_mb) * MB
        elapsed += _between(a, b)
    if allocated <= 0 or elapsed <= 0:
        raise ValueError(f"{source}: the steady cycles show no allocation to fit a rate to")
    alloc_rate = allocated / elapsed
    mark_alloc = sum((ln.heap1_mb - ln.heap0_mb) * MB for ln in steady)
    mark_s = sum(ln.clock_mark_ms for ln in steady) / 1000
    mark_factor = (mark_alloc / mark_s) / alloc_rate if mark_s > 0 else 1.0
    mark_cpu_ms = sum(ln.cpu_assist_ms + ln.cpu_background_ms + ln.cpu_idle_ms for ln in steady)
    # Objects allocated during the mark are allocated black and never scanned: the
    # work is the live heap found (Z less Y - X), the stacks and the globals.
    work = sum(
        (ln.heap2_mb - (ln.heap1_mb - ln.heap0_mb) + ln.stacks_mb + ln.globals_mb) * MB
        for ln in steady
    )
    scan_rate = work / (mark_cpu_ms / 1000) if mark_cpu_ms > 0 else 1e12
    scannable = 1.0
    stacks = steady[-1].stacks_mb * MB
    globals_ = steady[-1].globals_mb * MB
    if pacer is not None:
        ends = _pacer_ends(lines, pacer)
        paired = [(ln, ends[ln.cycle]) for ln in steady if ln.cycle in ends]
        if len(paired) < max(2, len(steady) // 2):
            raise ValueError(
                f"{source}: {len(paired)} of the {len(steady)} steady cycles have a "
                "gcpacertrace end-of-mark line (run with GODEBUG=gctrace=1,gcpacertrace=1)"
            )
        cpu_s = sum(ln.cpu_mark_ms for ln, _ in paired) / 1000
        heap_work = sum(e.heap_scan_work for _, e in paired)
        other = sum(e.stack_scan_work + e.globals_scan_work for _, e in paired)
        found = sum((ln.heap2_mb - (ln.heap1_mb - ln.heap0_mb)) * MB for ln, _ in paired)
        scan_rate = (heap_work + other) / cpu_s if cpu_s > 0 else 1e12
        scannable = min(heap_work / found, 1.0) if found > 0 else 1.0
        stacks = max(e.stack_scan_work for _, e in paired)
        globals_ = max(e.globals_scan_work for _, e in paired)
    procs = steady[-1].procs
    mark_ms = sum(ln.clock_mark_ms for ln in steady)
    # The Ps that marked (background and idle workers) per ms of mark: the rest ran
    # the mutator. (A fractional worker runs less than its 25% when idle workers
    # take the work first, so the two are counted together.)
    marking = sum(ln.cpu_background_ms + ln.cpu_idle_ms for ln in steady)
    marking_ps = marking / mark_ms if mark_ms > 0 else 0.25 * procs
    mutator = min(max(procs - marking_ps, 0.25), float(procs))
    background_ps = min(
        sum(ln.cpu_background_ms for ln in steady) / mark_ms if mark_ms > 0 else 0.25 * procs,
        procs - mutator,
    )
    return Workload(
        start_heap=cycles[0].heap0_mb * MB if cycles[0].cycle == 1 else 0,
        sweep_cost=SWEEP_COST,
        fault_cost=_fault_cost(cycles[: len(cycles) // 2], alloc_rate),
        live=int(live),
        alloc_rate=alloc_rate,
        mark_alloc_factor=min(max(mark_factor, 0.01), 1.0),
        scan_rate=max(scan_rate, 1.0),
        scannable=scannable,
        stacks=stacks,
        globals=globals_,
        procs=procs,
        mutator_cpus=mutator,
        background_cpus=background_ps,
        object_size=object_size,
    )


def fit_output(
    text: str, *, object_size: int = 64, source: str = "<gctrace>", pacertrace: bool = False
) -> Workload:
    """fit on a program's whole stderr capture: its gctrace lines (and, with
    pacertrace, its gcpacertrace lines) read as gctrace.parse_gctrace_output reads
    them. ValueError names source and the line for a bad line or too few cycles."""
    lines = parse_gctrace_output(text, source)
    pacer = parse_pacertrace_output(text, source) if pacertrace else None
    return fit(lines, object_size=object_size, source=source, pacer=pacer)


def _pacer_ends(lines: Sequence[GCTraceLine], pacer: Sequence[PacerLine]) -> dict[int, PacerEnd]:
    """Each cycle's end-of-mark pacer line: the last one printed before its gctrace
    line and after the previous cycle's (mark termination prints endCycle's line,
    then gctrace's)."""
    ends = sorted((p for p in pacer if isinstance(p, PacerEnd)), key=lambda p: p.lineno)
    out: dict[int, PacerEnd] = {}
    previous = 0
    i = 0
    for ln in sorted(lines, key=lambda ln: ln.lineno):
        found = None
        while i < len(ends) and ends[i].lineno < ln.lineno:
            if ends[i].lineno > previous:
                found = ends[i]
            i += 1
        if found is not None:
            out[ln.cycle] = found
        previous = ln.lineno
    return out


def _between(a: GCTraceLine, b: GCTraceLine) -> float:
    """The mutator's allocating time from cycle a's mark end to cycle b's start: the
    clock between them less the sweeping of a's heap (SWEEP_COST a byte)."""
    clock = b.start_s - a.start_s - (a.clock_sweep_term_ms + a.clock_mark_ms) / 1000
    return clock - SWEEP_COST * a.heap1_mb * MB


def _fault_cost(growing: Sequence[GCTraceLine], alloc_rate: float) -> float:
    """Seconds per heap byte of fresh memory: between the early cycles, while the
    heap grows past every size it had, the time over what the steady allocation
    rate explains, per byte beyond the largest heap before (the page faults)."""
    excess = fresh = 0.0
    high = 0  # the largest heap so far, MB
    for a, b in zip(growing, growing[1:], strict=False):
        high = max(high, a.heap0_mb, a.heap1_mb)
        new = b.heap0_mb - high
        allocated = (b.heap0_mb - a.heap2_mb) * MB
        if new > 0 and allocated > 0:
            excess += _between(a, b) - allocated / alloc_rate
            fresh += new * MB
    return max(excess / fresh, 0.0) if fresh > 0 else 0.0


def combine(workloads: Sequence[Workload]) -> Workload:
    """One Workload from the fits of several runs of the same program: the median of
    each fitted number (a run's rates move by 10-30% with what else the machine
    does; the median of three or more holds still). The procs, object size and
    fill of the first are kept."""
    if not workloads:
        raise ValueError("combine: no fitted runs")
    first = workloads[0]
    keep = {"procs", "object_size", "fill"}
    medians: dict[str, Any] = {}
    for f in dataclasses.fields(first):
        if f.name in keep:
            continue
        value = statistics.median(getattr(w, f.name) for w in workloads)
        medians[f.name] = int(value) if isinstance(getattr(first, f.name), int) else value
    return dataclasses.replace(first, **medians)


__all__ = ["combine", "fit", "fit_output"]
