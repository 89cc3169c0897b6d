"""`gomem gc demo` (the lost-object race under each write barrier) and `gomem gc sweepgen`."""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Sequence
from typing import Any

from gomem.runtime.mbarrier import BARRIERS
from gomem.runtime.mem_linux import RuntimeThrow
from gomem.runtime.proc import G, Policy, Script


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "gc",
        help="Go's collector at work: the write-barrier race",
        description="Demonstrations of Go's concurrent tri-colour collector.",
    )
    gsub = p.add_subparsers(dest="gc_command", metavar="SUBCOMMAND", required=True)
    demo = gsub.add_parser(
        "demo",
        help="the lost-object race under a scripted schedule, with a chosen write barrier",
        description="A mutator moves the only other pointer to a white object Z from a grey "
        "object Y into a black object X and deletes the original, while the mark worker runs, "
        "under a fixed schedule. Prints each object's colour after every step; with no "
        "barrier Z is freed while X still points to it, and the heap check names it.",
    )
    demo.add_argument("--barrier", choices=BARRIERS, default="go", help="write barrier (go)")
    demo.add_argument("--json", action="store_true", help="print the steps as JSON")
    demo.set_defaults(run=run_demo, prog=demo.prog)
    sw = gsub.add_parser(
        "sweepgen",
        help="run a few cycles and show mheap.sweepgen and each span's sweep state",
        description="Allocate a small heap, keep part of it, and run CYCLES collections; after "
        "each phase print mheap.sweepgen and every heap span's sweepgen relative to it "
        "(-2 needs sweeping, -1 being swept, 0 swept, +1 cached before the sweep, +3 swept "
        "and cached).",
    )
    sw.add_argument(
        "--cycles",
        type=int,
        default=2,
        choices=range(1, 10),
        metavar="N",
        help="collections to run (1-9, default 2)",
    )
    sw.set_defaults(run=run_sweepgen, prog=sw.prog)


_STATE = {-2: "needs sweeping", -1: "being swept", 0: "swept", 1: "cached, stale", 3: "cached"}


def _spans_line(rt: Any) -> str:
    from gomem.runtime.mheap import SpanState

    parts = []
    for s in rt.heap.spans():
        if s.state != SpanState.IN_USE:
            continue
        rel = s.sweepgen - rt.heap.sweepgen
        parts.append(f"{s.start_addr:#x}({s.elemsize}B) {rel:+d} {_STATE.get(rel, '?')}")
    return "\n    ".join(parts)


def run_sweepgen(args: argparse.Namespace) -> int:
    from gomem.runtime.runtime import Runtime
    from gomem.runtime.type import INT, pointer, struct_of

    rt = Runtime()
    node = struct_of(("next", pointer(INT)), ("v", INT))
    root = rt.new_global("root", pointer(node))
    # Two spans of 16-byte nodes (every 4th kept, linked from a global) and four of
    # 320-byte garbage.
    kept = 0
    for i in range(600):
        x = rt.new(node)
        if i % 4 == 0:
            rt.process.store64(x, kept)
            kept = x
        if i % 6 == 0:
            rt.mallocgc(300)
    rt.process.store64(root, kept)
    print(f"after allocation: mheap.sweepgen = {rt.heap.sweepgen}")
    print(f"    {_spans_line(rt)}")
    gc = rt.gc
    for n in range(1, args.cycles + 1):

        def show(phase: str, n: int = n) -> None:
            print(f"cycle {n}, after {phase}: sweepgen = {rt.heap.sweepgen}")
            print(f"    {_spans_line(rt)}")

        gc.on_phase = show
        rt.GC()
        print(
            f"cycle {n}, after the sweep: sweepgen = {rt.heap.sweepgen}, "
            f"HeapAlloc {rt.read_mem_stats().HeapAlloc:,} bytes"
        )
        print(f"    {_spans_line(rt)}")
    return 0


def _who(row: dict[str, Any]) -> str:
    return f"{row['goroutine']} ({row['worker']})" if row.get("worker") else row["goroutine"]


class _Recorder(Policy):
    """The demo's script, recording the objects' colours before each step."""

    free_when_alone = False

    def __init__(self, steps: Sequence[int | str], snapshot: Any, mode_of: Any) -> None:
        self.script = Script(steps)
        self.mode_of = mode_of
        self.snapshot = snapshot
        self.rows: list[dict[str, Any]] = []

    def choose(self, running: Sequence[G], step: int) -> G:
        self.snapshot(self.rows)
        g = self.script.choose(running, step)
        row = {"step": step, "goroutine": g.name}
        if g.system and g.name == "gcBgMarkWorker":  # which kind of worker this stint is
            row["worker"] = self.mode_of(g)
        self.rows.append(row)
        return g


def run_demo(args: argparse.Namespace) -> int:
    from gomem.program.builtins import race as race_module
    from gomem.runtime.runtime import Runtime

    race = importlib.reload(race_module)  # a fresh Program each run
    objects: dict[str, int] = {}
    rt_box: dict[str, Runtime] = {}
    mutator_ops = iter(race.MUTATOR_STEPS)

    def snapshot(rows: list[dict[str, Any]]) -> None:
        rt = rt_box["rt"]
        if not objects and rt.globals:
            gx = next(a for n, a, _ in rt.globals if n == "gx")
            gy = next(a for n, a, _ in rt.globals if n == "gy")
            x, y = rt.process.load64(gx), rt.process.load64(gy)
            if x and y:
                objects.update(X=x, Y=y, Z=rt.process.load64(y))
        if rows:
            last = rows[-1]
            if last["goroutine"] == "gcBgMarkWorker":
                last["did"] = rt.gc.last_work
            elif last["goroutine"] == "mutator":
                last["did"] = next(mutator_ops, "")
            elif last["goroutine"] == "bgsweep":
                last["did"] = "sweep a span"
            else:
                main_steps = sum(1 for r in rows if r["goroutine"] == "main")
                last["did"] = (
                    "setup: new, stores, go mutator"
                    if main_steps < 8
                    else "runtime.GC(): start the cycle, wait"
                    if main_steps == 8
                    else "runtime.GC() returns"
                )
            last["colours"] = {k: rt.gc.colour(a) for k, a in objects.items()}

    recorder = _Recorder(
        race.script(args.barrier), snapshot, lambda g: rt_box["rt"].gc.worker_mode.get(g.goid, "")
    )
    rt = Runtime(gomaxprocs=race.PROCS, policy=recorder)
    rt_box["rt"] = rt
    try:
        race.prog.run(runtime=rt, barrier=args.barrier, debug=True)
    except RuntimeThrow as err:
        raise RuntimeThrow(f"gc demo: the run failed: {err}") from None
    # The heap walk after the cycle: a reachable object that the sweep freed is named.
    lost = "; ".join(rt.gc.check_reachable())
    for name, addr in objects.items():  # name the demo's objects in the checker's words
        lost = lost.replace(f"object {addr:#x}", f"object {name} ({addr:#x})")
    snapshot(recorder.rows)
    final = {k: rt.gc.colour(a) for k, a in objects.items()}
    survived = final.get("Z") != "free" and not lost
    b = rt.gc.barrier
    if args.json:
        out = {
            "barrier": args.barrier,
            "objects": {k: hex(a) for k, a in objects.items()},
            "steps": recorder.rows,
            "after_sweep": final,
            "lost": lost,
            "barrier_executions": b.executions,
            "barrier_shaded": b.shaded,
            "barrier_flushes": b.flushes,
        }
        print(json.dumps(out, indent=2))
        return 0
    print(
        f"The lost-object race, write barrier: {args.barrier} ({race.PROCS} Ps, scripted schedule)"
    )
    print("  ".join(f"{k}={a:#x}" for k, a in objects.items()))
    print(f"{'step':>4}  {'goroutine':<26} {'what it did':<44} X      Y      Z")
    for row in recorder.rows:
        c = row.get("colours", {})
        print(
            f"{row['step']:>4}  {_who(row):<26} {row.get('did', ''):<44} "
            f"{c.get('X', '-'):<6} {c.get('Y', '-'):<6} {c.get('Z', '-'):<6}"
        )
    print(
        f"barrier: {b.executions} executions, {b.shaded} objects shaded, {b.flushes} buffer flushes"
    )
    if survived:
        print("after the sweep Z is still allocated: the barrier kept the strong/weak invariant.")
    else:
        print(f"LOST OBJECT: {lost or 'Z was freed while X points to it'}")
    return 0
