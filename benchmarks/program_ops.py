"""Simulated operations per second of the program API.

Four goroutines on four Ps each allocate 64-byte objects (two pointer
fields and a 48-byte payload) and store a pointer into each new object,
interleaved one operation at a time by the round-robin scheduler: every
runtime operation is a switch point, most are greenlet switches. An
operation is one API call, as issue 5 defines it: g.new, g.store and the
frame-slot reads and writes (f.p, f.q = ...), five per iteration here
besides the new and the store. Switch points (the operations that go
through the scheduler: new and store) are printed too. Best of 5
(timings on this machine vary by 10-20% run to run). GOGC is off so the
figure is the API's own; the last row has the collector on (its
stop-the-world cycles mark the ever-growing lists).
Also printed: the same work on one P (no switches)
and with the precise-roots check on (debug=True).
Target (issue 5): >= 250,000 ops/s for the four-goroutine run.
Usage: python benchmarks/program_ops.py [--per-goroutine N] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from gomem.program import Program


def build(n: int) -> Program:
    prog = Program("bench")
    T = prog.struct("T", A="*T", B="*T", Pad="[48]byte")

    def worker(name: str) -> None:
        @prog.func(name=name, locals={"p": "*T", "q": "*T"})
        def body(g, f):
            for _ in range(n):
                f.p = g.new(T)
                g.store(f.p, "A", f.q)
                f.q = f.p

    for name in "abcd":
        worker(name)

    @prog.func
    def main(g, f):
        for name in "abcd":
            g.go(name)

    return prog


def measure(n: int, gomaxprocs: int, debug: bool, gogc: int = -1) -> tuple[float, float, int, int]:
    """Best (operations/s, switch points/s) of 5 runs, and the two counts."""
    best = (0.0, 0.0)
    ops = steps = 0
    for _ in range(5):
        prog = build(n)
        t0 = time.perf_counter()
        r = prog.run(gomaxprocs=gomaxprocs, debug=debug, gogc=gogc)
        dt = time.perf_counter() - t0
        ops, steps = r.operations, r.steps
        best = max(best, (ops / dt, steps / dt))
    return best[0], best[1], ops, steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-goroutine", type=int, default=25_000, help="iterations per goroutine")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    rows = {
        "4 goroutines, 4 Ps": measure(args.per_goroutine, 4, False),
        "4 goroutines, 1 P": measure(args.per_goroutine, 1, False),
        "4 goroutines, 4 Ps, debug": measure(args.per_goroutine, 4, True),
        "4 goroutines, 4 Ps, GOGC=100": measure(args.per_goroutine, 4, False, 100),
    }
    if args.json:
        out = {
            k: {"ops_per_s": v[0], "switch_points_per_s": v[1], "ops": v[2], "switch_points": v[3]}
            for k, v in rows.items()
        }
        print(json.dumps(out, indent=2))
        return
    print(
        f"gomem program API ({platform.python_implementation()} {platform.python_version()}, "
        "best of 5): 64-byte objects, one pointer store each"
    )
    print(f"  {'':<28} {'operations/s':>14} {'switch points/s':>17}")
    for label, (rate, srate, ops, steps) in rows.items():
        print(f"  {label:<28} {rate:>14,.0f} {srate:>17,.0f}   ({ops:,} ops, {steps:,} switches)")
    print("  target: >= 250,000 operations/s for 4 goroutines on 4 Ps")


if __name__ == "__main__":
    main()
