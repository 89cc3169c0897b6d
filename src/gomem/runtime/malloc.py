"""mallocgc: the allocation paths. Models runtime/malloc.go (go1.24):
mallocgc, mallocgcTiny, mallocgcSmallNoscan, mallocgcSmallScanNoHeader,
mallocgcSmallScanHeader, mallocgcLarge and nextFreeFast.

The overview (the essay of Go's malloc.go, in our words):

    request size  pointers?        path                      where it goes
    0             -                zerobase                  one shared address
    1..15         no               tiny                      a 16-byte block shared by
                                                             several objects
    16..32760     no               small noscan              a slot of a noscan span
    1..512        yes              small scan, no header     a slot of a scan span; the
                                                             span's tail holds heap bits
    513..32760    yes              small scan with header    8-byte type header + object
    larger        either           large                     a span of its own, class 0

A small request is rounded up to its size class; the P's mcache has a span
of that class, and nextFreeFast finds its next free slot from the span's
64-bit allocCache with one count-trailing-zeros. When the cached span is
full, the mcache refills from mcentral, which takes a span from its sets
or a new one from mheap, which takes pages from the page allocator, which
grows the heap in 4 MiB chunks of 64 MiB arenas mapped from the OS.

Memory is zeroed only when it may be dirty (span.needzero: the pages were
used before), except that a tiny block's two words are always cleared and
a large pointerful object is always cleared, as in Go; clearing writes to
the simulated memory, so it faults pages in.

Tiny allocator rules: an object of 1..15 pointer-free bytes is placed at
the current block's offset aligned to 8 (size multiple of 8), 4 (multiple
of 4) or 2 (even); if it does not fit, a new 16-byte block is taken, and
it becomes the current block only if it has more room left than the old
one. Tiny allocations are counted in Mallocs (and Frees) one by one, but
in HeapObjects and HeapAlloc only by block.

Hot path: next_free_fast and small_slot are written for speed (locals,
int bit tricks); every small path takes its slot through them.

Simplified: no GC assist credit, no GC trigger, no heap profiling, no
write barrier colouring of new objects (all arrive with the collector); no
race/msan/asan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gomem.runtime.mbitmap import MALLOC_HEADER_SIZE, write_heap_bits_small
from gomem.runtime.mheap import TINY_SPAN_CLASS, MSpan
from gomem.runtime.sizeclasses import (
    MAX_SMALL_SIZE,
    SIZE_TO_CLASS8,
    SIZE_TO_CLASS128,
)
from gomem.runtime.type import Type

if TYPE_CHECKING:
    from gomem.runtime.mcache import MCache
    from gomem.runtime.runtime import Runtime

MAX_TINY_SIZE = 16
MAX_SMALL_REQUEST = MAX_SMALL_SIZE - MALLOC_HEADER_SIZE  # 32760: larger goes large
MIN_SIZE_FOR_MALLOC_HEADER = 512
_ZEROS = bytes(1 << 16)
_ZERO_VIEW = memoryview(_ZEROS)
_ZERO_WORDS = (0,) * 32


def next_free_fast(s: MSpan) -> int:
    """nextFreeFast: the next free slot from s.alloc_cache, or 0 if it needs nextFree."""
    cache = s.alloc_cache
    if cache:
        bit = (cache & -cache).bit_length() - 1
        result = s.freeindex + bit
        if result < s.nelems:
            freeidx = result + 1
            if freeidx % 64 == 0 and freeidx != s.nelems:
                return 0
            s.alloc_cache = cache >> (bit + 1)
            s.freeindex = freeidx
            s.alloc_count += 1
            return result * s.elemsize + s.start_addr
    return 0


def memclr(rt: Runtime, x: int, n: int) -> None:
    """memclrNoHeapPointers: write n zero bytes at x in the simulated memory."""
    if n <= 256 and not n & 7 and (x & 4095) + n <= 4096:
        rt.process.store_words(x, _ZERO_WORDS[: n >> 3])  # small: one translation
        return
    write = rt.process.write
    while n > 0:
        k = min(n, len(_ZEROS))
        write(x, _ZERO_VIEW[:k])  # a view: no copy of the zeros
        x += k
        n -= k


def mallocgc(rt: Runtime, size: int, typ: Type | None, needzero: bool, c: MCache) -> int:
    """mallocgc: allocate size bytes for a value of typ (None: no pointers)."""
    if size == 0:
        return rt.zerobase
    if size <= MAX_SMALL_REQUEST:
        if typ is None or typ.ptr_bytes == 0:
            if size < MAX_TINY_SIZE:
                return mallocgc_tiny(rt, size, c)
            return mallocgc_small_noscan(rt, size, needzero, c)
        if size <= MIN_SIZE_FOR_MALLOC_HEADER:
            return mallocgc_small_scan_no_header(rt, size, typ, needzero, c)
        return mallocgc_small_scan_header(rt, size, typ, needzero, c)
    return mallocgc_large(rt, size, typ, needzero, c)


def mallocgc_tiny(rt: Runtime, size: int, c: MCache) -> int:
    """mallocgcTiny: pack a pointer-free object of < 16 bytes into a shared block."""
    off = c.tiny_offset
    if size & 7 == 0:
        off = (off + 7) & ~7
    elif size & 3 == 0:
        off = (off + 3) & ~3
    elif size & 1 == 0:
        off = (off + 1) & ~1
    if off + size <= MAX_TINY_SIZE and c.tiny != 0:
        x = c.tiny + off
        c.tiny_offset = off + size
        c.tiny_allocs += 1
        rt.tiny_refs[c.tiny] += 1
        return x
    span = c.alloc[TINY_SPAN_CLASS]
    v = next_free_fast(span)
    if v == 0:
        v, span, _ = c.next_free(TINY_SPAN_CLASS)
    rt.process.store_words(v, (0, 0))  # Go always clears a new tiny block
    rt.tiny_refs[v] = 1
    if size < c.tiny_offset or c.tiny == 0:
        old = c.tiny
        c.tiny = v
        c.tiny_offset = size
        if old:
            rt.retire_tiny_block(old)
    span.free_index_for_scan = span.freeindex
    return v


def size_class(size: int) -> int:
    """size_to_class8 / size_to_class128 for a small size (1..32768), no checks."""
    if size <= 1016:
        return SIZE_TO_CLASS8[(size + 7) >> 3]
    return SIZE_TO_CLASS128[(size - 1024 + 127) >> 7]


def small_slot(rt: Runtime, c: MCache, spc: int, needzero: bool) -> tuple[int, MSpan]:
    """A free slot of span class spc: nextFreeFast, else nextFree (refilling the mcache);
    cleared if its span may be dirty. Every small path takes its slot here."""
    s = c.alloc[spc]
    x = next_free_fast(s)
    if x == 0:
        x, s, _ = c.next_free(spc)
    if needzero and s.needzero:
        memclr(rt, x, s.elemsize)
    s.free_index_for_scan = s.freeindex
    return x, s


def mallocgc_small_noscan(rt: Runtime, size: int, needzero: bool, c: MCache) -> int:
    """mallocgcSmallNoscan: a slot of a pointer-free span."""
    return small_slot(rt, c, size_class(size) << 1 | 1, needzero)[0]


def mallocgc_small_scan_no_header(
    rt: Runtime, size: int, typ: Type, needzero: bool, c: MCache
) -> int:
    """mallocgcSmallScanNoHeader: a slot of a scan span; pointer bits go in the span."""
    sizeclass = size_class(size)
    x, s = small_slot(rt, c, sizeclass << 1, needzero)
    if sizeclass == 1:
        c.scan_alloc += 8  # the span's bits are already all ones
    else:
        c.scan_alloc += write_heap_bits_small(rt.process, s, x, size, typ)
    return x


def mallocgc_small_scan_header(rt: Runtime, size: int, typ: Type, needzero: bool, c: MCache) -> int:
    """mallocgcSmallScanHeader: an 8-byte type pointer, then the object."""
    x, s = small_slot(rt, c, size_class(size + MALLOC_HEADER_SIZE) << 1, needzero)
    rt.process.store64(x, rt.type_addr(typ))  # heapSetTypeSmallHeader
    c.scan_alloc += s.elemsize
    return x + MALLOC_HEADER_SIZE


def mallocgc_large(rt: Runtime, size: int, typ: Type | None, needzero: bool, c: MCache) -> int:
    """mallocgcLarge: a span of its own, described by its type (largeType)."""
    noscan = typ is None or typ.ptr_bytes == 0
    s = c.alloc_large(size, noscan)
    s.freeindex = 1
    s.alloc_count = 1
    s.large_type = None
    x = s.start_addr
    s.free_index_for_scan = s.freeindex
    if not noscan or (needzero and s.needzero):
        memclr(rt, x, s.elemsize)  # memclrNoHeapPointersChunked
    if not noscan:
        s.large_type = typ  # heapSetTypeLarge
        c.scan_alloc += s.elemsize
    return x
