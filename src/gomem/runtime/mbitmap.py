"""Where the pointers are: heap bits, malloc headers and large-object types.
Models the Go 1.22+ scheme of runtime/mbitmap.go (go1.24). See
docs/ARCHITECTURE.md for the allocator's overview.

The collector must find every pointer word of every heap object. Go 1.22
replaced the old heap bitmap with three cases, chosen by object size:

* Small pointerful objects (elemsize <= 512 B) have one bit per word in
  the *span's own memory*: the last 1/64th of the span (128 bytes of an
  8 KiB span), which is why such spans hold fewer objects. Word w of the
  span (w = (addr - base) / 8) is bit w % 64 of bitmap word w // 64. The
  allocator writes an object's bits (its type's mask repeated for arrays)
  when it allocates it (writeHeapBitsSmall). Objects of the 8-byte scan
  class are always one pointer, so that span's bitmap is set to all ones
  once, when the span is made (initHeapBits).
* Larger small objects (> 512 B) start with an 8-byte *malloc header*: a
  pointer to their type descriptor. The object the program sees starts 8
  bytes later, and the type's mask repeats over the rest of the slot.
* Large objects (own span) record their type in the span (largeType).

All bitmap and header words are stored in the simulated machine's memory,
so writing them touches pages exactly as Go does. Type descriptors have
addresses (see Runtime.type_addr) so a header holds a real pointer.

type_pointers_of returns the addresses of an object's pointer words as the
collector will see them (typePointersOfUnchecked + next).

Simplified: no GC programs (every type's mask is materialised), no
user-arena chunks, no asan/msan padding.
"""

from __future__ import annotations

from collections.abc import Callable

from gomem.machine import Process
from gomem.runtime.mheap import MASK64, PAGE_SIZE, PTR_SIZE, MSpan
from gomem.runtime.type import Type

PTR_BITS = 64  # bits in a pointer-sized word
MIN_SIZE_FOR_MALLOC_HEADER = PTR_SIZE * PTR_BITS  # 512
MALLOC_HEADER_SIZE = 8


def heap_bits_in_span(user_size: int) -> bool:
    """heapBitsInSpan: do objects of this size keep their pointer bits in the span?"""
    return user_size <= MIN_SIZE_FOR_MALLOC_HEADER


def init_heap_bits(process: Process, s: MSpan) -> None:
    """initHeapBits: prepare a new span's bitmap (all ones for 8-byte scan objects)."""
    if s.spanclass & 1 or not heap_bits_in_span(s.elemsize):
        return
    nwords = s.npages * PAGE_SIZE // PTR_SIZE // 8 // PTR_SIZE
    fill = MASK64 if s.spanclass >> 1 == 1 else 0
    process.store_words(s.heap_bits_addr(), [fill] * nwords)


def repeated_mask(typ: Type, data_size: int) -> tuple[int, int]:
    """The object's pointer mask (bit per word) and its scan size, for data_size bytes
    of values of typ (an array when data_size > typ.size)."""
    if typ.size == PTR_SIZE:
        # One pointer-sized element: every word is a pointer. Go counts the scan
        # size of one element here, whatever the length.
        return (1 << (data_size // PTR_SIZE)) - 1, typ.ptr_bytes
    src = typ.ptrmask
    scan = typ.ptr_bytes
    i = typ.size
    while i < data_size:
        src |= typ.ptrmask << (i // PTR_SIZE)
        scan += typ.size
        i += typ.size
    return src, scan


def write_heap_bits_small(process: Process, s: MSpan, x: int, data_size: int, typ: Type) -> int:
    """writeHeapBitsSmall: store x's pointer bits in the span; returns the scan size.

    Hot path (every small pointerful allocation): shifts instead of divisions,
    and the repeat loop only for arrays.
    """
    if data_size == typ.size and typ.size != PTR_SIZE:
        src, scan = typ.ptrmask, typ.ptr_bytes  # one value: its own mask
    else:
        src, scan = repeated_mask(typ, data_size)
    base = s.start_addr
    nbytes = s.npages << 13
    dst = base + nbytes - (nbytes >> 6)  # the span's last 1/64th (heap_bits_addr)
    o = (x - base) >> 3
    i, j = o >> 6, o & 63
    bits = s.elemsize >> 3
    if j + bits > PTR_BITS:
        bits0 = PTR_BITS - j
        bits1 = bits - bits0
        w0, w1 = process.load_words(dst + i * PTR_SIZE, 2)
        w0 = (w0 & (MASK64 >> bits0)) | ((src << j) & MASK64)
        w1 = (w1 & ~((1 << bits1) - 1) & MASK64) | (src >> bits0)
        process.store_words(dst + i * PTR_SIZE, [w0, w1])
    else:
        keep = ~(((1 << bits) - 1) << j) & MASK64
        process.update64(dst + (i << 3), keep, (src << j) & MASK64)
    return scan


def heap_bits_small_for_addr(process: Process, s: MSpan, addr: int) -> int:
    """heapBitsSmallForAddr: the pointer bits of the object at addr, read from the span."""
    dst = s.heap_bits_addr()
    o = (addr - s.start_addr) // PTR_SIZE
    i, j = divmod(o, PTR_BITS)
    bits = s.elemsize // PTR_SIZE
    if j + bits > PTR_BITS:
        bits0 = PTR_BITS - j
        w0, w1 = process.load_words(dst + i * PTR_SIZE, 2)
        return (w0 >> j) | ((w1 & ((1 << (bits - bits0)) - 1)) << bits0)
    return (process.load64(dst + i * PTR_SIZE) >> j) & ((1 << bits) - 1)


def type_pointers_of(
    process: Process, s: MSpan, addr: int, type_at: Callable[[int], Type]
) -> list[int]:
    """The addresses of the pointer words of the object whose slot starts at addr.

    addr is the slot's start (for header objects, the header's address), as
    the collector gets it from the span; type_at maps a descriptor address
    to its Type.
    """
    if s.spanclass & 1:
        return []
    limit = addr + s.elemsize
    if heap_bits_in_span(s.elemsize):
        mask = heap_bits_small_for_addr(process, s, addr)
        out = []
        w = 0
        while mask:
            if mask & 1:
                out.append(addr + w * PTR_SIZE)
            mask >>= 1
            w += 1
        return out
    if s.spanclass >> 1 != 0:
        typ = type_at(process.load64(addr))
        addr += MALLOC_HEADER_SIZE
    else:
        if s.large_type is None:
            return []
        typ = s.large_type
    offsets = typ.pointer_offsets()
    out = []
    elem = addr
    while elem < limit:
        for off in offsets:
            if elem + off < limit:
                out.append(elem + off)
        elem += typ.size
    return out
