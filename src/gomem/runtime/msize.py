"""Request size -> size class and rounded size. Models runtime/msize.go and the
size dispatch at the top of mallocgc in runtime/malloc.go (go1.24).

See docs/ARCHITECTURE.md. A request of `size` bytes is, in Go 1.24 on amd64:

    0                        no allocation (the address of zerobase)
    < 16, pointer-free       tiny: packed into a 16-byte block with others
    <= 32760                 small: the smallest class that fits; a pointerful
                             object over 512 bytes first gains an 8-byte malloc
                             header (its type), so it is looked up as size + 8
    otherwise                large: its own span of whole 8 KiB pages (class 0)

32760 is maxSmallSize - mallocHeaderSize: Go checks it before it knows
whether the object has pointers, so 32761..32768-byte objects are large even
when pointer-free. Class lookups use size_to_class8 up to 1016 bytes and
size_to_class128 above, as Go's sizeToClass* do.
"""

from __future__ import annotations

from dataclasses import dataclass

from .sizeclasses import (
    CLASS_TO_ALLOCNPAGES,
    CLASS_TO_SIZE,
    LARGE_SIZE_DIV,
    MAX_SMALL_SIZE,
    PAGE_SHIFT,
    SIZE_TO_CLASS8,
    SIZE_TO_CLASS128,
    SMALL_SIZE_DIV,
    SMALL_SIZE_MAX,
)

PAGE_SIZE = 1 << PAGE_SHIFT  # Go's heap page, 8 KiB (not the OS page)
MALLOC_HEADER_SIZE = 8  # mbitmap.go mallocHeaderSize
MIN_SIZE_FOR_MALLOC_HEADER = 512  # mbitmap.go: ptrSize * ptrBits
MAX_TINY_SIZE = 16  # malloc.go maxTinySize
TINY_SIZE_CLASS = 2  # the 16-byte class tiny blocks come from


def size_to_class(size: int) -> int:
    """The size class of a small request of 1..32768 bytes (sizeToClass8/128)."""
    if not 0 < size <= MAX_SMALL_SIZE:
        raise ValueError(f"size_to_class: {size} is not a small size (1..{MAX_SMALL_SIZE})")
    if size <= SMALL_SIZE_MAX - 8:
        return SIZE_TO_CLASS8[(size + SMALL_SIZE_DIV - 1) // SMALL_SIZE_DIV]
    return SIZE_TO_CLASS128[(size - SMALL_SIZE_MAX + LARGE_SIZE_DIV - 1) // LARGE_SIZE_DIV]


def roundupsize(size: int, noscan: bool) -> int:
    """The bytes mallocgc would give a request of size (without the malloc header)."""
    req = size
    if req <= MAX_SMALL_SIZE - MALLOC_HEADER_SIZE:
        if not noscan and req > MIN_SIZE_FOR_MALLOC_HEADER:
            req += MALLOC_HEADER_SIZE
        return CLASS_TO_SIZE[size_to_class(req)] - (req - size) if req else 0
    return (req + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE


@dataclass(frozen=True, slots=True)
class SizeExplanation:
    """Where a request of `size` bytes goes, and what it wastes."""

    size: int  # bytes requested
    pointers: bool  # whether the object holds pointers (scan) or not (noscan)
    kind: str  # "zero", "tiny", "small" or "large"
    size_class: int  # 0 for large objects and zero-size requests
    header: int  # malloc header bytes (8 or 0)
    elem_size: int  # bytes the object occupies: its class size, or its pages
    span_bytes: int  # bytes of the span that holds it
    objects_per_span: int  # objects of this class in one span (1 for large)
    tail_waste: int  # bytes at the end of a span no object can use
    heap_bits: int = 0  # bytes at the span's end holding its pointer bits (small scan <= 512 B)

    @property
    def waste(self) -> int:
        """Bytes of the block not requested (rounding plus header)."""
        return self.elem_size - self.size if self.kind != "tiny" else 0


def explain(size: int, pointers: bool = False) -> SizeExplanation:
    """Classify a request as mallocgc does and give its class figures."""
    if size < 0:
        raise ValueError(f"explain: negative size {size}")
    if size == 0:
        return SizeExplanation(0, pointers, "zero", 0, 0, 0, 0, 0, 0)
    if size <= MAX_SMALL_SIZE - MALLOC_HEADER_SIZE:
        if not pointers and size < MAX_TINY_SIZE:
            cls, kind, header = TINY_SIZE_CLASS, "tiny", 0
        else:
            header = MALLOC_HEADER_SIZE if pointers and size > MIN_SIZE_FOR_MALLOC_HEADER else 0
            cls, kind = size_to_class(size + header), "small"
        elem = CLASS_TO_SIZE[cls]
        span = CLASS_TO_ALLOCNPAGES[cls] * PAGE_SIZE
        # mheap.initSpan: a scan span of objects <= 512 B keeps one bit per word
        # (span/64 bytes) at its end, so fewer objects fit.
        bits = span // 64 if pointers and elem <= MIN_SIZE_FOR_MALLOC_HEADER else 0
        n = (span - bits) // elem
        return SizeExplanation(
            size, pointers, kind, cls, header, elem, span, n, span - bits - n * elem, bits
        )
    pages = (size + PAGE_SIZE - 1) // PAGE_SIZE
    return SizeExplanation(
        size, pointers, "large", 0, 0, pages * PAGE_SIZE, pages * PAGE_SIZE, 1, 0
    )
