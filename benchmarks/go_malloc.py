"""Allocations per second through the model's mallocgc, against the real Go runtime.

Prints, for one core, the model's rate (best of 3 timed runs of N allocations
on a fresh Runtime, after a warm-up of N/10 on the same Runtime) for
  - 64-byte pointer-free objects, rt.mallocgc(64): the mcache fast path,
  - 16-byte pointer-free objects (small noscan, class 2),
  - 8-byte pointer-free objects (tiny: two per 16-byte block),
  - 64-byte objects with a pointer, rt.new(struct{next *int; pad [7]int}) (small
    scan without header: heap bits written in the span),
  - 40,000-byte pointer-free objects (large: a 5-page span each),
and, when the Go toolchain is installed, the same allocations in a real Go
program (benchmarks/go_malloc/main.go, built here with a private GOCACHE):
Go's rate with GOGC=off, which like the model never collects, so the ratio
model/Go compares the allocation paths alone; and Go's rate with the default
GOGC=100, which includes the collector's share. Both Go runs use GOMAXPROCS=1.

Target: >= 500,000 allocations/s for pointer-free 64-byte objects.
Usage: python benchmarks/go_malloc.py [--n N] [--n-large N] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gomem.oracle import toolchain
from gomem.oracle.toolchain import ToolchainError
from gomem.runtime.runtime import Runtime
from gomem.runtime.type import INT, array_of, pointer, struct_of

GO_SOURCE = Path(__file__).resolve().parent / "go_malloc"
NODE = struct_of(("next", pointer(INT)), ("pad", array_of(INT, 7)))  # 64 B, one pointer

# (name as the Go program prints it, label, large?, one allocation on rt)
KINDS: tuple[tuple[str, str, bool, Callable[[Runtime], int]], ...] = (
    ("noscan64", "64-byte pointer-free", False, lambda rt: rt.mallocgc(64)),
    ("noscan16", "16-byte pointer-free", False, lambda rt: rt.mallocgc(16)),
    ("tiny8", "8-byte tiny", False, lambda rt: rt.mallocgc(8)),
    ("scan64", "64-byte with a pointer", False, lambda rt: rt.new(NODE)),
    ("large40000", "40,000-byte large", True, lambda rt: rt.mallocgc(40000)),
)


def _loop(kind: str, rt: Runtime, n: int) -> float:
    """Seconds for n allocations of kind on rt; the loop calls the public API directly."""
    if kind == "scan64":
        new = rt.new
        t = time.perf_counter()
        for _ in range(n):
            new(NODE)
        return time.perf_counter() - t
    size = {"noscan64": 64, "noscan16": 16, "tiny8": 8, "large40000": 40000}[kind]
    mallocgc = rt.mallocgc
    t = time.perf_counter()
    for _ in range(n):
        mallocgc(size)
    return time.perf_counter() - t


def bench_model(kind: str, n: int, repeat: int = 3) -> float:
    """Allocations per second: the best of `repeat` runs, each on a fresh, warmed Runtime."""
    best = float("inf")
    for _ in range(repeat):
        rt = Runtime()
        _loop(kind, rt, max(1, n // 10))  # warm up: spans cached, heap grown
        best = min(best, _loop(kind, rt, n))
    return n / best


def bench_go(n_small: int, n_large: int) -> dict[str, dict[str, float]]:
    """Go's allocations per second per kind, with GOGC=off and with GOGC=100.

    Raises ToolchainError if the toolchain is missing or the program fails."""
    rates: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="go_malloc-") as tmp:
        out = toolchain.build(GO_SOURCE, Path(tmp) / "gomalloc", Path(tmp) / "gocache")
        for gogc in ("off", "100"):
            env = {"GOGC": gogc, "GOMAXPROCS": "1", "GOMEMLIMIT": "off"}
            result = toolchain.run(out, str(n_small), str(n_large), "3", env=env)
            if result.returncode != 0:
                raise ToolchainError(f"gomalloc failed: {result.stderr.strip()}")
            rates[gogc] = {}
            for line in result.stdout.splitlines():
                name, ns = line.split()
                rates[gogc][name] = 1e9 / float(ns)
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="small allocations per timed run")
    ap.add_argument("--n-large", type=int, default=10_000, help="large allocations per run")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    model = {
        name: bench_model(name, args.n_large if large else args.n) for name, _, large, _ in KINDS
    }
    go_off: dict[str, float] = {}
    go_default: dict[str, float] = {}
    why = go_version = ""
    try:
        toolchain.goroot()
        go_version = toolchain.go_version()
        # Go is far faster: 5x the small iterations keep its timed runs above timer noise
        # (and, with GOGC=off, its heap under 400 MB).
        go = bench_go(5 * args.n, args.n_large)
        go_off, go_default = go["off"], go["100"]
    except ToolchainError as e:
        why = str(e)
    if args.json:
        figures = {"model": model, "go_version": go_version, "go_gogc_off": go_off}
        print(json.dumps(figures | {"go_gogc_100": go_default}, indent=2))
        return
    print(
        f"gomem mallocgc benchmark ({platform.python_implementation()} "
        f"{platform.python_version()}, one core, best of 3; "
        f"{args.n:,} small / {args.n_large:,} large allocations per run)"
    )
    if go_off:
        print(f"  real Go: {go_version}, GOMAXPROCS=1, 5x the small iterations, best of 3;")
        print("  model/Go is against Go with GOGC=off (no collector, like the model)")
        cols = f"{'model':>14}{'Go GOGC=off':>16}{'Go GOGC=100':>16}{'model/Go':>11}"
        print(f"  {'allocations/s':<24}{cols}")
    for name, label, _, _ in KINDS:
        line = f"  {label:<24}{model[name]:>14,.0f}"
        if go_off:
            line += f"{go_off[name]:>16,.0f}{go_default[name]:>16,.0f}"
            ratio = model[name] / go_off[name]
            line += f"{ratio:>11.4f}  (1/{1 / ratio:,.0f})"
        print(line)
    if not go_off:
        print(f"  (no real-Go comparison: {why})")
    print("  target: >= 500,000/s for pointer-free 64-byte objects")


if __name__ == "__main__":
    main()
