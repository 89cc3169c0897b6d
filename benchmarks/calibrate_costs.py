"""Measure gomem's simulated-time cost table on this machine, with real Go.

Builds benchmarks/calibrate/ (a Go program; its main.go says what each
experiment times) with the installed toolchain and a private GOCACHE, runs
its experiments, derives every field of gomem.runtime.cost.CostTable from
the raw timings, and prints the table as TOML:

    [costs]
    alloc_tiny = 9  # measured 8.52 ns: ...

which load_costs() reads and which can be pasted into DEFAULT_COSTS; or,
with --json, the figures, their derivations and the raw timings as JSON.

Every experiment set runs --passes times (default 3), each time in a fresh
process; each raw timing is the least over the passes, so that a pass slowed
by the host (a shared, virtual machine) does not count. Costs are rounded to
the nearest ns, and are at least 1 ns: the clock cannot charge less.

Usage: python benchmarks/calibrate_costs.py [--passes N] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from gomem.oracle import toolchain
from gomem.oracle.toolchain import ToolchainError
from gomem.runtime.cost import CostTable
from gomem.runtime.msize import size_to_class
from gomem.runtime.sizeclasses import CLASS_TO_ALLOCNPAGES, CLASS_TO_SIZE, PAGE_SHIFT

GO_SOURCE = Path(__file__).resolve().parent / "calibrate"

# (experiments, GOMAXPROCS, GODEBUG) of each run of the program. A starting
# stack of exactly 2 KiB (adaptivestackstart=0) makes the stack growths countable.
RUNS: tuple[tuple[tuple[str, ...], int, str | None], ...] = (
    # First in its process: it needs memory that was never allocated.
    (("fresh",), 1, None),
    (("loops", "alloc", "gc", "stack", "sched", "os", "stw"), 1, "adaptivestackstart=0"),
    # A GC running on the other P turns the write barrier on for this one.
    (("wb",), 2, None),
)
STACK_GUARD = 928  # runtime.stackGuard on linux/amd64
STACK_START = 2048  # runtime.fixedStack: a new goroutine's stack


@dataclasses.dataclass(frozen=True)
class Figure:
    """One derived cost: the unrounded value and how it was derived."""

    ns: float  # the measured cost, in ns (before rounding)
    how: str  # the derivation, one line

    @property
    def rounded(self) -> int:
        """The cost in whole ns: rounded to nearest, at least 1."""
        return max(1, int(self.ns + 0.5))


def build(tmp: Path) -> Path:
    return toolchain.build(GO_SOURCE, tmp / "calibrate", tmp / "gocache")


def run_once(binary: Path) -> dict[str, float]:
    """One pass: every run of RUNS, merged into one mapping KEY -> value."""
    raw: dict[str, float] = {}
    for experiments, procs, godebug in RUNS:
        env = {"GOMAXPROCS": str(procs), "GOGC": "off", "GOMEMLIMIT": "off"}
        result = toolchain.run(binary, *experiments, godebug=godebug, env=env)
        if result.returncode != 0:
            raise ToolchainError(f"calibrate {' '.join(experiments)}: {result.stderr.strip()}")
        for line in result.stdout.splitlines():
            key, value = line.split()
            raw[key] = float(value)
    return raw


def measure(binary: Path, passes: int) -> dict[str, float]:
    """The least of each raw figure over `passes` passes (the most, for fault counts)."""
    runs = [run_once(binary) for _ in range(passes)]
    pick = {k: (max if k.endswith("_faults") else min) for k in runs[0]}
    return {k: pick[k](r[k] for r in runs) for k in runs[0]}


def objects_per_span(size: int) -> int:
    c = size_to_class(size)
    return (CLASS_TO_ALLOCNPAGES[c] << PAGE_SHIFT) // CLASS_TO_SIZE[c]


def derive(raw: Mapping[str, float]) -> dict[str, Figure]:
    """Every CostTable field, from the raw timings of one measure()."""
    f: dict[str, Figure] = {}
    empty = raw["loop_empty"]

    # -- mallocgc. Each kind is a loop `sinkPtr = new(T)`, ns/op minus the same
    # loop storing one preallocated pointer (base), memory reused (no faults).
    base = raw["alloc_baseline"]
    # The refill, from allocations in memory never used before (not zeroed, not
    # touched): ns = F + R/objects_per_span for 64-byte objects (128 per span)
    # and for 8 KiB ones (one per span), less the faults of new mspan structs.
    fault = raw["page_fault"]
    fresh = {
        s: raw[f"fresh_noscan{s}"] - raw[f"fresh_noscan{s}_faults"] * fault for s in (64, 8192)
    }
    n64 = objects_per_span(64)
    refill = (fresh[8192] - fresh[64]) * n64 / (n64 - 1)
    f["mcache_refill"] = Figure(
        refill,
        f"new([8192]byte) {raw['fresh_noscan8192']:.1f} ns/op vs new([64]byte) "
        f"{raw['fresh_noscan64']:.2f} in never-used memory, each less its faults "
        f"({raw['fresh_noscan8192_faults']:.3f}/op x page_fault): R in F + R/objs_per_span "
        f"(F = {fresh[64] - base - refill / n64:.1f}); a 1-page span from mcentral.grow",
    )
    for field, key, n, what in (
        # Two 8-byte tiny objects share a 16-byte block.
        ("alloc_tiny", "alloc_tiny8", 2 * objects_per_span(16), "new([8]byte), tiny"),
        ("alloc_small_noscan", "alloc_noscan64", objects_per_span(64), "new([64]byte)"),
        ("alloc_small_scan", "alloc_scan64", objects_per_span(64), "new(64 B, 1 pointer)"),
        ("alloc_small_header", "alloc_header520", objects_per_span(528), "new(520 B, 1 pointer)"),
    ):
        ns = raw[key] - base - refill / n
        f[field] = Figure(
            ns,
            f"{what}: {raw[key]:.2f} ns/op - loop {base:.2f} - refill/{n} "
            f"{refill / n:.2f}; faults/op {raw[key + '_faults']:.4f}",
        )
    # Large objects: the fixed part from never-used memory (no zeroing), the
    # per-page part from reused memory (zeroed), each fitted over 4 sizes.
    pages = np.array([5.0, 16.0, 32.0, 64.0])
    t = np.array([raw[f"fresh_large{p:.0f}"] for p in pages])
    t -= np.array([raw[f"fresh_large{p:.0f}_faults"] for p in pages]) * fault + base
    (large_base, fresh_slope), *_ = np.linalg.lstsq(
        np.column_stack([np.ones(len(pages)), pages]), t, rcond=None
    )
    reused = np.array([raw[f"alloc_large{p:.0f}"] for p in pages]) - base
    per_page = float(pages @ (reused - large_base) / (pages @ pages))
    f["alloc_large_base"] = Figure(
        large_base,
        "intercept of ns = base + s*npages over new([npages*8 KiB]byte), npages 5/16/32/64, "
        f"in never-used memory (not zeroed; less faults, s = {fresh_slope:.1f})",
    )
    f["alloc_large_per_page"] = Figure(
        per_page,
        "least-squares slope of (ns - alloc_large_base) vs npages over the same in reused "
        f"memory ({reused[0]:.0f} ns at 5 pages, {reused[-1]:.0f} at 64): mostly zeroing",
    )

    # -- the mutator's single operations: 50M-iteration loops, ns/iter.
    f["pointer_store"] = Figure(
        raw["loop_pointer_store"] - empty,
        f"a[i&63].next = q: {raw['loop_pointer_store']:.2f} ns/iter - empty loop {empty:.2f}",
    )
    extra = raw["wb_on_nil"] - raw["wb_off_nil"]
    f["pointer_store_wb"] = Figure(
        f["pointer_store"].ns + extra,
        f"pointer_store + barrier's extra {extra:.2f} (median 8192-store chunk with "
        f"writeBarrier.enabled {raw['wb_on_nil']:.2f} - disabled {raw['wb_off_nil']:.2f}, "
        "GOMAXPROCS=2, nil stores: buffer path, flushes shade nothing; a marked pointer "
        f"adds {(raw['wb_on_marked'] - raw['wb_on_nil']) / 2:.1f} per buffered pointer)",
    )
    f["pointer_load"] = Figure(
        raw["loop_pointer_load"],
        "p = p.next around a 64-node ring in L1: load-to-use latency, loop hidden under it",
    )
    f["scalar_store"] = Figure(
        raw["loop_scalar_store"] - empty,
        f"a[i&63].v = i: {raw['loop_scalar_store']:.2f} ns/iter - empty loop {empty:.2f}",
    )
    f["call"] = Figure(
        raw["loop_call"] - empty,
        f"s = callee(s), not inlined: {raw['loop_call']:.2f} ns/iter - empty loop {empty:.2f}",
    )

    # -- the collector. Mark CPU is /cpu/classes/gc/mark/{assist,dedicated,idle}
    # of runtime.GC() over a live []*node of W words, least of 5.
    words = raw["gc_words"]
    scan = (raw["gc_mark_same"] - raw["gc_mark_empty"]) / words
    nil_word = (raw["gc_mark_nil"] - raw["gc_mark_empty"]) / words
    f["scan_word"] = Figure(
        scan,
        f"mark CPU of {words:.0f} words all pointing at one marked object, minus an "
        f"empty heap's, per word (a nil word: {nil_word:.1f})",
    )
    f["mark_object"] = Figure(
        (raw["gc_mark_distinct"] - raw["gc_mark_same"]) / words - scan,
        "mark CPU with each word pointing at its own 16-byte object (one pointer, to a "
        "marked object) minus all pointing at one, per object, minus the object's scan_word",
    )
    spans = raw["sweep_spans"]
    f["sweep_span"] = Figure(
        (raw["sweep_garbage"] - raw["sweep_no_garbage"]) / spans,
        f"runtime.GC's time from mark termination to return, with {spans:.0f} 8 KiB spans "
        "of dead 16-byte objects minus with none, per span (sweep and free the span)",
    )
    f["stw_base"] = Figure(
        raw["gc_pause_per_cycle"] / 2,
        f"median MemStats.PauseNs of 200 runtime.GC() of an empty heap, GOMAXPROCS=1, / 2 "
        f"pauses per cycle (ReadMemStats, STW + read: {raw['readmemstats']:.0f})",
    )

    # -- goroutines and stacks.
    f["goroutine_create"] = Figure(
        raw["newproc"] - empty,
        "`go noop()` in batches of 200, G reused from the free list, best batch, per go",
    )
    f["goroutine_switch"] = Figure(
        raw["gosched_pair"] / 2, "two goroutines calling runtime.Gosched in turn, per switch"
    )
    frame = raw["stack_frame_bytes"]
    ks = [k for k in range(1, 10) if f"stack_grow_k{k}" in raw]
    # Growth j copies the used part of a full stack of STACK_START << j bytes:
    # about its size less the guard and half a frame.
    copied = [
        sum(max(0.0, (STACK_START << j) - STACK_GUARD - frame / 2) for j in range(k)) for k in ks
    ]
    grow = np.array([raw[f"stack_grow_k{k}"] for k in ks])
    # Relative least squares, so that the small stacks count as much as the large.
    a = np.column_stack([np.array(ks, float), np.array(copied) / 1024]) / grow[:, None]
    (copy_base, per_kib), *_ = np.linalg.lstsq(a, np.ones(len(ks)), rcond=None)
    fit = (
        f"fit ns = k*base + per_kib*KiB_copied over goroutines growing a 2 KiB stack k = "
        f"{ks[0]}..{ks[-1]} times ({frame:.0f}-byte frames; first run minus second, median of 200)"
    )
    f["stack_copy_base"] = Figure(copy_base, f"{fit}: base")
    f["stack_copy_per_kib"] = Figure(per_kib, f"{fit}: per KiB (frame adjusting included)")

    # -- the kernel.
    f["page_fault"] = Figure(
        raw["page_fault"],
        f"write one byte per 4 KiB page of a new 64 MiB MAP_ANON mapping (MADV_NOHUGEPAGE), "
        f"per page; {raw['page_fault_faults_per_page']:.2f} minor faults/page",
    )
    f["madvise_per_page"] = Figure(
        raw["madvise_dontneed_per_page"],
        "madvise(MADV_DONTNEED) of that touched mapping, per 4 KiB page",
    )
    return f


def machine() -> dict[str, str]:
    """Facts about this machine for the provenance header."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        thp = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text().strip()
    except OSError:
        thp = "unknown"
    return {
        "date": datetime.datetime.now(datetime.UTC).date().isoformat(),
        "cpu": model,
        "cpus": str(os.cpu_count()),
        "kernel": f"{platform.system()} {platform.release()}",
        "thp": thp,
    }


def format_toml(figures: Mapping[str, Figure], header: list[str]) -> str:
    """The cost table as TOML: header comments, then `[costs]` with `name = ns  # how`."""
    lines = [f"# {h}" for h in header] + ["[costs]"]
    for name in CostTable.field_names():
        fig = figures[name]
        lines.append(f"{name} = {fig.rounded}  # measured {fig.ns:.2f} ns: {fig.how}")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passes", type=int, default=3, help="runs of every experiment (least wins)")
    ap.add_argument("--json", action="store_true", help="print figures and raw timings as JSON")
    args = ap.parse_args()
    if args.passes < 1:
        ap.error("--passes must be at least 1")
    start = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="calibrate-") as tmp:
            binary = build(Path(tmp))
            raw = measure(binary, args.passes)
        version = toolchain.go_version()
    except ToolchainError as e:
        print(f"calibrate_costs: {e}", file=sys.stderr)
        sys.exit(1)
    figures = derive(raw)
    for name, fig in figures.items():
        if not math.isfinite(fig.ns):
            print(f"calibrate_costs: {name} came out {fig.ns} ({fig.how})", file=sys.stderr)
            sys.exit(1)
    facts = machine() | {"go": version, "seconds": f"{time.monotonic() - start:.1f}"}
    if args.json:
        out = {
            "machine": facts,
            "costs": {k: figures[k].rounded for k in CostTable.field_names()},
            "measured_ns": {k: round(figures[k].ns, 3) for k in CostTable.field_names()},
            "how": {k: figures[k].how for k in CostTable.field_names()},
            "raw": raw,
        }
        print(json.dumps(out, indent=2))
        return
    header = [
        f"gomem cost table (ns), measured by benchmarks/calibrate_costs.py on {facts['date']}",
        f"machine: {facts['cpu']}, {facts['cpus']} CPUs, {facts['kernel']}, THP {facts['thp']}",
        f"{version}, GOMAXPROCS=1 unless noted, GOGC off, MemProfileRate=0; "
        f"least of {args.passes} passes; {facts['seconds']} s",
    ]
    print(format_toml(figures, header), end="")


if __name__ == "__main__":
    main()
