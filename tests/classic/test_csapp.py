"""The CS:APP 3e section 9.9 allocator (the CSAPP preset), pinned byte for byte.

The textbook's rules: 4-byte words (WSIZE), 8-byte double words (DSIZE) and
alignment; mm_init writes a padding word, a prologue block of header and
footer (8|1) and an epilogue header (0|1), then extends the heap by CHUNKSIZE
= 4096 bytes; mm_malloc adjusts a request to

    asize = 2*DSIZE = 16                           if size <= DSIZE
    asize = DSIZE * ((size + DSIZE + DSIZE-1) / DSIZE)  otherwise

finds the first fit in the implicit list, splits when the rest is at least
2*DSIZE = 16 bytes, and otherwise extends the heap by max(asize, CHUNKSIZE);
mm_free coalesces immediately (fig. 9.40's four cases); mm_realloc is
malloc + copy + free. All offsets below are from lo, the heap's start.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from gomem.classic.allocator import CSAPP, Allocator
from gomem.machine import ExecutableImage, Machine

CHUNK = 4096


def image_break() -> int:
    """Where the break starts: the end of bss of the default executable image."""
    img = ExecutableImage()
    return img.base + img.text_bytes + img.rodata_bytes + img.data_bytes + img.bss_bytes


def csapp() -> Allocator:
    return Allocator(Machine().spawn("t"), CSAPP)


def layout(a: Allocator) -> list[tuple[int, int, bool]]:
    """(offset from lo, block size, allocated) of every block."""
    return [(bp - a.heap.lo, size, alloc) for bp, size, alloc in a.blocks()]


def test_the_preset_is_the_textbook_configuration() -> None:
    assert CSAPP.organization == "implicit"
    assert CSAPP.policy == "first"
    assert (CSAPP.word, CSAPP.align, CSAPP.chunk) == (4, 8, 4096)
    assert CSAPP.coalesce == "immediate"
    assert CSAPP.realloc == "copy"


def test_mm_init_writes_prologue_and_epilogue_and_extends_by_one_chunk() -> None:
    a = csapp()
    lo = a.heap.lo
    # 0x400000 + 0x9F000 + 0xCD000 + 0xB000 + 0x23000 = 0x59A000
    assert lo == image_break() == 0x59A000
    get = a.heap.get
    assert get(lo) == 0  # alignment padding
    assert get(lo + 4) == 8 | 1  # prologue header
    assert get(lo + 8) == 8 | 1  # prologue footer
    assert a.prologue == lo + 8  # heap_listp
    # The 16 bytes of mm_init, then the 4096-byte extension: its header is the
    # old epilogue at lo + 12, its payload at lo + 16, its footer at
    # lo + 16 + 4096 - 8 = lo + 4104, the new epilogue at lo + 4108.
    assert a.heap.hi == a.heap.process.sbrk(0) == lo + 16 + 4096
    assert get(lo + 12) == 4096 | 0
    assert get(lo + 4104) == 4096 | 0
    assert get(lo + 4108) == 0 | 1
    assert layout(a) == [(16, 4096, False)]
    a.check()


@pytest.mark.parametrize(
    ("size", "asize"),
    [
        (1, 16),  # <= DSIZE: 2 * DSIZE
        (8, 16),  # <= DSIZE: 2 * DSIZE
        (9, 24),  # 8 * ((9 + 15) // 8) = 8 * 3
        (16, 24),  # 8 * ((16 + 15) // 8) = 8 * 3
        (17, 32),  # 8 * ((17 + 15) // 8) = 8 * 4
        (24, 32),  # 8 * (39 // 8) = 8 * 4
        (40, 48),  # 8 * (55 // 8) = 8 * 6
        (100, 112),  # 8 * (115 // 8) = 8 * 14
        (4088, 4096),  # 8 * (4103 // 8) = 8 * 512
        (5000, 5008),  # 8 * (5015 // 8) = 8 * 626
    ],
    ids=lambda v: str(v),
)
def test_mm_malloc_adjusts_the_request_by_the_textbook_formula(size: int, asize: int) -> None:
    a = csapp()
    bp = a.malloc(size)
    assert a.block_size(bp) == asize
    # The header and footer both hold asize | 1.
    assert a.heap.get(bp - 4) == asize | 1
    assert a.heap.get(bp + asize - 8) == asize | 1


# A worked trace: (op, name, size, expected offset returned, blocks after, brk after).
# Block lists are (offset, size, allocated); brk is an offset from lo.
WORKED: list[tuple[str, str, int, int | None, list[tuple[int, int, bool]], int]] = [
    # 1 -> 16 bytes at 16; the rest 4096 - 16 = 4080 >= 16 is split off at 32
    ("malloc", "p1", 1, 16, [(16, 16, True), (32, 4080, False)], 4112),
    # 9 -> 24 at 32; rest 4080 - 24 = 4056 at 56
    ("malloc", "p2", 9, 32, [(16, 16, True), (32, 24, True), (56, 4056, False)], 4112),
    # 24 -> 32 at 56; rest 4056 - 32 = 4024 at 88
    (
        "malloc",
        "p3",
        24,
        56,
        [(16, 16, True), (32, 24, True), (56, 32, True), (88, 4024, False)],
        4112,
    ),
    # 1 -> 16 at 88; rest 4024 - 16 = 4008 at 104 (104 + 4008 = 4112 = brk)
    (
        "malloc",
        "p4",
        1,
        88,
        [(16, 16, True), (32, 24, True), (56, 32, True), (88, 16, True), (104, 4008, False)],
        4112,
    ),
    # case 1: p1 and p3 allocated, p2 stays a free 24-byte block
    (
        "free",
        "p2",
        0,
        None,
        [(16, 16, True), (32, 24, False), (56, 32, True), (88, 16, True), (104, 4008, False)],
        4112,
    ),
    # case 3: previous (p2) free, next (p4) allocated: 24 + 32 = 56 at 32
    (
        "free",
        "p3",
        0,
        None,
        [(16, 16, True), (32, 56, False), (88, 16, True), (104, 4008, False)],
        4112,
    ),
    # case 2: previous (prologue) allocated, next free: 16 + 56 = 72 at 16
    ("free", "p1", 0, None, [(16, 72, False), (88, 16, True), (104, 4008, False)], 4112),
    # 40 -> 48: first fit is the 72 at 16; the rest 24 >= 16 is split off at 64
    (
        "malloc",
        "p5",
        40,
        16,
        [(16, 48, True), (64, 24, False), (88, 16, True), (104, 4008, False)],
        4112,
    ),
    # case 4: both neighbours free: 24 + 16 + 4008 = 4048 at 64
    ("free", "p4", 0, None, [(16, 48, True), (64, 4048, False)], 4112),
    # 5000 -> 5008 > 4048: no fit; extend by max(5008, 4096) = 5008: brk
    # 4112 -> 9120; the new block (at 4112, header on the old epilogue at
    # 4108) coalesces with the free 4048 at 64 into 9056; placing 5008 there
    # leaves 9056 - 5008 = 4048 free at 64 + 5008 = 5072
    ("malloc", "p6", 5000, 64, [(16, 48, True), (64, 5008, True), (5072, 4048, False)], 9120),
    # case 1: the prologue and p6 allocated
    ("free", "p5", 0, None, [(16, 48, False), (64, 5008, True), (5072, 4048, False)], 9120),
    # case 4: all of it, 48 + 5008 + 4048 = 9104 = 9120 - 16, one free block
    ("free", "p6", 0, None, [(16, 9104, False)], 9120),
]


def test_a_worked_trace_lays_out_every_block_as_the_textbook_rules_say() -> None:
    a = csapp()
    lo = a.heap.lo
    names: dict[str, int] = {}
    for step, (op, name, size, offset, blocks, brk) in enumerate(WORKED, 1):
        where = f"step {step}: {op} {name}"
        if op == "malloc":
            bp = a.malloc(size)
            assert bp - lo == offset, where
            names[name] = bp
        else:
            a.free(names.pop(name))
        assert layout(a) == blocks, where
        assert a.heap.hi - lo == brk, where
        assert a.heap.get(a.heap.hi - 4) == 1, where  # the epilogue moved with brk
        a.check()
    assert a.grows == 1  # only p6 found no fit


def test_a_small_request_with_nothing_free_extends_by_one_chunk() -> None:
    a = csapp()
    lo = a.heap.lo
    # 4088 -> 4096: the whole first chunk, nothing left free
    assert a.malloc(4088) == lo + 16
    assert layout(a) == [(16, 4096, True)]
    # 1 -> 16: no fit; extend by max(16, 4096) = 4096: brk 4112 -> 8208; the
    # new block's header is the old epilogue at 4108, its payload at 4112.
    bp = a.malloc(1)
    assert bp == lo + 4112
    assert a.heap.hi == lo + 8208
    assert layout(a) == [(16, 4096, True), (4112, 16, True), (4128, 4080, False)]
    a.check()


def test_a_big_request_with_nothing_free_extends_by_its_own_size() -> None:
    a = csapp()
    lo = a.heap.lo
    a.malloc(4088)  # the whole first chunk
    # 6000 -> 8 * (6015 // 8) = 6008 > 4096: extend by 6008, taken whole.
    bp = a.malloc(6000)
    assert bp == lo + 4112
    assert a.heap.hi == lo + 4112 + 6008
    assert layout(a) == [(16, 4096, True), (4112, 6008, True)]
    a.check()


def test_realloc_moves_even_when_the_next_block_could_take_the_growth() -> None:
    a = csapp()
    lo = a.heap.lo
    p = a.malloc(8)  # 16 bytes at 16; 4080 free right after it
    a.heap.write(p, b"ABCDEFGH")
    # malloc(16) -> 24: first fit is the free block at 32; then p is freed
    # (case 1: the prologue and the new block are allocated).
    q = a.realloc(p, 16)
    assert q == lo + 32
    assert a.heap.read(q, 8) == b"ABCDEFGH"
    assert layout(a) == [(16, 16, False), (32, 24, True), (56, 4056, False)]
    a.check()
    # The same heap with in-place realloc would have grown p where it stood.
    b = Allocator(Machine().spawn("t"), replace(CSAPP, realloc="inplace"))
    p = b.malloc(8)
    assert b.realloc(p, 16) == p


def test_realloc_moves_even_when_it_shrinks() -> None:
    a = csapp()
    lo = a.heap.lo
    p = a.malloc(100)  # 112 at 16; free 3984 at 128
    data = bytes(range(100))
    a.heap.write(p, data)
    # malloc(10) -> 24 at 128, copy 10 bytes, free p: 112 free at 16
    q = a.realloc(p, 10)
    assert q == lo + 128
    assert a.heap.read(q, 10) == data[:10]
    assert layout(a) == [(16, 112, False), (128, 24, True), (152, 3960, False)]
    a.check()
