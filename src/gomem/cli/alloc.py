"""`gomem alloc demo`: where Go's allocator puts objects of each kind."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from gomem.runtime.mheap import HEAP_ARENA_BYTES, PAGE_SIZE, MSpan, arena_index
from gomem.runtime.runtime import Runtime
from gomem.runtime.type import INT, UINT8, Type, array_of, pointer, struct_of

from .vm import console

NODE = struct_of(("next", pointer(INT)), ("id", INT), ("prev", pointer(INT)), name="Node")


@dataclass(frozen=True)
class Request:
    label: str  # what the program asks for, in Go syntax
    typ: Type
    path: str  # which mallocgc path takes it


REQUESTS = (
    Request("new([8]byte)", array_of(UINT8, 8), "tiny (new 16 B block)"),
    Request("new([4]byte)", array_of(UINT8, 4), "tiny (same block)"),
    Request("new([300]byte)", array_of(UINT8, 300), "small noscan"),
    Request("new(Node)", NODE, "small scan, heap bits"),
    Request("new([125]*int)", array_of(pointer(INT), 125), "small scan, header"),
    Request("new([40000]byte)", array_of(UINT8, 40000), "large"),
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "alloc",
        help="Go's allocator at work: arenas, spans, size classes, slots",
        description="Go's heap allocator (go1.24) on the simulated machine.",
    )
    asub = p.add_subparsers(dest="alloc_command", metavar="SUBCOMMAND", required=True)
    demo = asub.add_parser(
        "demo",
        help="allocate one object of each kind and show where each lands",
        description="Allocate a tiny, a small noscan, a small scan, a header-carrying and a "
        "large object in a fresh Go process; show each one's arena, page, span, span class "
        "and slot, the span's alloc bitmap, and VSZ/RSS before and after.",
    )
    demo.add_argument("--json", action="store_true", help="print the placements as JSON")
    demo.set_defaults(run=run_demo, prog=demo.prog)


def _span_class(s: MSpan) -> str:
    kind = "noscan" if s.noscan else "scan"
    return f"{s.spanclass} ({s.size_class}, {kind})"


def _bitmap(s: MSpan) -> str:
    """The span's slots: # allocated, . free (allocated = below freeindex or alloc bit)."""
    return "".join("#" if s.is_allocated(i) else "." for i in range(s.nelems))


def _short(bitmap: str, width: int = 64) -> str:
    if len(bitmap) <= width:
        return bitmap
    rest = bitmap[width:]
    return f"{bitmap[:width]}... (+{rest.count('#')} allocated, {rest.count('.')} free)"


def run_demo(args: argparse.Namespace) -> int:
    rt = Runtime()
    p = rt.process
    before = p.statistics()
    rows: list[dict[str, Any]] = []
    for req in REQUESTS:
        x = rt.new(req.typ)
        s = rt.heap.span_of(x)
        assert s is not None
        slot_start = s.start_addr + s.object_index(x) * s.elemsize
        arena = arena_index(x)
        arena_start = x - x % HEAP_ARENA_BYTES
        rows.append(
            {
                "request": req.label,
                "size": req.typ.size,
                "path": req.path,
                "address": x,
                "arena": arena,
                "arena_base": arena_start,
                "page": (x - arena_start) // PAGE_SIZE,
                "span_base": s.start_addr,
                "span_pages": s.npages,
                "span_class": s.spanclass,
                "size_class": s.size_class,
                "noscan": s.noscan,
                "elem_size": s.elemsize,
                "slot": s.object_index(x),
                "offset_in_slot": x - slot_start,
                "nelems": s.nelems,
                "bitmap": _bitmap(s),
                "pointer_words": [w - x for w in rt.pointer_words(x)],
            }
        )
    after = p.statistics()
    # The bitmaps as they stand after every allocation.
    for row in rows:
        s = rt.heap.span_of(row["address"])
        assert s is not None
        row["bitmap"] = _bitmap(s)
    heap_maps = [line for line in p.maps().splitlines() if line.startswith("c0")]
    if args.json:
        out = {
            "objects": rows,
            "before": {"vsz_kb": before.vm_size_kb, "rss_kb": before.vm_rss_kb},
            "after": {"vsz_kb": after.vm_size_kb, "rss_kb": after.vm_rss_kb},
            "heap_mappings": heap_maps,
        }
        print(json.dumps(out, indent=2))
        return 0
    con = console()
    con.print(
        "A fresh Go process (go1.24 allocator, GOMAXPROCS=1) allocates one object of each kind.\n"
        f"VSZ {before.vm_size_kb:,} kB before: the page allocator's summaries are reserved "
        "(PROT_NONE) at start-up.\n",
        markup=False,
    )
    table = Table(box=None, header_style="bold")
    for col in ("request", "path", "address", "arena", "page", "span", "class", "slot"):
        table.add_column(col, justify="left" if col in ("request", "path") else "right")
    for r in rows:
        off = f"+{r['offset_in_slot']}" if r["offset_in_slot"] else ""
        table.add_row(
            r["request"],
            r["path"],
            f"{r['address']:#x}",
            f"{r['arena']:#x}",
            str(r["page"]),
            f"{r['span_base']:#x}/{r['span_pages']}p",
            f"{r['span_class']} ({r['size_class']}, {'noscan' if r['noscan'] else 'scan'})",
            f"{r['slot']}{off}",
        )
    con.print(table)
    con.print(
        "\narena: index in the arena map ((addr + 2^47) / 64 MiB); page: 8 KiB page in the "
        "arena;\nspan: base/pages; class: span class (size class, noscan) = size class << 1 | "
        "noscan;\nslot: object index in the span (+8: the object follows its malloc header).\n"
    )
    seen: set[int] = set()
    for r in rows:
        if r["span_base"] in seen or r["span_class"] <= 1:
            continue
        seen.add(r["span_base"])
        con.print(
            f"span {r['span_base']:#x} ({r['elem_size']}-byte slots, {r['nelems']} of them), "
            f"alloc bitmap (# allocated):"
        )
        con.print(f"  {_short(r['bitmap'])}", soft_wrap=True, markup=False)
    for r in rows:
        if r["pointer_words"]:
            con.print(
                f"{r['request']}: pointer words at offsets "
                f"{', '.join(str(o) for o in r['pointer_words'][:6])}"
                f"{' ...' if len(r['pointer_words']) > 6 else ''} (found as the GC will)"
            )
    con.print("\nThe heap's mappings (no [heap] line: Go never uses brk):", markup=False)
    for line in heap_maps:
        con.print(f"  {line.rstrip()}", soft_wrap=True, markup=False)
    con.print(
        f"\nVSZ {before.vm_size_kb:,} kB -> {after.vm_size_kb:,} kB "
        f"(+{after.vm_size_kb - before.vm_size_kb:,} kB: the 64 MiB arena reserved, the 32 MiB "
        "arena map, and runtime metadata)\n"
        f"RSS {before.vm_rss_kb:,} kB -> {after.vm_rss_kb:,} kB "
        f"(+{after.vm_rss_kb - before.vm_rss_kb:,} kB: only the pages the allocator wrote: the "
        "new tiny block's two words,\nthe Node span's heap bits and the malloc header. "
        "Fresh memory from the OS is zero, so the\nnoscan objects, even the 40,000-byte one, "
        "cost no RSS until the program writes them)",
        markup=False,
    )
    return 0
