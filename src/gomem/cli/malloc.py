"""`gomem malloc`: textbook allocators on malloc-lab traces — run, compare, quiz, map, gen."""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

from rich.table import Table

from gomem.classic.allocator import ORGANIZATIONS, POLICIES, Allocator, Config
from gomem.classic.driver import (
    LISTS,
    Factory,
    HeapAllocator,
    RunResult,
    allocator_name,
    make_factory,
    run_trace,
)
from gomem.classic.gen import GENERATORS, generate
from gomem.classic.trace import Trace, TraceError, write_trace
from gomem.machine import Machine

from .args import BadInput, parse_positive
from .malloc_go import UTILISATION, run_trace_go
from .vm import console


def add_parser(sub: Any) -> None:
    m = sub.add_parser(
        "malloc",
        help="textbook allocators (first/next/best/worst fit; implicit, explicit, segregated)",
        description="Textbook allocators on the simulated heap, driven by malloc-lab traces.",
    )
    msub = m.add_subparsers(dest="malloc_command", metavar="SUBCOMMAND", required=True)

    run = msub.add_parser(
        "run",
        help="run traces and print utilisation and throughput, like the malloc-lab driver",
        description="Run each TRACE (.rep) on a fresh heap; print ops, peak utilisation "
        "(peak live payload / final heap size) and Kops/s, and the average.",
    )
    run.add_argument("traces", nargs="+", metavar="TRACE", help="malloc-lab .rep trace files")
    _add_allocator_options(run, go=True)
    run.add_argument("--check", action="store_true", help="check the heap after every op")
    run.add_argument("--json", action="store_true", help="print the figures as JSON")
    run.set_defaults(run=run_run, prog=run.prog)

    cmp_ = msub.add_parser(
        "compare",
        help="run every allocator on the same traces, best utilisation first",
        description="Run every organisation and policy (and the csapp preset) on the traces; "
        "one table ordered by average utilisation, ties by name.",
    )
    cmp_.add_argument("traces", nargs="+", metavar="TRACE", help="malloc-lab .rep trace files")
    cmp_.add_argument("--json", action="store_true", help="print the figures as JSON")
    cmp_.set_defaults(run=run_compare, prog=cmp_.prog)

    quiz = msub.add_parser(
        "quiz",
        help="predict the free list after each malloc/free on a tiny heap",
        description="A seeded sequence of small mallocs and frees on an explicit free list; "
        "the returned addresses and the free list after each step are hidden until --solve.",
    )
    quiz.add_argument("--seed", type=int, default=1, help="which quiz (default 1)")
    quiz.add_argument("--steps", type=parse_positive, default=8, help="operations (default 8)")
    quiz.add_argument("--policy", choices=POLICIES, default="first", help="placement policy")
    quiz.add_argument("--solve", action="store_true", help="show the answers")
    quiz.set_defaults(run=run_quiz, prog=quiz.prog)

    mp = msub.add_parser(
        "map",
        help="draw the heap's blocks over time as a PNG",
        description="Run TRACE and draw the heap as a strip of blocks per sampled operation.",
    )
    mp.add_argument("trace", metavar="TRACE", help="a malloc-lab .rep trace file")
    _add_allocator_options(mp)
    mp.add_argument("-o", "--output", type=Path, default=Path("heap-map.png"), help="PNG to write")
    mp.set_defaults(run=run_map, prog=mp.prog)

    gen = msub.add_parser(
        "gen",
        help="write a seeded synthetic trace",
        description="Write a synthetic malloc-lab trace: "
        + "; ".join(f"{k}: {v}" for k, v in GENERATORS.items()),
    )
    gen.add_argument("kind", choices=sorted(GENERATORS), help="trace pattern")
    gen.add_argument("--ops", type=parse_positive, default=1000, help="operations (default 1000)")
    gen.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    gen.add_argument("--max-size", type=parse_positive, default=4096, help="largest request")
    gen.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    gen.set_defaults(run=run_gen, prog=gen.prog)


def _classes(text: str) -> tuple[int, ...]:
    try:
        bounds = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of integers like 32,64,128"
        ) from None
    if not bounds or list(bounds) != sorted(set(bounds)) or bounds[0] <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: bounds must be positive and increasing")
    return bounds


def _add_allocator_options(p: argparse.ArgumentParser, go: bool = False) -> None:
    p.add_argument("--list", choices=LISTS, default="explicit", help="free-block organisation")
    p.add_argument(
        "--policy",
        choices=(*POLICIES, "go") if go else POLICIES,
        default="first",
        help="placement policy" + ("; 'go': Go's allocator (size classes, spans)" if go else ""),
    )
    p.add_argument(
        "--coalesce", choices=("immediate", "deferred"), default="immediate", help="when to merge"
    )
    p.add_argument(
        "--insertion", choices=("lifo", "address"), default="lifo", help="free-list order"
    )
    p.add_argument(
        "--preset", choices=("csapp",), help="the CS:APP 9.9 allocator (overrides the rest)"
    )
    p.add_argument("--word", type=int, choices=(4, 8), default=8, help="header/link word bytes")
    p.add_argument("--align", type=int, choices=(8, 16), default=16, help="payload alignment")
    p.add_argument("--chunk", type=parse_positive, default=4096, help="least heap growth, bytes")
    p.add_argument(
        "--classes",
        type=_classes,
        default=(),
        metavar="B1,B2,...",
        help="segregated size classes: increasing block-size bounds (default: powers of two)",
    )


def _factory(args: argparse.Namespace) -> tuple[str, Factory]:
    if args.preset:
        return allocator_name(preset=args.preset), make_factory(preset=args.preset)
    options: dict[str, Any] = {}
    if args.list != "simple-segregated":
        options = {
            "coalesce": args.coalesce,
            "insertion": args.insertion,
            "word": args.word,
            "align": args.align,
            "chunk": args.chunk,
            "classes": args.classes,
        }
    try:
        return allocator_name(args.list, args.policy), make_factory(
            args.list, args.policy, **options
        )
    except ValueError as err:
        raise BadInput(str(err)) from None


def _open(path: str) -> Trace:
    try:
        return Trace.open(path)
    except OSError as err:
        raise BadInput(f"{path}: {err.strerror or err}") from None
    except TraceError as err:
        raise BadInput(str(err)) from None


def _run(trace_path: str, factory: Factory, **kw: Any) -> RunResult:
    trace = _open(trace_path)
    try:
        return run_trace(trace, factory, name=trace.name, **kw)
    except TraceError as err:
        raise BadInput(str(err)) from None


def run_run(args: argparse.Namespace) -> int:
    if args.policy == "go":
        return _run_go(args)
    name, factory = _factory(args)
    results = [_run(t, factory, check=args.check) for t in args.traces]
    avg = sum(r.util for r in results) / len(results)
    if args.json:
        out = {
            "traces": [
                {"trace": r.trace, "ops": r.ops, "util": r.util, "kops": r.kops} for r in results
            ],
            "avg_util": avg,
        }
        print(json.dumps(out, indent=2))
        return 0
    table = Table(box=None, header_style="bold", title=f"allocator: {name}", title_justify="left")
    for col, just in (("trace", "left"), ("ops", "right"), ("util %", "right"), ("Kops", "right")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in results:
        table.add_row(r.trace, f"{r.ops:,}", f"{100 * r.util:.1f}", f"{r.kops:,.0f}")
    total_ops = sum(r.ops for r in results)
    kops = total_ops / sum(r.seconds for r in results) / 1000
    table.add_row("average", f"{total_ops:,}", f"{100 * avg:.1f}", f"{kops:,.0f}", style="bold")
    console().print(table)
    return 0


def _run_go(args: argparse.Namespace) -> int:
    results = []
    for path in args.traces:
        trace = _open(path)
        try:
            results.append(run_trace_go(trace, name=trace.name, check=args.check))
        except TraceError as err:
            raise BadInput(str(err)) from None
    avg = sum(r.util for r in results) / len(results)
    if args.json:
        out = {
            "allocator": "go",
            "utilisation": UTILISATION,
            "traces": [
                {
                    "trace": r.trace,
                    "ops": r.ops,
                    "util": r.util,
                    "kops": r.kops,
                    "peak_payload": r.peak_payload,
                    "peak_heap_inuse": r.peak_heap_inuse,
                }
                for r in results
            ],
            "avg_util": avg,
        }
        print(json.dumps(out, indent=2))
        return 0
    table = Table(
        box=None,
        header_style="bold",
        title="allocator: go (go1.24 size classes, spans, mcache/mcentral/mheap)",
        title_justify="left",
        caption=f"util = {UTILISATION} (Go's heap can shrink; malloc-lab's cannot)",
        caption_justify="left",
    )
    for col, just in (
        ("trace", "left"),
        ("ops", "right"),
        ("peak payload", "right"),
        ("peak HeapInuse", "right"),
        ("util %", "right"),
        ("Kops", "right"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in results:
        table.add_row(
            r.trace,
            f"{r.ops:,}",
            f"{r.peak_payload:,}",
            f"{r.peak_heap_inuse:,}",
            f"{100 * r.util:.1f}",
            f"{r.kops:,.0f}",
        )
    total_ops = sum(r.ops for r in results)
    kops = total_ops / sum(r.seconds for r in results) / 1000
    table.add_row("average", f"{total_ops:,}", "", "", f"{100 * avg:.1f}", f"{kops:,.0f}")
    console().print(table)
    return 0


def all_allocators() -> list[tuple[str, Factory]]:
    """Every organisation x policy the allocators support, plus the csapp preset."""
    out: list[tuple[str, Factory]] = [
        (allocator_name(preset="csapp"), make_factory(preset="csapp"))
    ]
    for org in ORGANIZATIONS:
        for policy in POLICIES:
            try:
                Config(organization=org, policy=policy)
            except ValueError:
                continue  # e.g. next fit on segregated lists
            out.append((allocator_name(org, policy), make_factory(org, policy)))
    out.append((allocator_name("simple-segregated"), make_factory("simple-segregated")))
    return out


def run_compare(args: argparse.Namespace) -> int:
    for t in args.traces:
        _open(t)  # bad files fail before any run
    rows = []
    for name, factory in all_allocators():
        results = [_run(t, factory) for t in args.traces]
        avg = sum(r.util for r in results) / len(results)
        kops = sum(r.ops for r in results) / sum(r.seconds for r in results) / 1000
        rows.append((name, avg, kops, results))
    rows.sort(key=lambda row: (-row[1], row[0]))
    if args.json:
        out = [
            {
                "allocator": name,
                "avg_util": avg,
                "kops": kops,
                "traces": [{"trace": r.trace, "util": r.util} for r in results],
            }
            for name, avg, kops, results in rows
        ]
        print(json.dumps({"allocators": out}, indent=2))
        return 0
    table = Table(box=None, header_style="bold")
    table.add_column("allocator")
    table.add_column("avg util %", justify="right")
    trace_names = [r.trace for r in rows[0][3]]
    for t in trace_names:
        table.add_column(t, justify="right")
    table.add_column("Kops", justify="right")
    for name, avg, kops, results in rows:
        cells = [f"{100 * r.util:.1f}" for r in results]
        table.add_row(name, f"{100 * avg:.1f}", *cells, f"{kops:,.0f}")
    console().print(table)
    return 0


def run_quiz(args: argparse.Namespace) -> int:
    p = Machine().spawn("quiz")
    # A tiny heap: 8-byte words and alignment, chunks of 256 bytes.
    a = Allocator(
        p,
        Config(
            organization="explicit",
            policy=args.policy,
            word=8,
            align=8,
            chunk=256,
            insertion="address",
        ),
    )
    rng = random.Random(args.seed)
    lo = a.heap.lo
    live: dict[str, int] = {}
    n = 0
    print(f"Quiz {args.seed}: explicit free list, address order, {args.policy} fit, 8-byte words")
    print("and alignment; a block is payload + 16 bytes of header and footer, at least 32;")
    print(
        f"the heap grows by 256 bytes when nothing fits. Offsets are from the heap start {lo:#x}."
    )
    print(f"Start: free list {_free_list(a)}\n")
    for step in range(1, args.steps + 1):
        if live and rng.random() < 0.4:
            name = rng.choice(sorted(live))
            a.free(live.pop(name))
            what = f"free({name})"
            answer = ""
        else:
            n += 1
            name = f"p{n}"
            size = rng.choice((8, 16, 24, 40, 56, 72, 100))
            bp = a.malloc(size)
            live[name] = bp
            what = f"{name} = malloc({size})"
            answer = f"{name} = heap+{bp - lo}; "
        print(f"{step}. {what}")
        if args.solve:
            print(f"   {answer}free list: {_free_list(a)}")
        else:
            print("   answer: ?  (free list after this step?)")
    if not args.solve:
        print("\nRun again with --solve for the answers.")
    return 0


def _free_list(a: HeapAllocator) -> str:
    lo = a.heap.lo
    nodes = [f"[heap+{bp - lo}: {a.block_size(bp)}]" for lst in a.free_lists() for bp in lst]
    return " -> ".join(nodes) if nodes else "(empty)"


def run_map(args: argparse.Namespace) -> int:
    # Imported here: matplotlib takes a while to load and only `map` needs it.
    from gomem.classic.heapmap import Snapshot, draw_heap_map

    name, factory = _factory(args)
    _check_output(args.output)
    trace = _open(args.trace)
    ops = trace.header.num_ops
    every = max(1, ops // 300)
    snaps: list[Snapshot] = []
    lo = 0

    def observe(n: int, a: HeapAllocator) -> None:
        nonlocal lo
        lo = a.heap.lo
        if n % every == 0 or n == ops:
            snaps.append((n, a.heap.size, list(a.blocks())))

    try:
        result = run_trace(trace, factory, name=trace.name, observe=observe)
    except TraceError as err:
        raise BadInput(str(err)) from None
    draw_heap_map(snaps, lo, args.output, f"{trace.name}: {name}, util {100 * result.util:.1f}%")
    print(f"wrote {args.output} ({len(snaps)} snapshots of {result.ops} ops)")
    return 0


def _check_output(path: Path) -> None:
    """-o must name a file in an existing directory."""
    if path.is_dir():
        raise BadInput(f"-o: {path} is a directory, not a file")
    if not path.parent.is_dir():
        raise BadInput(f"-o: no directory {path.parent}")


def run_gen(args: argparse.Namespace) -> int:
    try:
        ops = generate(args.kind, ops=args.ops, seed=args.seed, max_size=args.max_size)
    except ValueError as err:
        raise BadInput(str(err)) from None
    num_ids = 1 + max((op[1] for op in ops), default=0)
    if args.output is None:
        write_trace(ops, sys.stdout, num_ids=num_ids)
        return 0
    _check_output(args.output)
    write_trace(ops, args.output, num_ids=num_ids)
    return 0
