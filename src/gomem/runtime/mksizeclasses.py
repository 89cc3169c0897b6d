"""Generate sizeclasses.py: Go's malloc size classes. Models runtime/mksizeclasses.go (go1.24).

Run `python -m gomem.runtime.mksizeclasses` to regenerate; a test checks
that the committed file is what this prints.

The algorithm, in our words:

1. Walk sizes from 8 to 32768 bytes in steps of the current alignment. The
   alignment grows at powers of two: 16 from 32 bytes (heap bitmaps assume
   16-byte alignment from there), size/8 from 128, 256 from 2048.
2. For each size, take the fewest 8 KiB pages whose tail (the bytes left
   after fitting whole objects) is at most 1/8 of the span.
3. If that gives the same page count and the same object count as the
   previous class, the previous class simply grows to this size.
4. Finally, each class grows to the largest multiple of 128 bytes that
   still fits the same number of objects in its span.

This must yield 68 classes (class 0 stands for large objects). For each,
the division magic m = floor((2^32 - 1) / size) + 1 turns an offset n in
the span into n / size as (n * m) >> 32; Lemire, Kaser and Kurz
(arXiv:1902.01961) bound the fractional bits this needs, and we check it
never exceeds 32 and, in `verify_div_magic`, every offset exhaustively.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

MIN_HEAP_ALIGN = 8
MAX_SMALL_SIZE = 32 << 10
SMALL_SIZE_DIV = 8
SMALL_SIZE_MAX = 1024
LARGE_SIZE_DIV = 128
PAGE_SHIFT = 13
PAGE_SIZE = 1 << PAGE_SHIFT
NUM_SIZE_CLASSES = 68


@dataclass(slots=True)
class SizeClass:
    size: int  # bytes per object (0 for class 0, the large objects)
    npages: int  # 8 KiB pages per span


def _pow2(x: int) -> bool:
    return x > 0 and x & (x - 1) == 0


def make_classes() -> list[SizeClass]:
    classes = [SizeClass(0, 0)]
    align = MIN_HEAP_ALIGN
    size = align
    while size <= MAX_SMALL_SIZE:
        if _pow2(size):
            if size >= 2048:
                align = 256
            elif size >= 128:
                align = size // 8
            elif size >= 32:
                align = 16
        span = PAGE_SIZE
        while span % size > span // 8:
            span += PAGE_SIZE
        npages = span // PAGE_SIZE
        prev = classes[-1]
        if len(classes) > 1 and npages == prev.npages and span // size == span // prev.size:
            prev.size = size
        else:
            classes.append(SizeClass(size, npages))
        size += align
    for c in classes[1:]:
        span = c.npages * PAGE_SIZE
        bigger = (span // (span // c.size)) & ~(LARGE_SIZE_DIV - 1)
        c.size = max(c.size, bigger)
    if len(classes) != NUM_SIZE_CLASSES:
        raise AssertionError(f"mksizeclasses: {len(classes)} classes, expected {NUM_SIZE_CLASSES}")
    for c in classes[1:]:
        _check_fraction_bits(c)
    return classes


def div_magic(size: int) -> int:
    """The 32-bit reciprocal: n // size == (n * div_magic(size)) >> 32 within a span."""
    return 0 if size == 0 else (0xFFFFFFFF // size + 1) & 0xFFFFFFFF


def _check_fraction_bits(c: SizeClass) -> None:
    """Lemire et al., algorithm 2: the fractional bits F must be <= 32."""
    d, top = c.size, c.npages * PAGE_SIZE
    n_bits = top.bit_length()
    if _pow2(d):
        f = d.bit_length() - 1
    else:
        low = 0
        while d > (1 << (n_bits + low)) % d + (1 << low):
            low += 1
        f = n_bits + low
    if f > 32:
        raise AssertionError(f"mksizeclasses: class of {d} bytes needs {f} fractional bits")


def verify_div_magic(c: SizeClass) -> None:
    """Check (n * m) >> 32 == n // size for every offset 0..span (slow: for tests)."""
    m = div_magic(c.size)
    for n in range(c.npages * PAGE_SIZE + 1):
        if (n * m) >> 32 != n // c.size:
            raise AssertionError(f"mksizeclasses: bad magic for {c.size} at {n}")


def table_lines(classes: list[SizeClass]) -> list[str]:
    """The human-readable table, as the comment block Go's sizeclasses.go opens with."""
    lines = [
        f"// {'class':<5}  {'bytes/obj':<9}  {'bytes/span':<10}  {'objects':<7}  "
        f"{'tail waste':<10}  {'max waste':<9}  {'min align':<9}"
    ]
    prev = 0
    min_aligns = [0] * (PAGE_SHIFT + 1)  # smallest class size with each alignment
    for i, c in enumerate(classes):
        if i == 0:
            continue
        span = c.npages * PAGE_SIZE
        objects = span // c.size
        tail = span - c.size * objects
        max_waste = ((c.size - prev - 1) * objects + tail) / span
        align_bits = min((c.size & -c.size).bit_length() - 1, PAGE_SHIFT)
        for b in range(PAGE_SHIFT + 1):
            if b > align_bits:
                min_aligns[b] = 0
            elif min_aligns[b] == 0:
                min_aligns[b] = c.size
        prev = c.size
        lines.append(
            f"// {i:5d}  {c.size:9d}  {span:10d}  {objects:7d}  {tail:10d}  "
            f"{100 * max_waste:8.2f}%  {1 << align_bits:9d}"
        )
    lines.append("")
    lines.append(f"// {'alignment':<9}  {'bits':<4}  {'min obj size':<12}")
    for b, size in enumerate(min_aligns):
        if size == 0:
            break
        if b + 1 < len(min_aligns) and size == min_aligns[b + 1]:
            continue
        lines.append(f"// {1 << b:9d}  {b:4d}  {size:12d}")
    return lines


def _size_table(classes: list[SizeClass], first: int, step: int, count: int) -> list[int]:
    out = []
    for i in range(count):
        size = first + i * step
        out.append(next(j for j, c in enumerate(classes) if c.size >= size))
    return out


def _wrapped(name: str, values: list[int]) -> list[str]:
    lines = [f"{name} = ("]
    row: list[str] = []
    for v in values:
        row.append(f"{v},")
        if len(" ".join(row)) > 80:
            lines.append("    " + " ".join(row))
            row = []
    if row:
        lines.append("    " + " ".join(row))
    lines.append(")")
    return lines


def generate() -> str:
    """The text of sizeclasses.py."""
    classes = make_classes()
    most = max(c.npages * PAGE_SIZE // c.size for c in classes[1:])
    out = [
        "# Code generated by gomem.runtime.mksizeclasses; DO NOT EDIT.",
        '"""Go\'s malloc size classes (go1.24 runtime/sizeclasses.go), as data.',
        "",
        "Generated by `python -m gomem.runtime.mksizeclasses`; see that module for",
        "the algorithm and msize.py for the lookups. The table, in Go's own layout:",
        "",
        *(line.replace("// ", "", 1) if line else "" for line in table_lines(classes)),
        '"""',
        "",
        "# fmt: off",
        f"MIN_HEAP_ALIGN = {MIN_HEAP_ALIGN}",
        f"MAX_SMALL_SIZE = {MAX_SMALL_SIZE}",
        f"SMALL_SIZE_DIV = {SMALL_SIZE_DIV}",
        f"SMALL_SIZE_MAX = {SMALL_SIZE_MAX}",
        f"LARGE_SIZE_DIV = {LARGE_SIZE_DIV}",
        f"NUM_SIZE_CLASSES = {len(classes)}",
        f"PAGE_SHIFT = {PAGE_SHIFT}",
        f"MAX_OBJS_PER_SPAN = {most}",
        "",
    ]
    out += _wrapped("CLASS_TO_SIZE", [c.size for c in classes])
    out += _wrapped("CLASS_TO_ALLOCNPAGES", [c.npages for c in classes])
    out += _wrapped("CLASS_TO_DIVMAGIC", [div_magic(c.size) for c in classes])
    count8 = SMALL_SIZE_MAX // SMALL_SIZE_DIV + 1
    out += _wrapped("SIZE_TO_CLASS8", _size_table(classes, 0, SMALL_SIZE_DIV, count8))
    count128 = (MAX_SMALL_SIZE - SMALL_SIZE_MAX) // LARGE_SIZE_DIV + 1
    out += _wrapped(
        "SIZE_TO_CLASS128", _size_table(classes, SMALL_SIZE_MAX, LARGE_SIZE_DIV, count128)
    )
    out.append("# fmt: on")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    from pathlib import Path

    target = Path(__file__).with_name("sizeclasses.py")
    if "--stdout" in sys.argv:
        sys.stdout.write(generate())
    else:
        target.write_text(generate())
