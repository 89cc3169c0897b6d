"""Throughput of the textbook allocators on a 100,000-op synthetic trace.

Prints Kops/s (operations per second of wall-clock time / 1000) and peak
utilisation for implicit first fit, explicit first fit, segregated fit and
simple segregated storage, each on a fresh simulated process, best of 3.
Target (issue 3): >= 100 Kops/s for segregated fit.
Usage: python benchmarks/classic_throughput.py [--ops N] [--seed S] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform

from gomem.classic.driver import make_factory, run_trace
from gomem.classic.gen import generate_trace

ALLOCATORS = (
    ("implicit first fit", "implicit", "first"),
    ("explicit first fit", "explicit", "first"),
    ("segregated first fit", "segregated", "first"),
    ("segregated best fit", "segregated", "best"),
    ("simple segregated", "simple-segregated", "first"),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=100_000, help="operations in the trace")
    ap.add_argument("--seed", type=int, default=1, help="trace seed")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    trace = generate_trace("random", ops=args.ops, seed=args.seed)
    ops = list(trace)  # parse once, outside the timed runs
    rows = {}
    for label, lists, policy in ALLOCATORS:
        factory = make_factory(lists, policy)
        runs = [run_trace(ops, factory, name=trace.name) for _ in range(3)]
        best = max(runs, key=lambda r: r.kops)
        rows[label] = {"kops": best.kops, "util": best.util}
    if args.json:
        print(json.dumps({"ops": args.ops, "allocators": rows}, indent=2))
        return
    print(
        f"classic allocators, random trace of {args.ops:,} ops (seed {args.seed}), "
        f"{platform.python_implementation()} {platform.python_version()}, best of 3"
    )
    for label, r in rows.items():
        print(f"  {label:<22} {r['kops']:>8,.0f} Kops/s   util {100 * r['util']:5.1f}%")
    print("  target: segregated fit >= 100 Kops/s")


if __name__ == "__main__":
    main()
