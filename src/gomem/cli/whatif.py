"""`gomem whatif`: what GOGC and GOMEMLIMIT would cost, from a program's rates."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from gomem.runtime.mgcpacer import MAX_INT64
from gomem.whatif.model import Result, Setting, Workload
from gomem.whatif.sweep import sweep

from .args import BadInput, parse_gogc, parse_memlimit, parse_rate, parse_size

_DUR_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")


def _duration(text: str) -> float:
    """'60s', '500ms', '2m', '1h' -> seconds."""
    m = _DUR_RE.match(text)
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive duration like 60s or 2m")
    return float(m.group(1)) * {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2)]


def _gogc_list(text: str) -> list[int]:
    return [parse_gogc(item) for item in text.split(",")]


def _memlimit_list(text: str) -> list[int]:
    return [parse_memlimit(item) for item in text.split(",")]


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 1")
    return v


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "whatif",
        help="what GOGC and GOMEMLIMIT settings would cost in memory and CPU",
        description="Runs Go's pacer (goal, trigger, cons/mark, assists, workers, the CPU "
        "limiter) on a program described by its rates, for every combination of --gogc and "
        "--memlimit, over the same amount of work, and prints peak heap, the steady heap "
        "goal, predicted RSS, GC cycles per second, GC CPU and the assists' share of it.",
    )
    p.add_argument("--live", type=parse_size, metavar="SIZE", help="live heap")
    p.add_argument("--alloc-rate", type=parse_rate, metavar="RATE", help="e.g. 200MiB/s")
    p.add_argument(
        "--from-gctrace",
        metavar="LOG",
        action="append",
        help="fit the rates to a real program's GODEBUG=gctrace=1 output (Go 1.21-1.27); "
        "give it again for more runs of the same program (the median of each rate is "
        "used); --live, --alloc-rate and the other rate flags then override the fit",
    )
    p.add_argument(
        "--gcpacertrace",
        action="store_true",
        help="with --from-gctrace: also read the LOG's gcpacertrace lines "
        "(GODEBUG=gctrace=1,gcpacertrace=1) for the pacer's exact scan work, "
        "the scannable share, stacks and globals",
    )
    work = p.add_mutually_exclusive_group()
    work.add_argument(
        "--total-alloc", type=parse_size, metavar="SIZE", help="work: bytes to allocate"
    )
    work.add_argument("--duration", type=_duration, metavar="TIME", help="work: e.g. 60s")
    p.add_argument("--gogc", type=_gogc_list, default=[100], metavar="LIST", help="e.g. 50,100,off")
    p.add_argument(
        "--memlimit",
        type=_memlimit_list,
        default=[MAX_INT64],
        metavar="LIST",
        help="e.g. none,512MiB",
    )
    p.add_argument("--procs", type=int, metavar="N", help="GOMAXPROCS (default 1)")
    p.add_argument(
        "--mutator-cpus", type=float, metavar="N", help="Ps the program keeps busy (default all)"
    )
    p.add_argument(
        "--scan-rate",
        type=parse_rate,
        metavar="RATE",
        help="marking speed per CPU (1e9 B/s)",
    )
    p.add_argument("--scannable", type=_fraction, metavar="F", help="pointerful share (1)")
    p.add_argument("--object-size", type=int, default=64, metavar="N", help="bytes per object")
    p.add_argument("--stacks", type=parse_size, metavar="SIZE", help="goroutine stacks (8KiB)")
    p.add_argument("--globals", type=parse_size, metavar="SIZE", help="data + bss (128KiB)")
    p.add_argument(
        "--fill", action="store_true", help="start from an empty heap that fills to --live"
    )
    p.add_argument("--plot", metavar="FILE.png", help="draw heap and goal over time")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(run=run_whatif, prog=p.prog)


def _fitted(path: str, object_size: int, pacertrace: bool) -> Workload:
    from gomem.whatif.fit import fit_output

    try:
        text = Path(path).read_text(errors="replace")
    except OSError as err:
        raise BadInput(f"--from-gctrace: {path}: {err.strerror or err}") from None
    try:
        return fit_output(text, object_size=object_size, source=path, pacertrace=pacertrace)
    except ValueError as err:
        raise BadInput(str(err)) from None


def run_whatif(args: argparse.Namespace) -> int:
    if args.object_size < 1:
        raise BadInput("--object-size: must be positive")
    if args.gcpacertrace and not args.from_gctrace:
        raise BadInput("--gcpacertrace: needs --from-gctrace LOG")
    if args.from_gctrace:
        from gomem.whatif.fit import combine

        base = combine(
            [_fitted(log, args.object_size, args.gcpacertrace) for log in args.from_gctrace]
        )
    elif args.live is None or args.alloc_rate is None:
        raise BadInput("give --live and --alloc-rate, or --from-gctrace LOG")
    else:
        base = Workload(live=args.live, alloc_rate=args.alloc_rate)
    procs = args.procs if args.procs is not None else base.procs
    if procs < 1:
        raise BadInput("--procs: must be at least 1")
    if args.mutator_cpus is not None:
        mutator = args.mutator_cpus
    elif args.from_gctrace:
        mutator = min(base.mutator_cpus, float(procs))
    else:
        mutator = float(procs)
    if not 0 < mutator <= procs:
        raise BadInput("--mutator-cpus: must be above 0 and at most --procs")

    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    w = dataclasses.replace(  # what the fit found beside the flags is kept
        base,
        live=pick(args.live, base.live),
        alloc_rate=pick(args.alloc_rate, base.alloc_rate),
        scan_rate=pick(args.scan_rate, base.scan_rate),
        scannable=pick(args.scannable, base.scannable),
        stacks=pick(args.stacks, base.stacks),
        globals=pick(args.globals, base.globals),
        procs=procs,
        mutator_cpus=mutator,
        object_size=args.object_size,
        fill=args.fill,
    )
    total = args.total_alloc
    duration = args.duration
    if total is None and duration is None:
        total = 8 << 30
    settings = [Setting(g, m) for g in args.gogc for m in args.memlimit]
    results = sweep(w, settings, total_alloc=total, duration=duration)
    if args.plot:
        _plot(results, Path(args.plot))
    if args.json:
        print(json.dumps([_as_dict(r, w) for r in results], indent=1))
        return 0
    work = f"{total / (1 << 30):g} GiB allocated" if total else f"{duration:g} s"
    fitted = f" (rates fitted to {', '.join(args.from_gctrace)})" if args.from_gctrace else ""
    print(
        f"whatif{fitted}: live {w.live / (1 << 20):,.0f} MiB, {w.alloc_rate / (1 << 20):,.0f} "
        f"MiB/s, {w.procs} P ({w.mutator_cpus:.2g} busy), scan {w.scan_rate / 1e9:.3g} GB/s "
        f"per CPU; {work}"
    )
    head = (
        f"{'setting':<28} {'cycles':>7} {'cyc/s':>7} {'peak heap':>10} {'goal':>10} "
        f"{'RSS':>10} {'GC CPU':>7} {'assist':>7}  limiter"
    )
    print(head)
    for r in results:
        if not r.cycles:
            print(
                f"{r.setting.label:<28} {'0':>7}  no cycle runs: the heap only grows, "
                f"to {r.peak_heap / (1 << 20):,.0f} MiB"
            )
            continue
        warn = "ON: GC CPU capped, heap over goal (death spiral)" if r.limiter_engaged else "-"
        print(
            f"{r.setting.label:<28} {len(r.cycles):>7} {r.cycles_per_s:>7.2f} "
            f"{_mib(r.peak_heap):>10} {_mib(r.final_goal):>10} {_mib(r.rss):>10} "
            f"{r.gc_cpu_fraction(w.procs) * 100:>6.1f}% {r.assist_share * 100:>6.1f}%  {warn}"
        )
    return 0


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MiB"


def _as_dict(r: Result, w: Workload) -> dict[str, Any]:
    return {
        "gogc": r.setting.gogc,
        "memlimit": None if r.setting.memlimit == MAX_INT64 else r.setting.memlimit,
        "cycles": len(r.cycles),
        "duration_s": r.duration_s,
        "cycles_per_s": r.cycles_per_s,
        "peak_heap": r.peak_heap,
        "final_goal": r.final_goal if r.cycles else None,
        "rss": r.rss,
        "gc_cpu_fraction": r.gc_cpu_fraction(w.procs),
        "assist_share": r.assist_share,
        "limiter_engaged": r.limiter_engaged,
    }


def _plot(results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gomem.classic.heapmap import save_png

    if path.is_dir():
        raise BadInput(f"--plot: {path} is a directory, not a file")
    if not path.parent.exists() and str(path.parent) not in ("", "."):
        raise BadInput(f"--plot: no directory {path.parent}")
    n = len(results)
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.2 * n), dpi=100, squeeze=False, sharex=True)
    try:
        for ax, r in zip(axes[:, 0], results, strict=True):
            ts = [t for t, _, _ in r.samples]
            ax.plot(ts, [h / (1 << 20) for _, h, _ in r.samples], label="heap", lw=1)
            goals = [(t, g / (1 << 20)) for t, _, g in r.samples if g < 1 << 62]
            if goals:
                ax.plot([t for t, _ in goals], [g for _, g in goals], label="goal", lw=1, ls="--")
            ax.set_ylabel("MiB")
            ax.set_title(r.setting.label, fontsize=9)
            ax.legend(loc="upper right", fontsize=7)
        axes[-1, 0].set_xlabel("seconds")
        fig.tight_layout()
        save_png(fig, path)
    finally:
        plt.close(fig)
