"""Simple segregated storage (CS:APP 3e 9.9.14): one block size per 4096-byte
run, blocks handed out in address order, LIFO frees, no split, no coalesce,
whole pages for large requests.

The default classes are 16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768,
1024, 1536 and 2048 bytes; the heap starts at the (page-aligned) break.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gomem import testing
from gomem.classic.allocator import HeapCorruption
from gomem.classic.simple import SimpleSegregated
from gomem.machine import Machine

PAGE = 4096
CLASSES = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)


def simple() -> SimpleSegregated:
    s = SimpleSegregated(Machine().spawn("t"))
    assert s.heap.lo % PAGE == 0 and s.heap.hi == s.heap.lo  # nothing carved yet
    return s


def brk(s: SimpleSegregated) -> int:
    """The process's break, as an offset from the heap's start."""
    return s.heap.process.sbrk(0) - s.heap.lo


@pytest.mark.parametrize(
    ("size", "block"),
    [
        (1, 16),
        (16, 16),
        (17, 32),
        (33, 48),
        (49, 64),
        (65, 96),
        (100, 128),
        (129, 192),
        (200, 256),
        (300, 384),
        (500, 512),
        (600, 768),
        (1000, 1024),
        (1100, 1536),
        (2000, 2048),
        (2048, 2048),
    ],
    ids=lambda v: str(v),
)
def test_a_request_rounds_up_to_the_smallest_class_that_holds_it(size: int, block: int) -> None:
    s = simple()
    bp = s.malloc(size)
    assert s.block_size(bp) == block


@pytest.mark.parametrize(
    ("size", "per_run"),
    [
        (16, 256),  # 4096 // 16
        (48, 85),  # 4096 // 48 = 85, 16 bytes of the run unused
        (384, 10),  # 4096 // 384 = 10, 256 unused
        (1536, 2),  # 4096 // 1536 = 2, 1024 unused
        (2048, 2),  # 4096 // 2048
    ],
    ids=lambda v: str(v),
)
def test_a_class_carves_one_page_into_blocks_handed_out_in_address_order(
    size: int, per_run: int
) -> None:
    s = simple()
    lo = s.heap.lo
    got = [s.malloc(size) for _ in range(per_run)]
    assert got == [lo + k * size for k in range(per_run)]
    assert brk(s) == PAGE and s.grows == 1  # one run for all of them
    assert s.free_lists()[CLASSES.index(size)] == []
    # The run is used up: the next block starts a second run.
    assert s.malloc(size) == lo + PAGE
    assert brk(s) == 2 * PAGE and s.grows == 2
    assert s.free_bytes == (per_run - 1) * size
    s.check()


def test_each_class_has_runs_of_its_own() -> None:
    s = simple()
    lo = s.heap.lo
    assert s.malloc(16) == lo
    assert s.malloc(32) == lo + PAGE  # the 32-byte class starts its own run
    assert s.malloc(16) == lo + 16  # back in the 16-byte run
    assert brk(s) == 2 * PAGE
    s.check()


def test_free_pushes_the_block_on_the_front_of_its_list() -> None:
    s = simple()
    lo = s.heap.lo
    a, b, c = (s.malloc(32) for _ in range(3))
    assert (a, b, c) == (lo, lo + 32, lo + 64)
    s.free(a)
    s.free(c)
    # LIFO: c (freed last), a, then the untouched rest of the run from lo + 96.
    assert s.free_lists()[1][:3] == [c, a, lo + 96]
    assert [s.malloc(32), s.malloc(32), s.malloc(32)] == [c, a, lo + 96]
    s.check()


def test_adjacent_free_blocks_are_neither_merged_nor_split() -> None:
    s = simple()
    lo = s.heap.lo
    a, b = s.malloc(32), s.malloc(32)
    s.free(a)
    s.free(b)
    # Two 32-byte list entries, not one 64-byte block.
    assert s.free_lists()[1][:2] == [b, a]
    assert list(s.blocks())[:3] == [(a, 32, False), (b, 32, False), (lo + 64, 32, False)]
    # A 64-byte request cannot use them: a fresh run for its class.
    assert s.malloc(64) == lo + PAGE
    # A 16-byte request does not split them either: its own run.
    assert s.malloc(16) == lo + 2 * PAGE
    assert brk(s) == 3 * PAGE
    s.check()


def test_large_requests_get_whole_pages_reused_only_for_the_same_page_count() -> None:
    s = simple()
    lo = s.heap.lo
    one = s.malloc(2049)  # > 2048: ceil(2049 / 4096) = 1 page
    two = s.malloc(5000)  # ceil(5000 / 4096) = 2 pages
    assert (one, two) == (lo, lo + PAGE)
    assert s.block_size(one) == PAGE and s.block_size(two) == 2 * PAGE
    assert brk(s) == 3 * PAGE
    s.free(one)
    s.free(two)
    assert s.free_bytes == 3 * PAGE
    assert s.malloc(8192) == two  # 2 pages: the free 2-page run
    assert s.malloc(4096) == one  # 1 page: the free 1-page run
    assert brk(s) == 3 * PAGE  # both reused
    s.free(two)
    # 1 page again, but only a 2-page run is free: fresh pages at the break.
    assert s.malloc(3000) == lo + 3 * PAGE
    # 3 pages: no free 3-page run (the 2-page one is not enough, nor merged).
    assert s.malloc(9000) == lo + 4 * PAGE
    assert brk(s) == 7 * PAGE
    s.check()


@pytest.mark.parametrize(
    ("old", "new", "stays"),
    [
        (20, 32, True),  # 20 and 32 both in the 32-byte class
        (20, 17, True),
        (20, 33, False),  # 33 -> 48
        (20, 16, False),  # 16 -> the 16-byte class
        (3000, 4096, True),  # one page both
        (3000, 4097, False),  # two pages
        (3000, 2048, False),  # a small class
        (100, 3000, False),  # small -> large
    ],
    ids=lambda v: str(v),
)
def test_realloc_stays_within_its_class_and_moves_otherwise(
    old: int, new: int, stays: bool
) -> None:
    s = simple()
    bp = s.malloc(old)
    data = bytes((7 * i) % 256 for i in range(old))
    s.heap.write(bp, data)
    got = s.realloc(bp, new)
    assert (got == bp) is stays
    keep = min(old, new)
    assert s.heap.read(got, keep) == data[:keep]
    if not stays:
        # The old block went back: on its class's list or the free large runs.
        free = {b for nodes in s.free_lists() for b in nodes}
        free |= {b for runs in s.large_free.values() for b in runs}
        assert bp in free
    s.check()


def test_realloc_of_null_mallocs_and_to_zero_frees() -> None:
    s = simple()
    lo = s.heap.lo
    bp = s.realloc(0, 40)
    assert bp == lo and s.block_size(bp) == 48
    assert s.realloc(bp, 0) == 0
    assert s.free_lists()[2][0] == bp  # pushed back on the 48-byte list
    s.check()


Corruption = Callable[[SimpleSegregated, int, int], None]


def bound_reads(s: SimpleSegregated, limit: int = 100_000) -> None:
    """The heap's word reads raise Runaway after `limit` of them (a whole run of
    16-byte blocks is 256 links), so a checker that follows a cyclic list forever
    fails the test instead of hanging it and eating memory."""
    testing.bound_reads(s.heap, ("get",), limit)


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        # A cycle: the checker must stop, not follow the links forever.
        pytest.param(lambda s, b, d: s.heap.put(b, b), "loops", id="link-to-itself"),
        # A wild pointer: the checker must name it, not read unmapped memory.
        pytest.param(
            lambda s, b, d: s.heap.put(b, s.heap.lo + 16 * PAGE),
            "outside the heap",
            id="link-outside-the-heap",
        ),
        pytest.param(
            lambda s, b, d: s.heap.put(b, b + 8), "block boundary", id="link-inside-a-block"
        ),
        pytest.param(lambda s, b, d: s.heap.put(b, d), "not in its run", id="link-to-other-class"),
        pytest.param(
            # into a live large run: inside the heap, but no small run owns it
            lambda s, b, d: s.heap.put(b, s.malloc(5000)),
            "not in its run",
            id="link-into-a-large-run",
        ),
        pytest.param(
            lambda s, b, d: setattr(s, "free_bytes", s.free_bytes + 32),
            "counter says",
            id="free-byte-counter",
        ),
    ],
)
def test_the_checker_catches_a_corrupted_free_list(corrupt: Corruption, message: str) -> None:
    s = simple()
    _, b, _ = (s.malloc(32) for _ in range(3))  # a run of 32-byte blocks
    d = s.malloc(16)  # a block of another class, in another run
    s.free(b)
    assert s.free_lists()[1][0] == b
    s.check()  # sound before
    corrupt(s, b, d)
    bound_reads(s)
    with pytest.raises(HeapCorruption, match=message):
        s.check()


@pytest.mark.parametrize(
    ("classes", "run_bytes", "message"),
    [
        ((), PAGE, "increasing"),
        ((32, 16), PAGE, "increasing"),
        ((16, 16), PAGE, "increasing"),
        ((4, 16), PAGE, "at least 8"),
        ((16, 20), PAGE, "multiples of 8"),
        ((16, 32), 6000, "whole pages"),
        ((16, 8192), PAGE, "hold the largest class"),
    ],
    ids=["empty", "decreasing", "repeated", "too-small", "not-8-multiple", "part-page", "small"],
)
def test_invalid_classes_or_run_sizes_are_refused(
    classes: tuple[int, ...], run_bytes: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SimpleSegregated(Machine().spawn("t"), classes, run_bytes)
