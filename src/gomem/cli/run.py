"""`gomem run PROGRAM`: run a Go-like program (Python file) or a TOML workload."""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from gomem.program import Program, ProgramError, RunResult, builtins
from gomem.runtime.mbarrier import BARRIERS
from gomem.runtime.mem_linux import RuntimeThrow
from gomem.runtime.mgcpacer import MAX_INT64

from .args import BadInput, parse_gogc, parse_memlimit, parse_positive

POLICIES = ("roundrobin", "random")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="run a Go-like program (.py) or a TOML workload on the simulated runtime",
        description="Run PROGRAM — a Python file that defines a gomem.program.Program with a "
        "main func, or a TOML workload spec — on a fresh simulated Go process, then print "
        "MemStats, the goroutines, operations, simulated time and a digest of the schedule. "
        "Without a collector (a later issue) the heap only grows.",
    )
    p.add_argument(
        "program",
        metavar="PROGRAM",
        help="a .py program, a .toml workload, or a built-in program's name (node)",
    )
    p.add_argument("--seed", type=int, default=None, help="scheduler and workload seed")
    p.add_argument("--gomaxprocs", type=parse_positive, default=None, help="number of Ps")
    p.add_argument(
        "--schedule",
        choices=POLICIES,
        default=None,
        help="who runs each operation: roundrobin, or random (seeded); default: random for "
        "workloads, roundrobin for programs",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="check the invariants (after each goroutine ends; the barrier's before every "
        "mark step, which is slow on big heaps), the precise-roots rule and, after each "
        "cycle, the checkmark and a heap walk for lost objects",
    )
    p.add_argument(
        "--gogc",
        type=parse_gogc,
        default=100,
        metavar="N|off",
        help="GOGC: heap growth (percent) before a collection, or off (default 100)",
    )
    p.add_argument(
        "--memlimit",
        type=parse_memlimit,
        default=MAX_INT64,
        metavar="SIZE|off",
        help="GOMEMLIMIT: a soft limit on the runtime's total memory, in bytes or with "
        "KiB, MiB, GiB or TiB (e.g. 512MiB), or off (default off)",
    )
    p.add_argument(
        "--gctrace",
        action="store_true",
        help="print a GODEBUG=gctrace=1 line per collection on stderr, as Go does",
    )
    p.add_argument(
        "--gcpacertrace",
        action="store_true",
        help="print GODEBUG=gcpacertrace=1's pacer lines (two per cycle) on stderr",
    )
    p.add_argument(
        "--barrier",
        choices=BARRIERS,
        default="go",
        help="the write barrier during marking (default go: the runtime's buffered one)",
    )
    p.add_argument("--save", metavar="RUN.json", help="also write the summary as JSON")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run_run, prog=p.prog)


def _load_python(path: Path) -> Program:
    try:
        ns = runpy.run_path(str(path), run_name="__gomem_program__")
    except ProgramError as err:
        raise BadInput(f"{path}: {err}") from None
    except SyntaxError as err:
        raise BadInput(f"{path}:{err.lineno}: syntax error: {err.msg}") from None
    except Exception as err:  # the user's module failed to import
        raise BadInput(f"{path}:{_user_line(err, path)}: {type(err).__name__}: {err}") from None
    progs = [v for v in ns.values() if isinstance(v, Program)]
    if "prog" in ns and isinstance(ns["prog"], Program):
        return ns["prog"]
    if len(progs) != 1:
        raise BadInput(f"{path}: expected one gomem.program.Program (name it `prog`)")
    return progs[0]


def _user_line(err: BaseException, path: Path) -> str:
    """The last line of the user's file in err's traceback, or '?'."""
    line = "?"
    for frame in traceback.extract_tb(err.__traceback__):
        if Path(frame.filename).resolve() == path.resolve():
            line = str(frame.lineno)
    return line


def _summary(name: str, r: RunResult, seed: int, gomaxprocs: int, schedule: str) -> dict[str, Any]:
    ms = r.memstats
    keys = (
        "HeapAlloc",
        "HeapSys",
        "HeapIdle",
        "HeapInuse",
        "HeapReleased",
        "HeapObjects",
        "Mallocs",
        "Frees",
        "TotalAlloc",
        "StackInuse",
        "StackSys",
        "MSpanInuse",
        "MSpanSys",
        "MCacheInuse",
        "MCacheSys",
        "GCSys",
        "OtherSys",
        "Sys",
        "NumGC",
    )
    rt = r.runtime
    return {
        "program": name,
        "seed": seed,
        "gomaxprocs": gomaxprocs,
        "schedule": schedule,
        "goroutines": r.goroutines,
        "operations": r.operations,
        "switch_points": r.steps,
        "simulated_ns": r.now_ns,
        "schedule_digest": r.digest,
        "stack_copies": r.stack_copies,
        "gc_cycles": len(rt.gc.cycles),
        "barrier": rt.gc.barrier.mode,
        "barrier_executions": rt.gc.barrier.executions,
        "pointer_stores": rt.pointer_stores,
        "vsz_kb": r.vsz_kb,
        "rss_kb": r.rss_kb,
        "memstats": {k: getattr(ms, k) for k in keys},
    }


def _print(s: dict[str, Any]) -> None:
    print(
        f"{s['program']}: {s['goroutines']} goroutine{'s' if s['goroutines'] != 1 else ''}, "
        f"{s['operations']:,} operation{'s' if s['operations'] != 1 else ''} "
        f"({s['switch_points']:,} switch points), "
        f"{_duration(s['simulated_ns'])} simulated on {s['gomaxprocs']} P"
        f"{'s' if s['gomaxprocs'] > 1 else ''} ({s['schedule']} schedule, seed {s['seed']})"
    )
    print(
        f"stack copies {s['stack_copies']:,}, pointer stores {s['pointer_stores']:,}; "
        f"VSZ {s['vsz_kb']:,} kB, RSS {s['rss_kb']:,} kB"
    )
    print("MemStats:")
    width = max(len(k) for k in s["memstats"])
    for k, v in s["memstats"].items():
        print(f"  {k:<{width}} {v:>15,}")
    print(f"schedule digest: {s['schedule_digest']}")


def _duration(ns: int) -> str:
    if ns < 10_000:
        return f"{ns:,} ns"
    if ns < 1_000_000:
        return f"{ns / 1000:,.1f} µs"
    return f"{ns / 1e6:,.3f} ms"


def _write_json(path: str, data: dict[str, Any]) -> None:
    """Write JSON atomically: a temp file in the same directory, then rename."""
    target = Path(path)
    if not target.parent.is_dir():
        raise BadInput(f"--save {path}: no such directory {str(target.parent)!r}")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".gomem-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def run_run(args: argparse.Namespace) -> int:
    path = Path(args.program)
    if not path.is_file():
        builtin = builtins.path(args.program)
        if builtin is None:
            names = ", ".join(builtins.NAMES)
            raise BadInput(f"{path}: no such file (built-in programs: {names})")
        path = builtin
    options: dict[str, Any] = {}
    prog: Any
    if path.suffix == ".toml":
        from gomem.program.workload import WorkloadError, build_program, load_workload

        try:
            prog, options = build_program(load_workload(path), seed=args.seed)
        except WorkloadError as err:
            raise BadInput(str(err)) from None
        default_schedule = "random"
    elif path.suffix == ".py":
        prog = _load_python(path)
        default_schedule = "roundrobin"
    else:
        raise BadInput(f"{path}: expected a .py program or a .toml workload")
    seed = args.seed if args.seed is not None else int(options.get("seed", 0))
    gomaxprocs = args.gomaxprocs or int(options.get("gomaxprocs", 1))
    schedule = args.schedule or default_schedule
    try:
        result = prog.run(
            seed=seed,
            gomaxprocs=gomaxprocs,
            policy=schedule,
            debug=args.check,
            check=args.check,
            gogc=args.gogc,
            memlimit=args.memlimit,
            gctrace=args.gctrace,
            gcpacertrace=args.gcpacertrace,
            barrier=args.barrier,
        )
    except ProgramError as err:
        raise BadInput(f"{path}: {err}") from None
    except RuntimeThrow:
        raise
    except Exception as err:
        if isinstance(err, BadInput):
            raise
        raise BadInput(f"{path}:{_user_line(err, path)}: {type(err).__name__}: {err}") from None
    for line in result.gctrace:
        print(line, file=sys.stderr)
    summary = _summary(path.name, result, seed, gomaxprocs, schedule)
    if args.save:
        _write_json(args.save, summary)
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        print()
    else:
        _print(summary)
    return 0
