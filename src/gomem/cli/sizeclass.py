"""`gomem sizeclass`: Go's malloc size classes — the table, or one request explained."""

from __future__ import annotations

import argparse
from typing import Any

from gomem.runtime import mksizeclasses
from gomem.runtime.msize import MALLOC_HEADER_SIZE, MIN_SIZE_FOR_MALLOC_HEADER, explain

from .args import BadInput, parse_size


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "sizeclass",
        help="Go's size classes: the table, or where one request goes",
        description="`gomem sizeclass table` prints Go 1.24's size-class table in the layout of "
        "the comment at the top of runtime/sizeclasses.go; `gomem sizeclass SIZE` explains one "
        "request (e.g. 300 or 2KiB): class, rounded size, span, objects per span, waste.",
    )
    p.add_argument("what", metavar="table|SIZE", help="'table', or a request size in bytes")
    p.add_argument(
        "--pointers",
        action="store_true",
        help="the object holds pointers (no tiny allocator; a malloc header above 512 bytes)",
    )
    p.set_defaults(run=run_sizeclass, prog=p.prog)


def run_sizeclass(args: argparse.Namespace) -> int:
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
    pct = 100 * e.waste / e.elem_size
    print(f"waste per object: {e.waste:,} bytes ({pct:.2f}% of the {e.elem_size:,}-byte slot)")
    return 0
