"""Fitting a what-if Workload to a real program's gctrace lines.

From GODEBUG=gctrace=1 output (any Go from 1.21 to 1.27, gctrace.py) of a
run with a steady live heap, using the steady half of the cycles (the
later half, forced cycles left out):

    live          the median heap marked less what the mark allocated
                  black (X->Y->Z: Z - (Y - X), in MB)
    alloc rate    bytes allocated between cycles (the next X - Z) over
                  the time from one's mark end to the next's start
    mark factor   the allocation rate during mark ((Y - X) over the mark's
                  clock time) relative to it: write barriers and black
                  allocation slow the mutator down while the GC marks
    scan rate     heap marked + stacks + globals per CPU-ms of marking
                  (assist + background + idle), so the scannable share is
                  folded in (scannable = 1)
    procs         the P count the lines print
    mutator CPUs  procs - 25% - the idle marking per ms of mark (the idle
                  Ps the mutator left to idle workers), at least 0.25
    stacks,
    globals       as printed

gctrace prints MB truncated (>> 20) and ms with three significant digits:
the rates carry that error (1 MB per cycle; use runs with heaps of tens of
MB or more).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from gomem.whatif.gctrace import GCTraceLine
from gomem.whatif.model import Workload

MB = 1 << 20


def fit(
    lines: Sequence[GCTraceLine], *, object_size: int = 64, source: str = "gctrace"
) -> Workload:
    """The Workload whose rates the gctrace lines show; ValueError if too few cycles."""
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
        elapsed += b.start_s - a.start_s - (a.clock_sweep_term_ms + a.clock_mark_ms) / 1000
    if allocated <= 0 or elapsed <= 0:
        raise ValueError(f"{source}: the steady cycles show no allocation to fit a rate to")
    alloc_rate = allocated / elapsed
    mark_alloc = sum((ln.heap1_mb - ln.heap0_mb) * MB for ln in steady)
    mark_s = sum(ln.clock_mark_ms for ln in steady) / 1000
    mark_factor = (mark_alloc / mark_s) / alloc_rate if mark_s > 0 else 1.0
    mark_cpu_ms = sum(ln.cpu_assist_ms + ln.cpu_background_ms + ln.cpu_idle_ms for ln in steady)
    work = sum((ln.heap2_mb + ln.stacks_mb + ln.globals_mb) * MB for ln in steady)
    scan_rate = work / (mark_cpu_ms / 1000) if mark_cpu_ms > 0 else 1e12
    procs = steady[-1].procs
    mark_ms = sum(ln.clock_mark_ms for ln in steady)
    idle_ps = sum(ln.cpu_idle_ms for ln in steady) / mark_ms if mark_ms > 0 else 0.0
    mutator = min(max(procs - 0.25 * procs - idle_ps, 0.25), float(procs))
    return Workload(
        live=int(live),
        alloc_rate=alloc_rate,
        mark_alloc_factor=min(max(mark_factor, 0.01), 1.0),
        scan_rate=max(scan_rate, 1.0),
        scannable=1.0,
        stacks=steady[-1].stacks_mb * MB,
        globals=steady[-1].globals_mb * MB,
        procs=procs,
        mutator_cpus=mutator,
        object_size=object_size,
    )


__all__ = ["fit"]
