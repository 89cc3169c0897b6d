"""Per-P page caches (runtime/mpagecache.go).

Scenario data are derived from Go's tests in go1.24.3 runtime/mpagecache_test.go
(TestPageCacheAlloc, TestPageCacheFlush, TestPageAllocAllocToCache), which
carry this notice:

    Copyright 2019 The Go Authors. All rights reserved.
    Use of this source code is governed by a BSD-style
    license that can be found in the LICENSE file.

Fake heaps are built with gomem.testing.new_page_alloc (export_test.go
NewPageAlloc); see test_mpagealloc.py.
"""

from __future__ import annotations

import random

import pytest

from gomem.runtime.mpagealloc import PageAlloc
from gomem.runtime.mpagecache import PAGE_CACHE_PAGES, PageCache
from gomem.runtime.mpallocbits import PALLOC_CHUNK_PAGES
from gomem.runtime.msize import PAGE_SIZE
from gomem.testing import BASE_CHUNK_IDX, chunk_bitmaps, new_page_alloc, page_base

B = BASE_CHUNK_IDX
C = PALLOC_CHUNK_PAGES
PS = PAGE_SIZE
pb = page_base
ONES = (1 << 64) - 1
BASE = pb(B, 0)

Heap = dict[int, list[tuple[int, int]]]


def assert_same_heap(got: PageAlloc, want: PageAlloc) -> None:
    """mpagealloc_test.go checkPageAlloc: same bounds, same bitmaps."""
    assert (got.start, got.end) == (want.start, want.end)
    assert chunk_bitmaps(got) == chunk_bitmaps(want)


# -- TestPageCacheAlloc -----------------------------------------------------------

# (cache, hits [(npages, want base, want scav bytes)])
CACHE_ALLOC_CASES = [
    pytest.param(
        PageCache(BASE, 0, 0),
        [(n, 0, 0) for n in (1, 2, 3, 4, 5, 11, 12, 16, 27, 32, 43, 57, 64, 121)],
        id="Empty",
    ),
    pytest.param(PageCache(BASE, 0x1, 0x1), [(1, BASE, PS), (1, 0, 0), (10, 0, 0)], id="Lo1"),
    pytest.param(
        PageCache(BASE, 0x1 << 63, 0x1), [(1, BASE + 63 * PS, 0), (1, 0, 0), (10, 0, 0)], id="Hi1"
    ),
    pytest.param(
        PageCache(BASE, 0x20005555, 0x5505),
        [
            (2, 0, 0),
            (1, BASE, PS),
            (1, BASE + 2 * PS, PS),
            (1, BASE + 4 * PS, 0),
            (1, BASE + 6 * PS, 0),
            (1, BASE + 8 * PS, PS),
            (1, BASE + 10 * PS, PS),
            (1, BASE + 12 * PS, PS),
            (1, BASE + 14 * PS, PS),
            (1, BASE + 29 * PS, 0),
            (1, 0, 0),
            (10, 0, 0),
        ],
        id="Swiss1",
    ),
    pytest.param(PageCache(BASE, 0x3, 0x2 << 62), [(2, BASE, 0), (2, 0, 0), (1, 0, 0)], id="Lo2"),
    pytest.param(
        PageCache(BASE, 0x3 << 62, 0x3 << 62),
        [(2, BASE + 62 * PS, 2 * PS), (2, 0, 0), (1, 0, 0)],
        id="Hi2",
    ),
    pytest.param(
        PageCache(BASE, 0x3333 << 31, 0x3030 << 31),
        [
            (2, BASE + 31 * PS, 0),
            (2, BASE + 35 * PS, 2 * PS),
            (2, BASE + 39 * PS, 0),
            (2, BASE + 43 * PS, 2 * PS),
            (2, 0, 0),
        ],
        id="Swiss2",
    ),  # fmt: skip
    pytest.param(
        PageCache(BASE, ((1 << 53) - 1) << 10, ((1 << 16) - 1) << 10),
        [(53, BASE + 10 * PS, 16 * PS), (53, 0, 0), (1, 0, 0)],
        id="Hi53",
    ),
    pytest.param(
        PageCache(BASE, ONES, ((1 << 16) - 1) << 10),
        [(53, BASE, 16 * PS), (53, 0, 0), (1, BASE + 53 * PS, 0)],
        id="Full53",
    ),
    pytest.param(
        PageCache(BASE, ONES, ONES), [(64, BASE, 64 * PS), (64, 0, 0), (1, 0, 0)], id="Full64"
    ),
    pytest.param(
        PageCache(BASE, ONES, ONES),
        [
            (5, BASE, 5 * PS),
            (7, BASE + 5 * PS, 7 * PS),
            (1, BASE + 12 * PS, 1 * PS),
            (23, BASE + 13 * PS, 23 * PS),
            (63, 0, 0),
            (3, BASE + 36 * PS, 3 * PS),
            (3, BASE + 39 * PS, 3 * PS),
            (3, BASE + 42 * PS, 3 * PS),
            (12, BASE + 45 * PS, 12 * PS),
            (11, 0, 0),
            (4, BASE + 57 * PS, 4 * PS),
            (4, 0, 0),
            (6, 0, 0),
            (36, 0, 0),
            (2, BASE + 61 * PS, 2 * PS),
            (3, 0, 0),
            (1, BASE + 63 * PS, 1 * PS),
            (4, 0, 0),
            (2, 0, 0),
            (62, 0, 0),
            (1, 0, 0),
        ],
        id="FullMixed",
    ),
]


@pytest.mark.parametrize(("cache", "hits"), CACHE_ALLOC_CASES)
def test_page_cache_alloc(cache: PageCache, hits: list[tuple[int, int, int]]) -> None:
    for npages, want_base, want_scav in hits:
        assert cache.alloc(npages) == (want_base, want_scav), f"alloc({npages})"


# -- TestPageCacheFlush ---------------------------------------------------------------


def bits64_to_ranges(bits: int, base: int) -> list[tuple[int, int]]:
    """mpagecache_test.go bits64ToBitRanges: runs of set bits, offset by base."""
    out: list[tuple[int, int]] = []
    start = size = 0
    for i in range(64):
        if bits >> i & 1:
            if size == 0:
                start = i + base
            size += 1
        elif size:
            out.append((start, size))
            size = 0
    if size:
        out.append((start, size))
    return out


def _flush_cases() -> list[object]:
    cases: list[object] = [
        pytest.param(0, 0, 0, id="Empty"),
        pytest.param(0, ONES, ONES, id="Full"),
    ]
    rng = random.Random(36210)  # Go draws these at random; ours are seeded
    for k in range(100):
        base = rng.randrange(C // 64) * 64
        cache = rng.getrandbits(64)
        cases.append(pytest.param(base, cache, rng.getrandbits(64) & cache, id=f"Random{k}"))
    return cases


@pytest.mark.parametrize(("base", "cache", "scav"), _flush_cases())
def test_page_cache_flush(base: int, cache: int, scav: int) -> None:
    p = new_page_alloc({B: [(base, 64)]}, {B: []})
    c = PageCache(pb(B, base), cache, scav)
    c.flush(p)
    assert c.empty()
    want = new_page_alloc(
        {B: bits64_to_ranges(~cache & ONES, base)}, {B: bits64_to_ranges(scav, base)}
    )
    assert_same_heap(p, want)
    p.check_invariants()


# -- TestPageAllocAllocToCache --------------------------------------------------------------

BIG_JUMP = 0x100000
SUMS_PER_PHYS_PAGE = 4096 // 8
B_ALIGNED = B & ~(SUMS_PER_PHYS_PAGE - 1)

# (before alloc, before scav, hits [PageCache], after alloc, after scav)
ALLOC_TO_CACHE_CASES = [
    pytest.param(
        {B: []},
        {B: [(1, 1), (64, 64)]},
        [
            PageCache(pb(B, 0), ONES, 0x2),
            PageCache(pb(B, 64), ONES, ONES),
            PageCache(pb(B, 128), ONES, 0),
            PageCache(pb(B, 192), ONES, 0),
        ],
        {B: [(0, 256)]},
        None,
        id="AllFree",
    ),  # fmt: skip
    pytest.param(
        {B: [(0, C)], B + 1: [(0, C)], B + 2: [(0, C - 64)]},
        {B: [(0, C)], B + 1: [(0, C)], B + 2: []},
        [PageCache(pb(B + 2, C - 64), ONES, 0)],
        {B: [(0, C)], B + 1: [(0, C)], B + 2: [(0, C)]},
        None,
        id="ManyArena",
    ),
    pytest.param(
        {B: [(0, C)], B + 0xFF: [(0, 0)]},
        {B: [(0, C)], B + 0xFF: [(31, 67)]},
        [PageCache(pb(B + 0xFF, 0), ONES, ((1 << 33) - 1) << 31)],
        {B: [(0, C)], B + 0xFF: [(0, 64)]},
        {B: [(0, C)], B + 0xFF: [(64, 34)]},
        id="NotContiguous",
    ),
    pytest.param(
        {B: [(0, 32), (33, 31), (96, 32)]},
        {B: [(1, 4), (31, 5), (66, 2)]},
        [PageCache(pb(B, 0), 1 << 32, 1 << 32), PageCache(pb(B, 64), (1 << 32) - 1, 0x3 << 2)],
        {B: [(0, 128)]},
        None,
        id="First",
    ),
    pytest.param(
        {B: [(0, C)]},
        None,
        [PageCache(0, 0, 0)] * 3,
        {B: [(0, C)]},
        None,
        id="Fail",
    ),
    pytest.param(
        {B: [(0, 1), (10, 2)]},
        {B: [(0, 4), (11, 1)]},
        [PageCache(pb(B, 0), ~(0x1 | (0x3 << 10)) & ONES, 0x7 << 1)],
        {B: [(0, 64)]},
        {B: [(0, 1), (11, 1)]},
        id="RetainScavBits",
    ),
    pytest.param(
        {B_ALIGNED + SUMS_PER_PHYS_PAGE - 1: [(0, C - 1)], B_ALIGNED + BIG_JUMP: [(1, C - 1)]},
        {B_ALIGNED + SUMS_PER_PHYS_PAGE - 1: [], B_ALIGNED + BIG_JUMP: []},
        [
            PageCache(pb(B_ALIGNED + SUMS_PER_PHYS_PAGE - 1, C - 64), 1 << 63, 0),
            PageCache(pb(B_ALIGNED + BIG_JUMP, 0), 1, 0),
            PageCache(0, 0, 0),
        ],
        {B_ALIGNED + SUMS_PER_PHYS_PAGE - 1: [(0, C)], B_ALIGNED + BIG_JUMP: [(0, C)]},
        None,
        id="DiscontiguousMappedSumBoundary",
    ),
]


@pytest.mark.parametrize(
    ("before_alloc", "before_scav", "hits", "after_alloc", "after_scav"), ALLOC_TO_CACHE_CASES
)
def test_alloc_to_cache(
    before_alloc: Heap,
    before_scav: Heap | None,
    hits: list[PageCache],
    after_alloc: Heap,
    after_scav: Heap | None,
) -> None:
    p = new_page_alloc(before_alloc, before_scav)
    for want in hits:
        assert p.alloc_to_cache() == want
        p.check_invariants()
    assert_same_heap(p, new_page_alloc(after_alloc, after_scav))


# -- ours ---------------------------------------------------------------------------------


def test_a_cache_handed_out_and_flushed_leaves_the_heap_as_it_was() -> None:
    p = new_page_alloc({B: [(3, 5), (70, 1)], B + 1: []}, {B: [(10, 20)], B + 1: [(0, C)]})
    before = chunk_bitmaps(p)
    c = p.alloc_to_cache()
    assert (c.base, c.cache) == (pb(B, 0), ONES & ~(0x1F << 3))
    assert p.search_addr == pb(B, PAGE_CACHE_PAGES - 1)  # the block's last page
    assert p.alloc(1) == (pb(B, 64), 0)  # the next block: the cache's pages are in use
    p.free(pb(B, 64), 1)
    c.flush(p)
    assert chunk_bitmaps(p) == before
    assert p.search_addr == pb(B, 0)
    p.check_invariants()
