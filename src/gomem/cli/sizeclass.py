"""`gomem sizeclass`: Go's malloc size classes — the table, or one request explained."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.table import Table

from gomem.runtime import mksizeclasses
from gomem.runtime.msize import MALLOC_HEADER_SIZE, MIN_SIZE_FOR_MALLOC_HEADER, explain
from gomem.runtime.sizewaste import size_waste

from .args import BadInput, parse_size
from .vm import console


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "sizeclass",
        help="Go's size classes: the table, or where one request goes",
        description="`gomem sizeclass table` prints Go 1.24's size-class table in the layout of "
        "the comment at the top of runtime/sizeclasses.go; `gomem sizeclass SIZE` explains one "
        "request (e.g. 300 or 2KiB): class, rounded size, span, objects per span, waste.",
    )
    p.add_argument(
        "what", metavar="table|waste|SIZE", help="'table', 'waste' (with --sizes), or a size"
    )
    p.add_argument(
        "--sizes",
        type=Path,
        metavar="FILE",
        help="for 'waste': one request size per line, or 'size count' pairs ('#' comments)",
    )
    p.add_argument("--json", action="store_true", help="for 'waste': print the rows as JSON")
    p.add_argument(
        "--pointers",
        action="store_true",
        help="the object holds pointers (no tiny allocator; a malloc header above 512 bytes)",
    )
    p.set_defaults(run=run_sizeclass, prog=p.prog)


def run_sizeclass(args: argparse.Namespace) -> int:
    if args.what == "waste":
        return run_waste(args)
    if args.what == "table":
        print("\n".join(mksizeclasses.table_lines(mksizeclasses.make_classes())))
        return 0
    try:
        size = parse_size(args.what)
    except argparse.ArgumentTypeError as err:
        raise BadInput(f"{err} (or 'table')") from None
    e = explain(size, args.pointers)
    shape = "with pointers" if args.pointers else "pointer-free"
    print(f"request: {size:,} bytes, {shape}")
    if e.kind == "zero":
        print("no allocation: every zero-size object gets the address of runtime.zerobase")
        return 0
    if e.kind == "tiny":
        print(
            "tiny allocator: pointer-free and under 16 bytes, so it is packed with other tiny "
            "objects into a 16-byte block of size class 2 (aligned to 8, 4, 2 or 1 by its size)"
        )
        return 0
    if e.kind == "large":
        print(
            "large object: over 32,760 bytes, so class 0 and a span of its own: "
            f"{e.span_bytes // 8192} pages of 8 KiB = {e.span_bytes:,} bytes; "
            f"waste {e.waste:,} bytes"
        )
        return 0
    if e.header:
        print(
            f"malloc header: pointerful and over {MIN_SIZE_FOR_MALLOC_HEADER} bytes, so "
            f"{MALLOC_HEADER_SIZE} bytes of type pointer come first: "
            f"looked up as {size + e.header:,}"
        )
    print(f"size class: {e.size_class} ({e.elem_size:,} bytes per object)")
    pages = e.span_bytes // 8192
    print(
        f"span: {e.span_bytes:,} bytes ({pages} page{'s' if pages > 1 else ''} of 8 KiB), "
        f"{e.objects_per_span} objects, tail waste {e.tail_waste} bytes"
    )
    if e.heap_bits:
        print(
            f"heap bits: pointerful and at most {MIN_SIZE_FOR_MALLOC_HEADER} bytes, so the "
            f"span's last {e.heap_bits} bytes hold one pointer bit per word"
        )
    pct = 100 * e.waste / e.elem_size
    print(f"waste per object: {e.waste:,} bytes ({pct:.2f}% of the {e.elem_size:,}-byte slot)")
    return 0


def read_sizes(path: Path) -> list[tuple[int, int]]:
    """(size, count) pairs from a sizes file; BadInput names file:line on a bad line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"{path}: cannot read: {getattr(err, 'strerror', None) or err}") from None
    pairs = []
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) > 2 or not all(f.isdigit() for f in fields):
            raise BadInput(
                f"{path}:{lineno}: expected 'SIZE' or 'SIZE COUNT' (non-negative "
                f"integers), got {line.strip()!r}"
            )
        pairs.append((int(fields[0]), int(fields[1]) if len(fields) == 2 else 1))
    if not pairs:
        raise BadInput(f"{path}: no sizes in the file")
    return pairs


def run_waste(args: argparse.Namespace) -> int:
    if args.sizes is None:
        raise BadInput("waste needs --sizes FILE")
    rows = size_waste(read_sizes(args.sizes), args.pointers)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "row": r.label,
                        "elem_size": r.elem_size,
                        "objects": r.objects,
                        "requested": r.requested,
                        "rounding": r.rounding,
                        "tails": r.tails,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return 0
    table = Table(box=None, header_style="bold")
    for col in ("class", "bytes/obj", "objects", "requested", "rounding", "span tails", "waste %"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for r in rows:
        used = r.requested + r.rounding + r.tails
        pct = f"{100 * (r.rounding + r.tails) / used:.2f}" if used else "-"
        table.add_row(
            r.label,
            f"{r.elem_size:,}" if r.elem_size else "",
            f"{r.objects:,}",
            f"{r.requested:,}",
            f"{r.rounding:,}",
            f"{r.tails:,}",
            pct,
        )
    req = sum(r.requested for r in rows)
    rnd = sum(r.rounding for r in rows)
    tails = sum(r.tails for r in rows)
    total_pct = f"{100 * (rnd + tails) / (req + rnd + tails):.2f}" if req + rnd + tails else "-"
    table.add_row(
        "total",
        "",
        f"{sum(r.objects for r in rows):,}",
        f"{req:,}",
        f"{rnd:,}",
        f"{tails:,}",
        total_pct,
        style="bold",
    )
    console().print(table)
    if any(r.label == "tiny" for r in rows):
        print("tiny: pointer-free requests under 16 bytes share 16-byte blocks; not charged here")
    return 0
