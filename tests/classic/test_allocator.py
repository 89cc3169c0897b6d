"""Boundary-tag allocators (CS:APP 3e 9.9, OSTEP ch. 17): placement policies,
splitting, the four coalescing cases, free-list order, size classes, realloc,
configuration errors, the heap checker and heap growth.

Unless a test says otherwise the configuration is the default one: 8-byte
words and 16-byte alignment, so a block is payload + header + footer rounded
up to 16 bytes, and the smallest block (header, footer and two list links)
is 4 * 8 = 32 bytes. A request for a block of B bytes (B a multiple of 16,
B >= 32) is therefore a request for B - 16 payload bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from gomem import testing
from gomem.classic.allocator import CSAPP, Allocator, Config, HeapCorruption
from gomem.machine import Machine, Process

PAGE = 4096


def spawn() -> Process:
    return Machine().spawn("t")


def new(config: Config | None = None, **options: object) -> Allocator:
    """An allocator on a fresh process."""
    return Allocator(spawn(), config if config is not None else Config(**options))  # type: ignore[arg-type]


def request_for(a: Allocator, block: int) -> int:
    """The payload request whose block is exactly `block` bytes: minus header and footer."""
    return block - 2 * a.config.word


def lay_out(a: Allocator, blocks: list[int]) -> list[int]:
    """malloc blocks of exactly these sizes; return their payload addresses.

    Nothing is free but (at most) the one block at the end of the heap, so
    every policy carves them from its front, in address order.
    """
    addrs = [a.malloc(request_for(a, size)) for size in blocks]
    for i, (bp, size) in enumerate(zip(addrs, blocks, strict=True)):
        assert a.block_size(bp) == size, (i, size)
        if i:
            assert bp == addrs[i - 1] + blocks[i - 1], "blocks are not contiguous"
    return addrs


def free_blocks(a: Allocator) -> list[tuple[int, int]]:
    return [(bp, size) for bp, size, allocated in a.blocks() if not allocated]


def listed(a: Allocator) -> set[int]:
    return {bp for nodes in a.free_lists() for bp in nodes}


# ---------------------------------------------------------------------------
# Placement: the acceptance example
# ---------------------------------------------------------------------------

# Free holes of these sizes, in units of 64 bytes of block size, in address
# order, each followed by a 32-byte allocated guard so no two holes coalesce.
UNIT = 64
HOLES = [10, 4, 20, 18, 7, 9, 12, 15]
GUARD = 32
# The heap is exactly the holes and guards: 95 units + 8 guards =
# 95 * 64 + 8 * 32 = 6080 + 256 = 6336 bytes; with chunk = 6336 the first
# extension is that one free block, and no free tail is left after the layout.
LAYOUT = [b for h in HOLES for b in (h * UNIT, GUARD)]
HOLE_HEAP = sum(LAYOUT)
assert HOLE_HEAP == 6336


def holes_heap(**options: object) -> tuple[Allocator, list[int]]:
    """The eight holes, freed in address order; returns the allocator and hole addresses."""
    a = new(chunk=HOLE_HEAP, **options)
    addrs = lay_out(a, LAYOUT)
    holes = addrs[0::2]
    for bp in holes:
        a.free(bp)
    assert free_blocks(a) == [(bp, h * UNIT) for bp, h in zip(holes, HOLES, strict=True)]
    a.check()
    return a, holes


# A request of 12 units: a 12 * 64 = 768-byte block, 752 payload bytes.
# Segregated size classes for the 32-byte minimum block are (32, 64, ...,
# 4096] as powers of two, so the hole block sizes fall in these classes:
#   10 -> 640 (<=1024)   4 -> 256 (<=256)   20 -> 1280 (<=2048)  18 -> 1152 (<=2048)
#    7 -> 448 (<=512)    9 -> 576 (<=1024)  12 -> 768 (<=1024)   15 -> 960 (<=1024)
# and the 768-byte request starts its search in the (512, 1024] class, which
# holds the 10, 9, 12 and 15 holes: the 20 hole is in a higher class.
PLACEMENT = [
    # (organization, policy, insertion, index of the hole taken, why)
    ("implicit", "first", "lifo", 2, "walk in address order: 10, 4 too small, 20 fits"),
    ("explicit", "first", "address", 2, "list in address order: same as the walk"),
    ("explicit", "first", "lifo", 7, "list head is the last freed (15), and 15 >= 12"),
    ("segregated", "first", "address", 6, "its class in address order: 10, 9 small, 12"),
    ("segregated", "first", "lifo", 7, "its class, last freed first: 15"),
    ("implicit", "next", "lifo", 2, "the first search starts at the heap's start"),
    ("explicit", "next", "address", 2, "the first search starts at the list head"),
    ("implicit", "best", "lifo", 6, "the smallest hole >= 12 is the 12"),
    ("explicit", "best", "address", 6, "the smallest hole >= 12 is the 12"),
    ("explicit", "best", "lifo", 6, "the smallest hole >= 12 is the 12, in any list order"),
    ("segregated", "best", "address", 6, "the 12 is in the first class that has a fit"),
    ("segregated", "best", "lifo", 6, "the 12 is in the first class that has a fit"),
    ("implicit", "worst", "lifo", 2, "the largest hole is the 20"),
    ("explicit", "worst", "address", 2, "the largest hole is the 20"),
    ("explicit", "worst", "lifo", 2, "the largest hole is the 20"),
    ("segregated", "worst", "address", 2, "the largest, searching every class upward"),
    ("segregated", "worst", "lifo", 2, "the largest, searching every class upward"),
]


@pytest.mark.parametrize("coalesce", ["immediate", "deferred"])
@pytest.mark.parametrize(
    ("organization", "policy", "insertion", "hole", "why"),
    PLACEMENT,
    ids=[f"{o}-{p}-{i}" for o, p, i, _, _ in PLACEMENT],
)
def test_a_12_unit_request_takes_the_hole_its_policy_picks(
    organization: str, policy: str, insertion: str, hole: int, why: str, coalesce: str
) -> None:
    a, holes = holes_heap(
        organization=organization, policy=policy, insertion=insertion, coalesce=coalesce
    )
    hi = a.heap.hi
    bp = a.malloc(12 * UNIT - 16)
    assert bp == holes[hole], why
    assert a.block_size(bp) == 12 * UNIT and a.is_allocated(bp)
    # The rest of the hole (if >= 32 bytes) is split off as a free block.
    rest = HOLES[hole] * UNIT - 12 * UNIT
    if rest:
        assert (bp + 12 * UNIT, rest) in free_blocks(a)
    assert a.heap.hi == hi and a.grows == 0  # a fit was found: no growth
    a.check()


# Four requests in a row (in units): 12, 9, 15, 10.
#   first fit restarts at the lowest address each time:
#     12 -> the 20 (8 left);  9 -> the 10 (1 left);  15 -> the 18 (3 left);
#     10 -> 10-rest 1, 4, 20-rest 8, 18-rest 3, 7, 9 too small -> the 12
#   next fit resumes where the last search stopped:
#     12 -> the 20;  9 -> from the 20: its rest 8 too small -> the 18;
#     15 -> from the 18: its rest 9, 7, 9, 12 too small -> the 15;
#     10 -> from the 15: nothing after it, wrap to the start -> the 10
SEQUENCE = [12, 9, 15, 10]
FIRST_FIT_HOLES = [2, 0, 3, 6]
NEXT_FIT_HOLES = [2, 3, 7, 0]


@pytest.mark.parametrize("coalesce", ["immediate", "deferred"])
@pytest.mark.parametrize(
    ("organization", "policy", "expected"),
    [
        ("implicit", "first", FIRST_FIT_HOLES),
        ("explicit", "first", FIRST_FIT_HOLES),
        ("implicit", "next", NEXT_FIT_HOLES),
        ("explicit", "next", NEXT_FIT_HOLES),
    ],
    ids=["implicit-first", "explicit-first", "implicit-next", "explicit-next"],
)
def test_next_fit_resumes_after_the_previous_fit_and_wraps_around(
    organization: str, policy: str, expected: list[int], coalesce: str
) -> None:
    a, holes = holes_heap(
        organization=organization, policy=policy, insertion="address", coalesce=coalesce
    )
    got = [a.malloc(units * UNIT - 16) for units in SEQUENCE]
    assert got == [holes[i] for i in expected]
    a.check()


# ---------------------------------------------------------------------------
# Splitting
# ---------------------------------------------------------------------------

SPLITS = [
    # (config, request, block size, free remainder or 0) from the first 4096-byte block
    # default: asize = round_up(4048 + 16, 16) = 4064; 4096 - 4064 = 32 = min block -> split
    pytest.param(Config(), 4048, 4064, 32, id="explicit-rest-32-is-split"),
    # default: asize = round_up(4049 + 16, 16) = 4080; rest 16 < 32 -> the whole 4096
    pytest.param(Config(), 4049, 4096, 0, id="explicit-rest-16-stays"),
    # implicit, 8-byte words: min block = round_up(2 * 8 + 1, 16) = 32, same rule
    pytest.param(Config(organization="implicit"), 4048, 4064, 32, id="implicit-rest-32-is-split"),
    pytest.param(Config(organization="implicit"), 4049, 4096, 0, id="implicit-rest-16-stays"),
    # CS:APP: 4-byte words, 8-byte alignment, min block 16:
    # asize = round_up(4072 + 8, 8) = 4080, rest 16 -> split
    pytest.param(CSAPP, 4072, 4080, 16, id="csapp-rest-16-is-split"),
    # asize = round_up(4073 + 8, 8) = 4088, rest 8 < 16 -> the whole 4096
    pytest.param(CSAPP, 4073, 4096, 0, id="csapp-rest-8-stays"),
    # a small request from the big block: 100 -> round_up(116, 16) = 128, rest 3968
    pytest.param(Config(), 100, 128, 4096 - 128, id="explicit-small-request"),
]


@pytest.mark.parametrize(("config", "size", "block", "rest"), SPLITS)
def test_a_remainder_of_at_least_the_minimum_block_is_split_off(
    config: Config, size: int, block: int, rest: int
) -> None:
    a = new(config)
    bp = a.malloc(size)
    assert bp == a.first  # the only free block is the first
    expected = [(bp, block, True)] + ([(bp + block, rest, False)] if rest else [])
    assert list(a.blocks()) == expected
    assert a.free_bytes == rest
    a.check()


@pytest.mark.parametrize(
    ("config", "minimum"),
    [
        (Config(organization="implicit"), 32),  # round_up(2*8 + 1, 16)
        (Config(organization="explicit"), 32),  # round_up(4*8, 16)
        (Config(organization="explicit", word=4, align=8), 16),  # round_up(4*4, 8)
        (Config(organization="explicit", word=4, align=16), 16),  # round_up(4*4, 16)
        (CSAPP, 16),  # round_up(2*4 + 1, 8)
    ],
    ids=["implicit-8-16", "explicit-8-16", "explicit-4-8", "explicit-4-16", "csapp"],
)
def test_the_minimum_block_holds_header_footer_and_links(config: Config, minimum: int) -> None:
    a = new(config)
    assert a.min_block == minimum
    assert a.asize(1) == minimum  # the smallest request still gets a whole minimum block


# ---------------------------------------------------------------------------
# Coalescing
# ---------------------------------------------------------------------------

# G A B C D: a 32-byte guard, blocks of 64, 128 and 256 bytes, a 32-byte
# guard; 32 + 64 + 128 + 256 + 32 = 512 bytes, the whole heap (chunk = 512).
COALESCE_LAYOUT = [32, 64, 128, 256, 32]
A, B, C = 1, 2, 3  # indices in the layout
COALESCE_CASES = [
    # (CS:APP fig. 9.40 case, blocks freed before B, start of the merged block, its size)
    pytest.param([], B, 128, id="case1-prev-allocated-next-allocated"),
    pytest.param([C], B, 128 + 256, id="case2-prev-allocated-next-free"),
    pytest.param([A], A, 64 + 128, id="case3-prev-free-next-allocated"),
    pytest.param([A, C], A, 64 + 128 + 256, id="case4-prev-free-next-free"),
]
ORGANIZATIONS = ["implicit", "explicit", "segregated"]


@pytest.mark.parametrize("organization", ORGANIZATIONS)
@pytest.mark.parametrize(("before", "start", "size"), COALESCE_CASES)
def test_freeing_a_block_merges_it_with_its_free_neighbours_at_once(
    organization: str, before: list[int], start: int, size: int
) -> None:
    a = new(organization=organization, chunk=sum(COALESCE_LAYOUT))
    addrs = lay_out(a, COALESCE_LAYOUT)
    assert free_blocks(a) == []
    for i in before:  # A and C are not adjacent: they stay apart
        a.free(addrs[i])
    a.free(addrs[B])
    assert free_blocks(a) == [(addrs[start], size)]
    if organization != "implicit":
        assert listed(a) == {addrs[start]}
    assert a.free_bytes == size
    a.check()


@pytest.mark.parametrize("organization", ORGANIZATIONS)
def test_deferred_coalescing_waits_until_a_request_finds_no_fit(organization: str) -> None:
    a = new(organization=organization, coalesce="deferred", chunk=sum(COALESCE_LAYOUT))
    addrs = lay_out(a, COALESCE_LAYOUT)
    for i in (A, B, C):
        a.free(addrs[i])
    # Three adjacent free blocks, not merged; the checker accepts that when deferred.
    assert free_blocks(a) == [(addrs[A], 64), (addrs[B], 128), (addrs[C], 256)]
    a.check()
    # A 256-byte block fits C alone, under every policy: still no merge.
    assert a.malloc(256 - 16) == addrs[C]
    assert free_blocks(a) == [(addrs[A], 64), (addrs[B], 128)]
    # 192 bytes fit in no single free block (64, 128): the sweep merges A and B
    # into one 64 + 128 = 192-byte block, which is taken whole; the heap stays.
    hi = a.heap.hi
    assert a.malloc(192 - 16) == addrs[A]
    assert a.block_size(addrs[A]) == 192
    assert free_blocks(a) == []
    assert a.heap.hi == hi and a.grows == 0
    a.check()


@pytest.mark.parametrize("organization", ORGANIZATIONS)
def test_deferred_coalescing_merges_before_it_grows_the_heap(organization: str) -> None:
    # As above, but the request (448 = 64 + 128 + 256) fits only all three merged.
    a = new(organization=organization, coalesce="deferred", chunk=sum(COALESCE_LAYOUT))
    addrs = lay_out(a, COALESCE_LAYOUT)
    for i in (C, A, B):
        a.free(addrs[i])
    hi = a.heap.hi
    assert a.malloc(448 - 16) == addrs[A]
    assert a.heap.hi == hi and a.grows == 0
    a.check()


# ---------------------------------------------------------------------------
# Free-list order
# ---------------------------------------------------------------------------

# Four 64-byte blocks h0..h3, each followed by a 32-byte guard: 4 * 96 = 384 bytes.
ORDER_LAYOUT = [64, 32] * 4
FREE_ORDER = [2, 0, 3, 1]


@pytest.mark.parametrize("organization", ["explicit", "segregated"])
@pytest.mark.parametrize(
    ("insertion", "expected"),
    [
        ("lifo", [1, 3, 0, 2]),  # the last freed first: reverse of the free order
        ("address", [0, 1, 2, 3]),  # lowest address first, whatever the free order
    ],
    ids=["lifo", "address"],
)
def test_a_freed_block_enters_its_list_at_the_front_or_in_address_order(
    organization: str, insertion: str, expected: list[int]
) -> None:
    a = new(organization=organization, insertion=insertion, chunk=sum(ORDER_LAYOUT))
    holes = lay_out(a, ORDER_LAYOUT)[0::2]
    for i in FREE_ORDER:
        a.free(holes[i])
    lists = [nodes for nodes in a.free_lists() if nodes]
    assert lists == [[holes[i] for i in expected]]  # all four are 64 bytes: one list
    a.check()


def test_the_implicit_list_has_no_free_lists() -> None:
    a = new(organization="implicit")
    a.free(a.malloc(100))
    assert a.free_lists() == []


# ---------------------------------------------------------------------------
# Segregated size classes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "classes"),
    [
        # min block 32: powers of two from 32 to 4096, then one unbounded list
        (Config(organization="segregated"), (32, 64, 128, 256, 512, 1024, 2048, 4096)),
        # 4-byte words, 8-byte alignment: min block round_up(16, 8) = 16
        (
            Config(organization="segregated", word=4, align=8),
            (16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
        ),
        (Config(organization="segregated", classes=(64, 256)), (64, 256)),
        # a bound below the 32-byte minimum block names no block
        (Config(organization="segregated", classes=(16, 64)), (64,)),
    ],
    ids=["default-8-16", "default-4-8", "custom", "custom-below-min-block"],
)
def test_segregated_lists_have_one_list_per_class_and_one_unbounded(
    config: Config, classes: tuple[int, ...]
) -> None:
    a = new(config)
    assert a.classes == classes
    assert len(a.free_lists()) == len(classes) + 1


# Free blocks of these sizes, each followed by a 32-byte guard; a block is on
# the list of the smallest class bound >= its size (the last list if none).
CLASS_SIZES = [32, 48, 64, 80, 1024, 1040, 4096, 4112]


@pytest.mark.parametrize(
    ("classes", "expected_list"),
    [
        # bounds 32, 64, 128, 256, 512, 1024, 2048, 4096, then list 8 unbounded
        ((), [0, 1, 1, 2, 5, 6, 7, 8]),
        # bounds 64, 256, then list 2 unbounded
        ((64, 256), [0, 0, 0, 1, 2, 2, 2, 2]),
        # bounds 48, 1040: 32 and 48 <= 48; 64..1040 <= 1040; bigger: list 2
        ((48, 1040), [0, 0, 1, 1, 1, 1, 2, 2]),
    ],
    ids=["default", "64-256", "48-1040"],
)
def test_a_free_block_lands_on_the_list_of_its_size_class(
    classes: tuple[int, ...], expected_list: list[int]
) -> None:
    layout = [b for size in CLASS_SIZES for b in (size, 32)]
    a = new(organization="segregated", classes=classes, chunk=sum(layout))
    holes = lay_out(a, layout)[0::2]
    for bp in holes:
        a.free(bp)
    lists = a.free_lists()
    expected: list[set[int]] = [set() for _ in lists]
    for bp, i in zip(holes, expected_list, strict=True):
        expected[i].add(bp)
    assert [set(nodes) for nodes in lists] == expected
    a.check()


# ---------------------------------------------------------------------------
# realloc
# ---------------------------------------------------------------------------


def fill(a: Allocator, bp: int, n: int, seed: int = 7) -> bytes:
    data = bytes((seed + 31 * i) % 251 for i in range(n))
    a.heap.write(bp, data)
    return data


def test_realloc_shrinks_in_place_and_splits_off_a_tail_big_enough() -> None:
    a = new()
    p, guard = lay_out(a, [256, 32])
    data = fill(a, p, 100)
    # 100 -> round_up(116, 16) = 128; 256 - 128 = 128 >= 32: a free 128-byte tail.
    assert a.realloc(p, 100) == p
    assert list(a.blocks())[:3] == [(p, 128, True), (p + 128, 128, False), (guard, 32, True)]
    assert a.heap.read(p, 100) == data
    a.check()


def test_realloc_shrinking_too_little_to_split_keeps_the_block_whole() -> None:
    a = new()
    p, guard = lay_out(a, [256, 32])
    # 224 -> round_up(240, 16) = 240; 256 - 240 = 16 < 32: nothing to give back.
    assert a.realloc(p, 224) == p
    assert list(a.blocks())[:2] == [(p, 256, True), (guard, 32, True)]
    a.check()


def test_realloc_shrinking_next_to_a_free_block_merges_the_tail_with_it() -> None:
    a = new()
    (p,) = lay_out(a, [256])  # the rest of the 4096-byte chunk is free after it
    assert a.realloc(p, 100) == p
    # The 128-byte tail and the 4096 - 256 = 3840 free bytes become one block.
    assert list(a.blocks()) == [(p, 128, True), (p + 128, 128 + 3840, False)]
    a.check()


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        # 300 -> round_up(316, 16) = 320 <= 128 + 256: grows over q, 64-byte tail split off
        (300, [(320, True), (64, False)]),
        # 368 -> round_up(384, 16) = 384 = 128 + 256 exactly: all of q, no tail
        (368, [(384, True)]),
        # 360 -> 384 too (rounded up): whole
        (360, [(384, True)]),
    ],
    ids=["grow-and-split", "grow-exactly", "grow-rounded"],
)
def test_realloc_grows_into_a_free_next_block_in_place(
    size: int, expected: list[tuple[int, bool]]
) -> None:
    a = new()
    p, q, guard = lay_out(a, [128, 256, 32])
    data = fill(a, p, 112)
    a.free(q)
    assert a.realloc(p, size) == p
    blocks = list(a.blocks())
    got = [(s, alloc) for _, s, alloc in blocks[: len(expected)]]
    assert got == expected
    assert blocks[len(expected)] == (guard, 32, True)
    assert a.heap.read(p, 112) == data
    a.check()


def test_realloc_moves_when_the_next_block_is_allocated_and_keeps_the_bytes() -> None:
    a = new()
    p, guard = lay_out(a, [128, 32])
    data = fill(a, p, 112)
    new_p = a.realloc(p, 300)
    # First fit: the only free block is the tail after the guard.
    assert new_p == guard + 32
    assert a.block_size(new_p) == 320
    assert a.heap.read(new_p, 112) == data
    assert (p, 128) in free_blocks(a)  # the old block was freed
    a.check()


def test_realloc_moves_when_the_free_next_block_is_too_small() -> None:
    a = new()
    p, q, guard = lay_out(a, [128, 64, 32])
    data = fill(a, p, 112)
    a.free(q)
    new_p = a.realloc(p, 300)  # 320 > 128 + 64
    assert new_p == guard + 32
    assert a.heap.read(new_p, 112) == data
    # The old block merged with q: one free 192-byte block at p.
    assert (p, 192) in free_blocks(a)
    a.check()


def test_realloc_of_null_is_malloc() -> None:
    a, b = new(), new()
    bp = a.realloc(0, 100)
    # The first block starts after padding, prologue header and footer, and
    # the epilogue header the extension replaced: 4 words of 8 bytes.
    assert bp == a.heap.lo + 4 * 8 == b.malloc(100)
    assert list(a.blocks()) == list(b.blocks())
    assert a.block_size(bp) == 128  # round_up(100 + 16, 16)
    a.check()


def test_realloc_to_zero_frees_the_block() -> None:
    a = new()
    p = a.malloc(100)
    assert a.realloc(p, 0) == 0
    assert list(a.blocks()) == [(p, 4096, False)]  # merged back into the first chunk
    a.check()


@pytest.mark.parametrize(
    "size",
    [100, 240, 300],
    ids=["shrink", "same-size", "grow-with-free-next"],
)
def test_realloc_in_copy_mode_always_moves(size: int) -> None:
    a = new(realloc="copy")
    (p,) = lay_out(a, [256])  # the free rest of the chunk follows p
    data = fill(a, p, 240)
    new_p = a.realloc(p, size)
    assert new_p != p
    assert a.heap.read(new_p, min(size, 240)) == data[: min(size, 240)]
    assert not a.is_allocated(p)
    a.check()


# ---------------------------------------------------------------------------
# Configuration errors
# ---------------------------------------------------------------------------

BAD_CONFIGS = [
    pytest.param({"organization": "buddy"}, "organization must be one of", id="organization"),
    pytest.param({"policy": "random"}, "policy must be one of", id="policy"),
    pytest.param({"insertion": "fifo"}, "insertion must be one of", id="insertion"),
    pytest.param({"coalesce": "lazy"}, "coalesce must be one of", id="coalesce"),
    pytest.param({"realloc": "move"}, "realloc must be one of", id="realloc"),
    pytest.param({"word": 2}, "word must be 4 or 8", id="word-2"),
    pytest.param({"word": 16, "align": 16}, "word must be 4 or 8", id="word-16"),
    pytest.param({"align": 4, "word": 4}, "align must be 8 or 16", id="align-4"),
    pytest.param({"align": 32}, "align must be 8 or 16", id="align-32"),
    pytest.param({"chunk": 0}, "chunk must be positive", id="chunk-0"),
    pytest.param(
        {"organization": "segregated", "policy": "next"}, "next fit", id="next-with-segregated"
    ),
    pytest.param({"classes": (64, 128)}, "segregated lists only", id="classes-for-explicit"),
    pytest.param(
        {"organization": "implicit", "classes": (64,)},
        "segregated lists only",
        id="classes-for-implicit",
    ),
    pytest.param(
        {"organization": "segregated", "classes": (128, 64)},
        "increasing",
        id="classes-decreasing",
    ),
    pytest.param(
        {"organization": "segregated", "classes": (64, 64)}, "increasing", id="classes-repeated"
    ),
    pytest.param({"organization": "segregated", "classes": (0, 64)}, "positive", id="classes-zero"),
]


@pytest.mark.parametrize(("options", "message"), BAD_CONFIGS)
def test_an_invalid_configuration_is_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Config(**options)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# The heap checker
# ---------------------------------------------------------------------------


def relink(a: Allocator, i: int, nodes: list[int]) -> None:
    """Rewrite list i to hold exactly these nodes, in this order, with consistent links."""
    W, lo = a.config.word, a.heap.lo
    a.heads[i] = nodes[0] - lo if nodes else 0
    for k, bp in enumerate(nodes):
        a.heap.put(bp, nodes[k - 1] - lo if k else 0)
        a.heap.put(bp + W, nodes[k + 1] - lo if k + 1 < len(nodes) else 0)


def list_of(a: Allocator, bp: int) -> int:
    return next(i for i, nodes in enumerate(a.free_lists()) if bp in nodes)


Corruption = Callable[[Allocator, list[int]], None]
W = 8  # the default word
# The state corrupted: blocks b0..b3 of 64 bytes and a 32-byte guard, b1 and
# b3 freed, the free rest of the chunk after the guard; address-ordered lists.


def mark_b2_free(a: Allocator, b: list[int]) -> None:
    """b2's header and footer say free: three adjacent free blocks b1, b2, b3."""
    a.heap.put(b[2] - W, 64)
    a.heap.put(b[2] + 64 - 2 * W, 64)


def swap_b1_b3(a: Allocator, b: list[int]) -> None:
    """b3 relinked before b1 (links consistent both ways, but out of address order)."""
    i = list_of(a, b[1])
    rest = [n for n in a.free_lists()[i] if n not in (b[1], b[3])]
    relink(a, i, [b[3], b[1], *rest])


def move_list_up_a_class(a: Allocator, b: list[int]) -> None:
    """The 64-byte blocks' list hung on the next class's (empty) head."""
    i = list_of(a, b[1])
    assert a.heads[i + 1] == 0
    a.heads[i + 1], a.heads[i] = a.heads[i], 0


ANY_ORG: list[tuple[str, Corruption, str]] = [
    (
        "footer-differs",
        lambda a, b: a.heap.put(b[0] + 64 - 2 * W, 48 | 1),
        "header and footer differ",
    ),
    ("size-not-aligned", lambda a, b: a.heap.put(b[0] - W, 72 | 1), "bad size"),
    ("size-below-minimum", lambda a, b: a.heap.put(b[0] - W, 16 | 1), "bad size"),
    ("size-past-the-break", lambda a, b: a.heap.put(b[0] - W, 1 << 20 | 1), "bad size"),
    ("prologue", lambda a, b: a.heap.put(a.prologue, 0), "prologue damaged"),
    ("epilogue", lambda a, b: a.heap.put(a.heap.hi - W, 64), "epilogue"),
    ("adjacent-free-blocks", mark_b2_free, "not coalesced"),
    (
        "free-byte-counter",
        lambda a, b: setattr(a, "free_bytes", a.free_bytes - 64),
        "counter says",
    ),
]
LIST_ORG: list[tuple[str, Corruption, str]] = [
    ("pred-link", lambda a, b: a.heap.put(b[3], 0), "pred link does not match"),
    (
        "succ-to-allocated",
        lambda a, b: a.heap.put(b[1] + W, b[2] - a.heap.lo),
        "not a free block",
    ),
    ("succ-to-itself", lambda a, b: a.heap.put(b[1] + W, b[1] - a.heap.lo), "loops"),
    (
        "head-lost",
        lambda a, b: a.heads.__setitem__(list_of(a, b[1]), 0),
        "missing from the lists",
    ),
    ("address-order", swap_b1_b3, "not in address order"),
]
SEGREGATED_ONLY: list[tuple[str, Corruption, str]] = [
    ("wrong-class", move_list_up_a_class, "not its class"),
]
CORRUPTIONS = (
    [pytest.param(o, f, m, id=f"{o}-{n}") for o in ORGANIZATIONS for n, f, m in ANY_ORG]
    + [pytest.param(o, f, m, id=f"{o}-{n}") for o in ORGANIZATIONS[1:] for n, f, m in LIST_ORG]
    + [pytest.param("segregated", f, m, id=f"segregated-{n}") for n, f, m in SEGREGATED_ONLY]
)


@pytest.mark.parametrize(("organization", "corrupt", "message"), CORRUPTIONS)
def test_the_checker_names_the_corruption_it_finds(
    organization: str, corrupt: Corruption, message: str
) -> None:
    a = new(organization=organization, insertion="address")
    b = lay_out(a, [64, 64, 64, 64, 32])
    a.free(b[1])
    a.free(b[3])
    a.check()  # sound before
    corrupt(a, b)
    with pytest.raises(HeapCorruption, match=message):
        a.check()


# ---------------------------------------------------------------------------
# Heap growth
# ---------------------------------------------------------------------------


def heap_line(p: Process) -> tuple[int, int] | None:
    for line in p.maps().splitlines():
        if line.endswith("[heap]"):
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) ", line)
            assert m
            return int(m[1], 16), int(m[2], 16)
    return None


GROWTH = [
    # (options, fill the first chunk?, request, expected growth)
    # nothing free, 100 -> 128 < chunk: grows by the chunk, 4096
    pytest.param({}, True, 100, 4096, id="small-request-grows-by-chunk"),
    # nothing free, 5000 -> round_up(5016, 16) = 5024 > chunk: grows by 5024
    pytest.param({}, True, 5000, 5024, id="big-request-grows-by-asize"),
    # chunk 4100 is rounded up to the 16-byte alignment: 4112
    pytest.param({"chunk": 4100}, True, 100, 4112, id="chunk-rounded-to-alignment"),
    # CS:APP: 8-byte alignment, 5000 -> round_up(5008, 8) = 5008
    pytest.param({"word": 4, "align": 8}, True, 5000, 5008, id="4-8-big-request"),
    # the free 4096 at the end does not fit 5024, but the extension is still
    # max(5024, 4096) = 5024 (merged with the free end, then split)
    pytest.param({}, False, 5000, 5024, id="free-end-too-small"),
]


@pytest.mark.parametrize("organization", ORGANIZATIONS)
@pytest.mark.parametrize(("options", "fill_first", "size", "growth"), GROWTH)
def test_a_request_nothing_fits_grows_the_heap_by_max_of_block_and_chunk(
    organization: str, options: dict[str, object], fill_first: bool, size: int, growth: int
) -> None:
    p = spawn()
    a = Allocator(p, Config(organization=organization, **options))  # type: ignore[arg-type]
    if fill_first:
        first = a.heap.hi - a.first  # the first extension's block runs to the epilogue
        lay_out(a, [first])
        assert free_blocks(a) == []
    hi = a.heap.hi
    bp = a.malloc(size)
    assert a.heap.hi - hi == growth
    assert a.grows == 1
    assert p.sbrk(0) == a.heap.hi
    assert bp % a.config.align == 0 and bp + size <= a.heap.hi
    a.check()


def test_the_heap_appears_in_maps_once_the_allocator_moves_the_break() -> None:
    p = spawn()
    assert heap_line(p) is None  # brk has not moved yet
    a = Allocator(p, Config())
    lo = a.heap.lo
    # 4 words (32 bytes) of padding, prologue and epilogue, then the 4096 chunk.
    assert a.heap.hi == lo + 32 + 4096
    line = heap_line(p)
    assert line is not None
    start, end = line
    assert start <= lo and end == lo + 2 * PAGE  # lo + 4128, rounded up to a page
    a.malloc(10000)  # 10000 -> 10016; the free 4096 at the end merges with it
    line = heap_line(p)
    assert line is not None and line[1] == -(-a.heap.hi // PAGE) * PAGE
    assert a.heap.hi == lo + 32 + 4096 + 10016


# ---------------------------------------------------------------------------
# Next fit after realloc grows in place
# ---------------------------------------------------------------------------


def bound_reads(p: Process, limit: int = 100_000) -> None:
    """p's word loads raise Runaway after `limit` of them (set before the allocator
    binds them), so a search that never ends fails instead of hanging."""
    testing.bound_reads(p, ("load32", "load64"), limit)


# Regression (fixed in 84efc98): implicit next fit's rover was left inside the
# grown block, and the next malloc parsed a stale header there, handing out
# x + 64 inside the live x.
@pytest.mark.parametrize("coalesce", ["immediate", "deferred"])
@pytest.mark.parametrize("organization", ["implicit", "explicit"])
def test_next_fit_still_works_after_realloc_grows_over_the_rover(
    organization: str, coalesce: str
) -> None:
    p = spawn()
    bound_reads(p)
    a = Allocator(p, Config(organization=organization, policy="next", coalesce=coalesce))
    # x at first (64), y right after it (64): next fit last stopped at y.
    x = a.malloc(48)
    y = a.malloc(48)
    assert y == x + 64
    # Immediate: y merges with the free rest of the chunk (a free block at y);
    # deferred: y stays a free 64-byte block before the free rest.
    a.free(y)
    # x grows in place over y: 112 -> round_up(128, 16) = 128 = 64 + 64 at x,
    # exactly x and y; the rest 4096 - 128 = 3968 is free at x + 128 (one
    # block, or y's old neighbour, 3968, when deferred: the same).
    assert a.realloc(x, 112) == x
    assert list(a.blocks()) == [(x, 128, True), (x + 128, 3968, False)]
    # The next request must come from the free block, not from inside x.
    z = a.malloc(16)
    assert z == x + 128
    a.check()
