"""Bytes a workload's object sizes waste in Go's size classes.

Not a Go file: an analysis over msize.py. For each request size (with a
count), the object is rounded up to its class (rounding waste: slot -
request, the malloc header included) and the class's spans end in a tail
no object can use (tail waste: spans needed x tail bytes, with the spans
needed = ceil(objects / objects per span)). Large objects waste the rest of
their last 8 KiB page. Tiny requests (pointer-free, under 16 bytes) share
16-byte blocks; their packing depends on allocation order, so they are
counted apart and not charged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .msize import explain
from .sizeclasses import CLASS_TO_SIZE


@dataclass(frozen=True, slots=True)
class ClassWaste:
    label: str  # "class N", "large" or "tiny"
    elem_size: int  # bytes per slot (0 for large/tiny rows)
    objects: int  # requests that landed here
    requested: int  # bytes asked for
    rounding: int  # slot bytes not asked for (header included)
    tails: int  # bytes in span tails no object can use


def size_waste(sizes: Iterable[tuple[int, int]], pointers: bool = False) -> list[ClassWaste]:
    """Rows per class (ascending), then large, then tiny; only rows that got objects."""
    per_class: dict[int, list[int]] = {}  # class -> [objects, requested, rounding]
    large = [0, 0, 0]
    tiny = [0, 0]
    for size, count in sizes:
        e = explain(size, pointers)
        if e.kind == "tiny":
            tiny[0] += count
            tiny[1] += size * count
        elif e.kind == "large":
            large[0] += count
            large[1] += size * count
            large[2] += (e.elem_size - size) * count
        elif e.kind == "small":
            row = per_class.setdefault(e.size_class, [0, 0, 0])
            row[0] += count
            row[1] += size * count
            row[2] += (e.elem_size - size) * count
    rows = []
    for cls in sorted(per_class):
        objects, requested, rounding = per_class[cls]
        e = explain(CLASS_TO_SIZE[cls])
        spans = -(-objects // e.objects_per_span)
        rows.append(
            ClassWaste(
                f"class {cls}", e.elem_size, objects, requested, rounding, spans * e.tail_waste
            )
        )
    if large[0]:
        rows.append(ClassWaste("large", 0, large[0], large[1], large[2], 0))
    if tiny[0]:
        rows.append(ClassWaste("tiny", 0, tiny[0], tiny[1], 0, 0))
    return rows
