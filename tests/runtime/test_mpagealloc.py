"""The page allocator (runtime/mpagealloc.go, mpagealloc_64bit.go).

Scenario data in the tables below are derived from Go's tests in go1.24.3
runtime/mpagealloc_test.go (TestPageAllocGrow, TestPageAllocAlloc,
TestPageAllocExhaust, TestPageAllocFree, TestPageAllocAllocAndFree), which
carry this notice:

    Copyright 2019 The Go Authors. All rights reserved.
    Use of this source code is governed by a BSD-style
    license that can be found in the LICENSE file.

Like Go's tests they build fake heaps around BaseChunkIdx (the chunk at
192 GiB) with export_test.go's NewPageAlloc, here gomem.testing.new_page_alloc:
each key of a map is a chunk grown into the heap, each value the page
ranges (first, count) in use or scavenged. The tests after the tables are
ours: summary values level by level, the metadata mappings in a simulated
process, and a property test against a plain first-fit model.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from gomem.machine import Machine
from gomem.runtime.mem_linux import OSMemory, RuntimeThrow, SysMemStat
from gomem.runtime.mpagealloc import (
    ARENA_BASE_OFFSET,
    LEVEL_SHIFT,
    MAX_SEARCH_ADDR,
    PageAlloc,
    chunk_base,
    chunk_index,
)
from gomem.runtime.mpagecache import PageCache
from gomem.runtime.mpallocbits import MASK64 as ONES
from gomem.runtime.mpallocbits import PALLOC_CHUNK_BYTES, PALLOC_CHUNK_PAGES
from gomem.runtime.msize import PAGE_SIZE
from gomem.testing import (
    BASE_CHUNK_IDX,
    chunk_bitmaps,
    chunks_l2_blocks,
    new_page_alloc,
    page_base,
    summaries,
)

B = BASE_CHUNK_IDX
C = PALLOC_CHUNK_PAGES
PS = PAGE_SIZE
pb = page_base
BIG_JUMP = 0x100000  # chunkIdxBigJump: a chunk index offset of O(TiB)
SUMS_PER_PHYS_PAGE = 4096 // 8  # PhysPageSize / PallocSumBytes
B_ALIGNED = B & ~(SUMS_PER_PHYS_PAGE - 1)  # baseChunkIdx of the 64-bit-only cases
SMALL_OFFSET = 0x503  # chunkIdxSmallOffset

Heap = dict[int, list[tuple[int, int]]]


def assert_same_heap(got: PageAlloc, want: PageAlloc) -> None:
    """mpagealloc_test.go checkPageAlloc: same bounds, same bitmaps."""
    assert (got.start, got.end) == (want.start, want.end)
    assert chunk_bitmaps(got) == chunk_bitmaps(want)


# -- TestPageAllocGrow ------------------------------------------------------------

GROW_CASES = [
    pytest.param([B], [(pb(B, 0), pb(B + 1, 0))], id="One"),
    pytest.param([B, B + 1], [(pb(B, 0), pb(B + 2, 0))], id="Contiguous2"),
    pytest.param([B, B + 1, B + 2, B + 3, B + 4], [(pb(B, 0), pb(B + 5, 0))], id="Contiguous5"),
    pytest.param(
        [B, B + 2, B + 4],
        [(pb(B, 0), pb(B + 1, 0)), (pb(B + 2, 0), pb(B + 3, 0)), (pb(B + 4, 0), pb(B + 5, 0))],
        id="Discontiguous",
    ),
    pytest.param(
        [B, B + 1, B + 2, B + 4],
        [(pb(B, 0), pb(B + 3, 0)), (pb(B + 4, 0), pb(B + 5, 0))],
        id="Mixed",
    ),
    pytest.param(
        [B, B + 1, B + 0x10, B + 0x21],
        [
            (pb(B, 0), pb(B + 2, 0)),
            (pb(B + 0x10, 0), pb(B + 0x11, 0)),
            (pb(B + 0x21, 0), pb(B + 0x22, 0)),
        ],
        id="WildlyDiscontiguous",
    ),
    pytest.param(
        # Go: "The initial cap is 16. Test 33 ranges, to exercise the growth path (twice)."
        [B + 2 * k for k in range(33)],
        [(pb(B + 2 * k, 0), pb(B + 2 * k + 1, 0)) for k in range(33)],
        id="ManyDiscontiguous",
    ),
    pytest.param(
        [B, B + BIG_JUMP],
        [(pb(B, 0), pb(B + 1, 0)), (pb(B + BIG_JUMP, 0), pb(B + BIG_JUMP + 1, 0))],
        id="ExtremelyDiscontiguous",
    ),
]


@pytest.mark.parametrize(("chunks", "in_use"), GROW_CASES)
def test_grow_records_in_use_ranges(chunks: list[int], in_use: list[tuple[int, int]]) -> None:
    p = new_page_alloc({c: [] for c in chunks}, None)
    assert [(r.base, r.limit) for r in p.in_use.ranges] == in_use
    p.check_invariants()


# -- TestPageAllocAlloc ---------------------------------------------------------------

# (before, scav, hits [(npages, want base, want scav bytes)], after)
ALLOC_CASES = [
    pytest.param(
        {B: []},
        {B: [(0, 1), (2, 2)]},
        [
            (1, pb(B, 0), PS),
            (1, pb(B, 1), 0),
            (1, pb(B, 2), PS),
            (1, pb(B, 3), PS),
            (1, pb(B, 4), 0),
        ],
        {B: [(0, 5)]},
        id="AllFree1",
    ),  # fmt: skip
    pytest.param(
        {B: [(0, C)], B + 1: [(0, C)], B + 2: [(0, C - 1)]},
        {B: [(0, C)], B + 1: [(0, C)], B + 2: [(0, C)]},
        [(1, pb(B + 2, C - 1), PS)],
        {B: [(0, C)], B + 1: [(0, C)], B + 2: [(0, C)]},
        id="ManyArena1",
    ),
    pytest.param(
        {B: [(0, C)], B + 0xFF: [(0, 0)]},
        {B: [(0, C)], B + 0xFF: [(0, C)]},
        [(1, pb(B + 0xFF, 0), PS)],
        {B: [(0, C)], B + 0xFF: [(0, 1)]},
        id="NotContiguous1",
    ),
    pytest.param(
        {B: []},
        {B: [(0, 3), (7, 1)]},
        [
            (2, pb(B, 0), 2 * PS),
            (2, pb(B, 2), PS),
            (2, pb(B, 4), 0),
            (2, pb(B, 6), PS),
            (2, pb(B, 8), 0),
        ],
        {B: [(0, 10)]},
        id="AllFree2",
    ),  # fmt: skip
    pytest.param(
        {B: [(0, C - 1)], B + 1: [(1, C - 1)]},
        {B: [(C - 1, 1)], B + 1: []},
        [(2, pb(B, C - 1), PS)],
        {B: [(0, C)], B + 1: [(0, C)]},
        id="Straddle2",
    ),
    pytest.param(
        {B: []},
        {B: [(0, 8), (9, 1), (17, 5)]},
        [
            (5, pb(B, 0), 5 * PS),
            (5, pb(B, 5), 4 * PS),
            (5, pb(B, 10), 0),
            (5, pb(B, 15), 3 * PS),
            (5, pb(B, 20), 2 * PS),
        ],
        {B: [(0, 25)]},
        id="AllFree5",
    ),  # fmt: skip
    pytest.param(
        {B: []},
        {B: [(21, 1), (63, 65)]},
        [(64, pb(B, 0), 2 * PS), (64, pb(B, 64), 64 * PS), (64, pb(B, 128), 0)],
        {B: [(0, 192)]},
        id="AllFree64",
    ),
    pytest.param(
        {B: []},
        {B: [(129, 1)]},
        [(65, pb(B, 0), 0), (65, pb(B, 65), PS), (65, pb(B, 130), 0)],
        {B: [(0, 195)]},
        id="AllFree65",
    ),
    pytest.param(
        {B: []},
        {B: [(10, 1)]},
        [
            (C - 3, pb(B, 0), PS),
            (C - 3, 0, 0),
            (1, pb(B, C - 3), 0),
            (2, pb(B, C - 2), 0),
            (1, 0, 0),
            (C - 3, 0, 0),
        ],
        {B: [(0, C)]},
        id="ExhaustPallocChunkPages-3",
    ),  # fmt: skip
    pytest.param(
        {B: []},
        {B: [(0, 1), (C - 1, 1)]},
        [(C, pb(B, 0), 2 * PS), (C, 0, 0), (1, 0, 0)],
        {B: [(0, C)]},
        id="AllFreePallocChunkPages",
    ),
    pytest.param(
        {B: [(0, C // 2)], B + 1: [(C // 2, C // 2)]},
        {B: [], B + 1: [(3, 100)]},
        [(C, pb(B, C // 2), 100 * PS), (C, 0, 0), (1, 0, 0)],
        {B: [(0, C)], B + 1: [(0, C)]},
        id="StraddlePallocChunkPages",
    ),
    pytest.param(
        {B: [(0, C // 2)], B + 1: []},
        {B: [(0, C)], B + 1: [(0, C)]},
        [(C + 1, pb(B, C // 2), (C + 1) * PS), (C, 0, 0), (1, pb(B + 1, C // 2 + 1), PS)],
        {B: [(0, C)], B + 1: [(0, C // 2 + 2)]},
        id="StraddlePallocChunkPages+1",
    ),
    pytest.param(
        {B: [], B + 1: []},
        {B: [], B + 1: []},
        [(C * 2, pb(B, 0), 0), (C * 2, 0, 0), (1, 0, 0)],
        {B: [(0, C)], B + 1: [(0, C)]},
        id="AllFreePallocChunkPages*2",
    ),
    pytest.param(
        {B: [], B + 0x40: [], B + 0x41: []},
        {B: [(0, C)], B + 0x40: [], B + 0x41: []},
        [(C * 2, pb(B + 0x40, 0), 0), (21, pb(B, 0), 21 * PS), (1, pb(B, 21), PS)],
        {B: [(0, 22)], B + 0x40: [(0, C)], B + 0x41: [(0, C)]},
        id="NotContiguousPallocChunkPages*2",
    ),
    pytest.param(
        {B: [(0, C // 2)], B + 1: [], B + 2: [(C // 2, C // 2)]},
        {B: [(0, 7)], B + 1: [(3, 5), (121, 10)], B + 2: [(C // 2 + 12, 2)]},
        [(C * 2, pb(B, C // 2), 15 * PS), (C * 2, 0, 0), (1, 0, 0)],
        {B: [(0, C)], B + 1: [(0, C)], B + 2: [(0, C)]},
        id="StraddlePallocChunkPages*2",
    ),
    pytest.param(
        {B: [(0, C)], B + 1: [(0, C * 3 // 4)], B + 2: [(0, C * 3 // 4)], B + 3: [(0, 0)]},
        {
            B: [(0, C)],
            B + 1: [(C // 2, C // 4 + 1)],
            B + 2: [(C // 3, 1)],
            B + 3: [(C * 2 // 3, 1)],
        },
        [
            (C * 5 // 4, pb(B + 2, C * 3 // 4), PS),
            (C * 5 // 4, 0, 0),
            (1, pb(B + 1, C * 3 // 4), PS),
        ],
        {B: [(0, C)], B + 1: [(0, C * 3 // 4 + 1)], B + 2: [(0, C)], B + 3: [(0, C)]},
        id="StraddlePallocChunkPages*5/4",
    ),  # fmt: skip
    pytest.param(
        {B + k: [] for k in range(8)},
        {
            B: [(50, 1)],
            B + 1: [(31, 1)],
            B + 2: [(7, 1)],
            B + 3: [(200, 1)],
            B + 4: [(3, 1)],
            B + 5: [(51, 1)],
            B + 6: [(20, 1)],
            B + 7: [(1, 1)],
        },
        [(C * 7 + 5, pb(B, 0), 8 * PS), (C * 7 + 5, 0, 0), (1, pb(B + 7, 5), 0)],
        {**{B + k: [(0, C)] for k in range(7)}, B + 7: [(0, 6)]},
        id="AllFreePallocChunkPages*7+5",
    ),  # fmt: skip
    # Go: a chunk whose summary ends a physical page of the summary array, and
    # a second chunk far above, so that the search must not read unmapped summaries.
    pytest.param(
        {B_ALIGNED + SUMS_PER_PHYS_PAGE - 1: [], B_ALIGNED + BIG_JUMP: []},
        {B_ALIGNED + SUMS_PER_PHYS_PAGE - 1: [], B_ALIGNED + BIG_JUMP: []},
        [
            (C - 1, pb(B_ALIGNED + SUMS_PER_PHYS_PAGE - 1, 0), 0),
            (1, pb(B_ALIGNED + SUMS_PER_PHYS_PAGE - 1, C - 1), 0),
            (1, pb(B_ALIGNED + BIG_JUMP, 0), 0),
            (C - 1, pb(B_ALIGNED + BIG_JUMP, 1), 0),
            (1, 0, 0),
        ],
        {B_ALIGNED + SUMS_PER_PHYS_PAGE - 1: [(0, C)], B_ALIGNED + BIG_JUMP: [(0, C)]},
        id="DiscontiguousMappedSumBoundary",
    ),
    # Go issue #40191: find's candidate searchAddr may lie in unmapped memory.
    pytest.param(
        {
            B: [(0, C - 1)],
            B + BIG_JUMP + SMALL_OFFSET: [(0, C - 10), (C - 1, 1)],
            B + BIG_JUMP * 2: [],
        },
        {B: [], B + BIG_JUMP + SMALL_OFFSET: [], B + BIG_JUMP * 2: []},
        [
            (1, pb(B, C - 1), 0),
            (100, pb(B_ALIGNED + BIG_JUMP * 2, 0), 0),
            (9, pb(B_ALIGNED + BIG_JUMP + SMALL_OFFSET, C - 10), 0),
        ],
        {B: [(0, C)], B + BIG_JUMP + SMALL_OFFSET: [(0, C)], B + BIG_JUMP * 2: [(0, 100)]},
        id="DiscontiguousBadSearchAddr",
    ),
]


@pytest.mark.parametrize(("before", "scav", "hits", "after"), ALLOC_CASES)
def test_alloc(before: Heap, scav: Heap, hits: list[tuple[int, int, int]], after: Heap) -> None:
    p = new_page_alloc(before, scav)
    for npages, want_base, want_scav in hits:
        assert p.alloc(npages) == (want_base, want_scav), f"alloc({npages})"
        p.check_invariants()
    assert_same_heap(p, new_page_alloc(after, scav))


# -- TestPageAllocExhaust ---------------------------------------------------------------


@pytest.mark.parametrize("npages", [1, 2, 3, 4, 5, 8, 16, 64, 1024, 1025, 2048, 2049])
def test_alloc_until_exhausted(npages: int) -> None:
    p = new_page_alloc({B + k: [] for k in range(4)}, None)
    n_alloc = C * 4 // npages
    for i in range(n_alloc):
        assert p.alloc(npages)[0] == pb(B, i * npages), f"alloc #{i + 1}"
    assert p.alloc(npages)[0] == 0
    p.check_invariants()
    left = n_alloc * npages
    want: Heap = {}
    for k in range(4):
        want[B + k] = [(0, min(left, C))] if left else []
        left -= min(left, C)
    assert_same_heap(p, new_page_alloc(want, None))


# -- TestPageAllocFree --------------------------------------------------------------

# (before, npages, frees, after)
FREE_CASES = [
    pytest.param({B: [(0, C)]}, 1, [pb(B, k) for k in range(5)], {B: [(5, C - 5)]}, id="Free1"),
    pytest.param(
        {B: [(0, C)], B + 1: [(0, C)], B + 2: [(0, C)]},
        1,
        [pb(B, C // 2), pb(B + 1, 0), pb(B + 2, C - 1)],
        {B: [(0, C // 2), (C // 2 + 1, C // 2 - 1)], B + 1: [(1, C - 1)], B + 2: [(0, C - 1)]},
        id="ManyArena1",
    ),
    pytest.param(
        {B: [(0, C)]}, 2, [pb(B, k) for k in (0, 2, 4, 6, 8)], {B: [(10, C - 10)]}, id="Free2"
    ),
    pytest.param(
        {B: [(C - 1, 1)], B + 1: [(0, 1)]}, 2, [pb(B, C - 1)], {B: [], B + 1: []}, id="Straddle2"
    ),
    pytest.param(
        {B: [(0, C)]}, 5, [pb(B, k) for k in (0, 5, 10, 15, 20)], {B: [(25, C - 25)]}, id="Free5"
    ),
    pytest.param(
        {B: [(0, C)]}, 64, [pb(B, k) for k in (0, 64, 128)], {B: [(192, C - 192)]}, id="Free64"
    ),
    pytest.param(
        {B: [(0, C)]}, 65, [pb(B, k) for k in (0, 65, 130)], {B: [(195, C - 195)]}, id="Free65"
    ),
    pytest.param({B: [(0, C)]}, C, [pb(B, 0)], {B: []}, id="FreePallocChunkPages"),
    pytest.param(
        {B: [(C // 2, C // 2)], B + 1: [(0, C // 2)]},
        C,
        [pb(B, C // 2)],
        {B: [], B + 1: []},
        id="StraddlePallocChunkPages",
    ),
    pytest.param(
        {B: [(0, C)], B + 1: [(0, C)]},
        C + 1,
        [pb(B, C // 2)],
        {B: [(0, C // 2)], B + 1: [(C // 2 + 1, C // 2 - 1)]},
        id="StraddlePallocChunkPages+1",
    ),
    pytest.param(
        {B: [(0, C)], B + 1: [(0, C)]},
        C * 2,
        [pb(B, 0)],
        {B: [], B + 1: []},
        id="FreePallocChunkPages*2",
    ),
    pytest.param(
        {B: [(0, C)], B + 1: [(0, C)], B + 2: [(0, C)]},
        C * 2,
        [pb(B, C // 2)],
        {B: [(0, C // 2)], B + 1: [], B + 2: [(C // 2, C // 2)]},
        id="StraddlePallocChunkPages*2",
    ),
    pytest.param(
        {B + k: [(0, C)] for k in range(8)},
        C * 7 + 5,
        [pb(B, 0)],
        {**{B + k: [] for k in range(7)}, B + 7: [(5, C - 5)]},
        id="AllFreePallocChunkPages*7+5",
    ),
]


@pytest.mark.parametrize(("before", "npages", "frees", "after"), FREE_CASES)
def test_free(before: Heap, npages: int, frees: list[int], after: Heap) -> None:
    p = new_page_alloc(before, None)
    for addr in frees:
        p.free(addr, npages)
    p.check_invariants()
    assert_same_heap(p, new_page_alloc(after, None))


# -- TestPageAllocAllocAndFree --------------------------------------------------------

# (init, hits [(alloc?, npages, base)])
ALLOC_AND_FREE_CASES = [
    pytest.param(
        {B + k: [] for k in range(8)},
        [(True, C * 8, pb(B, 0)), (False, C * 8, pb(B, 0))] * 3
        + [(True, 1, pb(B, 0)), (False, 1, pb(B, 0)), (True, C * 8, pb(B, 0))],
        id="Chunks8",
    ),
]


@pytest.mark.parametrize(("init", "hits"), ALLOC_AND_FREE_CASES)
def test_alloc_and_free(init: Heap, hits: list[tuple[bool, int, int]]) -> None:
    p = new_page_alloc(init, None)
    for is_alloc, npages, base in hits:
        if is_alloc:
            assert p.alloc(npages)[0] == base
        else:
            p.free(base, npages)
        p.check_invariants()


# -- ours: summaries level by level ------------------------------------------------------


def test_summaries_after_growing_four_chunks_and_allocating() -> None:
    p = new_page_alloc({B + k: [] for k in range(4)}, None)
    # The 4 chunks share one entry at every level above the leaves:
    # level l index = chunk index >> 3*(4-l).
    up = [B >> (3 * (4 - level)) for level in range(4)]
    free4 = (4 * C, 4 * C, 0)  # 2048 free pages from the start; the other 4 children are 0
    assert summaries(p) == [
        {up[0]: free4},
        {up[1]: free4},
        {up[2]: free4},
        {up[3]: free4},
        {B + k: (C, C, C) for k in range(4)},
    ]

    assert p.alloc(1) == (pb(B, 0), 0)
    # Chunk 0: 511 free at its end; merged with 3 free chunks: max 511 + 3*512 = 2047.
    assert p.summary(4, B) == (0, C - 1, C - 1)
    for level in range(4):
        assert p.summary(level, up[level]) == (0, 4 * C - 1, 0)

    # 600 pages: the first fit starts at page 1 of chunk 0 and takes 600 - 511 = 89 of chunk 1.
    assert p.alloc(600) == (pb(B, 1), 0)
    assert p.summary(4, B) == (0, 0, 0)
    assert p.summary(4, B + 1) == (0, C - 89, C - 89)  # 423 free at the end
    for level in range(4):
        assert p.summary(level, up[level]) == (0, (C - 89) + 2 * C, 0)  # 1447

    # Free the first page again: chunk 0 starts with a free page, the root too.
    p.free(pb(B, 0), 1)
    assert p.summary(4, B) == (1, 1, 0)
    assert p.summary(0, up[0]) == (1, 1447, 0)
    p.check_invariants()


def test_a_wholly_free_16_gib_root_entry_packs_as_the_maximum() -> None:
    # 4096 chunks = 16 GiB = one level-0 entry, all free: (2**21, 2**21, 2**21).
    base = 0x00C0_0000_0000
    p = PageAlloc(test=True)
    p.grow(base, 16 << 30)
    root = chunk_index(base) >> (LEVEL_SHIFT[0] - LEVEL_SHIFT[4])
    assert p.summary(0, root) == (1 << 21, 1 << 21, 1 << 21)
    assert p.alloc(1 << 21) == (base, (16 << 30))  # all of it, all scavenged
    assert p.summary(0, root) == (0, 0, 0)


def test_grown_memory_is_free_and_scavenged_and_search_addr_follows() -> None:
    p = PageAlloc(test=True)
    assert p.search_addr == MAX_SEARCH_ADDR  # nothing to allocate yet
    assert p.alloc(1) == (0, 0)
    p.grow(chunk_base(B + 2), 2 * PALLOC_CHUNK_BYTES)
    assert (p.start, p.end, p.search_addr) == (B + 2, B + 4, pb(B + 2, 0))
    assert chunk_bitmaps(p) == {B + 2: (0, (1 << C) - 1), B + 3: (0, (1 << C) - 1)}
    p.grow(chunk_base(B), PALLOC_CHUNK_BYTES)  # lower: start and searchAddr move down
    assert (p.start, p.end, p.search_addr) == (B, B + 4, pb(B, 0))
    p.check_invariants()


def test_offset_address_space_orders_kernel_half_first() -> None:
    # chunkIndex subtracts arenaBaseOffset: user addresses follow the kernel half.
    assert chunk_index(ARENA_BASE_OFFSET) == 0
    assert chunk_index(0) == (1 << 47) >> 22
    assert chunk_base(chunk_index(0x00C0_0000_0000)) == 0x00C0_0000_0000


def test_freeing_an_ungrown_page_throws() -> None:
    p = new_page_alloc({B: []}, None)
    with pytest.raises(RuntimeThrow, match="never grown"):
        p.chunk(B + 1)
    assert p.try_chunk(B + 1) is None


def test_check_invariants_names_a_corrupted_summary() -> None:
    p = new_page_alloc({B: [], B + 1: []}, None)
    p.chunk(B).alloc_range(0, 3)  # behind the allocator's back: no update
    with pytest.raises(RuntimeThrow, match="pageAlloc.check_invariants: leaf summary"):
        p.check_invariants()


# -- ours: the metadata's address space in a simulated process -----------------------------

MiB = 1 << 20
KiB = 1 << 10


def parse_maps(text: str) -> list[tuple[int, int, str]]:
    out = []
    for line in text.splitlines():
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
        assert m is not None
        out.append((int(m[1], 16), int(m[2], 16), m[3]))
    return out


def covering(maps: list[tuple[int, int, str]], lo: int, hi: int) -> str:
    """The permissions of the one mapping that covers [lo, hi)."""
    (perms,) = [p for s, e, p in maps if s <= lo and hi <= e]
    return perms


def test_summaries_and_scavenge_index_are_reserved_prot_none() -> None:
    p = Machine().spawn("go")
    os = OSMemory(p)
    before = p.statistics().vm_size_kb
    stat = SysMemStat("GCSys")
    pa = PageAlloc(os, stat)
    # Level l has 2**(48 - levelShift[l]) entries of 8 bytes; levelShift = 34, 31, 28, 25, 22:
    #   2**14 * 8 = 128 KiB, 2**17 * 8 = 1 MiB, 2**20 * 8 = 8 MiB, 2**23 * 8 = 64 MiB,
    #   2**26 * 8 = 512 MiB.
    # The scavenge index: one 8-byte entry per 4 MiB chunk of 2**48 bytes:
    #   2**48 / 2**22 * 8 = 2**29 = 512 MiB.
    summary_sizes = [128 * KiB, 1 * MiB, 8 * MiB, 64 * MiB, 512 * MiB]
    maps = parse_maps(p.maps())
    for base, size in zip(pa.summary_base, summary_sizes, strict=True):
        assert covering(maps, base, base + size) == "---p"
    si = pa.scav_index.chunks_base
    assert covering(maps, si, si + 512 * MiB) == "---p"
    # 128 KiB + 1 + 8 + 64 + 512 + 512 MiB of address space, no memory.
    assert p.statistics().vm_size_kb - before == 128 + (1 + 8 + 64 + 512 + 512) * 1024
    assert (stat.nbytes, os.mapped_ready, pa.summary_mapped_ready) == (0, 0, 0)


def test_grow_maps_the_summary_pages_that_cover_the_new_heap() -> None:
    p = Machine().spawn("go")
    os = OSMemory(p)
    stat = SysMemStat("GCSys")
    pa = PageAlloc(os, stat)
    base = 0x00C0_0000_0000  # the first arena hint on amd64
    pa.grow(base, 64 * MiB)  # 16 chunks
    # In offset space base is 0x80c000000000. Per level, the entries [lo, hi) are
    # rounded out to blocks of 2**levelBits (level 0: the whole level; others 8),
    # then the byte range [8*lo, 8*hi) out to 4 KiB pages:
    #   level 0: lo=0x2030; block 2**14 -> [0, 16384) -> bytes [0, 128 KiB): all of it
    #   level 1: lo=0x10180 -> [0x10180, 0x10188) -> bytes 0x80c00.. -> page 0x80000, 4 KiB
    #   level 2: lo=0x80c00 -> bytes 0x406000.. -> page 0x406000, 4 KiB
    #   level 3: lo=0x406000, hi=0x406002 (2 x 32 MiB) -> bytes 0x2030000.. -> 4 KiB
    #   level 4: lo=0x2030000, hi=0x2030010 (16 chunks) -> bytes 0x10180000.. -> 4 KiB
    # Scavenge index: chunks [0x2030000, 0x2030010) rounded to 512 entries per 4 KiB page
    #   -> [0x2030000, 0x2030200) -> bytes [0x10180000, 0x10181000): 4 KiB.
    want = [
        (pa.summary_base[0], 128 * KiB),
        (pa.summary_base[1] + 0x80000, 4 * KiB),
        (pa.summary_base[2] + 0x406000, 4 * KiB),
        (pa.summary_base[3] + 0x2030000, 4 * KiB),
        (pa.summary_base[4] + 0x10180000, 4 * KiB),
        (pa.scav_index.chunks_base + 0x10180000, 4 * KiB),
    ]
    maps = parse_maps(p.maps())
    for start, size in want:
        assert (start, start + size, "rw-p") in maps  # exactly that range turned read/write
    assert pa.summary_mapped_ready == 128 * KiB + 5 * 4 * KiB
    # The chunk map's second level for this 32 GiB slice: sysAlloc'd, 2**13 chunks
    # x 128 bytes of bitmaps = 1 MiB, advised MADV_NOHUGEPAGE (not a test).
    (l2,) = chunks_l2_blocks(pa).values()
    assert covering(maps, l2, l2 + 1 * MiB) == "rw-p"
    assert stat.nbytes == pa.summary_mapped_ready + 1 * MiB
    assert os.mapped_ready == stat.nbytes

    # Growing right above maps only what the first growth did not: the level-3
    # entries 0x406002.. and the leaves 0x2030010.. share pages already mapped.
    pa.grow(base + 64 * MiB, 64 * MiB)
    assert pa.summary_mapped_ready == 128 * KiB + 5 * 4 * KiB

    # Go's enableChunkHugePages advises only L2 blocks below each range's last
    # one, so nothing here; a chunk 32 GiB up needs a second 1 MiB L2 block.
    pa.enable_chunk_huge_pages()
    pa.grow(base + (32 << 30), 4 * MiB)
    blocks = chunks_l2_blocks(pa)
    assert sorted(blocks) == [chunk_index(base) >> 13, (chunk_index(base) >> 13) + 1]
    maps = parse_maps(p.maps())
    assert all(covering(maps, a, a + 1 * MiB) == "rw-p" for a in blocks.values())
    pa.check_invariants()


# -- ours: a property test against a plain first-fit model -----------------------------------


class PageAllocMachine(RuleBasedStateMachine):
    """Random grows, allocs, frees and scavenges. The model: bitmaps of free
    and of scavenged pages over the whole test heap (bit k = page k above
    chunk B); alloc must return the lowest run of free pages, which cannot
    cross ungrown memory since ungrown pages are never free."""

    ORIGIN = chunk_base(B) // PS

    def __init__(self) -> None:
        super().__init__()
        self.released: list[tuple[int, int]] = []
        self.p = PageAlloc(release=lambda a, n: self.released.append((a, n)))
        self.grown: list[int] = []  # grown chunk indices
        self.free = 0  # bit k: page ORIGIN + k is free
        self.scav = 0  # bit k: page ORIGIN + k is scavenged
        self.live: list[tuple[int, int]] = []  # (address, npages) handed out
        self.cache = PageCache()  # a P's page cache; its pages are not free in the model
        self.next_chunk = B

    @staticmethod
    def pages(addr: int, npages: int) -> int:
        return ((1 << npages) - 1) << (addr // PS - PageAllocMachine.ORIGIN)

    @initialize()
    def first_grow(self) -> None:
        self.grow(2, 0)

    @rule(nchunks=st.integers(1, 3), gap=st.sampled_from([0, 0, 1, 9]))
    def grow(self, nchunks: int, gap: int) -> None:
        self.next_chunk += gap
        base = chunk_base(self.next_chunk)
        self.p.grow(base, nchunks * PALLOC_CHUNK_BYTES)
        self.grown += range(self.next_chunk, self.next_chunk + nchunks)
        self.free |= self.pages(base, nchunks * C)
        self.scav |= self.pages(base, nchunks * C)
        self.next_chunk += nchunks

    def first_fit(self, npages: int) -> int:
        runs = self.free
        for k in range(1, npages):  # bit i survives iff pages i..i+k are all free
            runs &= self.free >> k
        if not runs:
            return 0
        return ((runs & -runs).bit_length() - 1 + self.ORIGIN) * PS

    @rule(npages=st.one_of(st.integers(1, 8), st.integers(9, 1200)))
    def alloc(self, npages: int) -> None:
        want = self.first_fit(npages)
        addr, scav = self.p.alloc(npages)
        assert addr == want
        if addr == 0:
            return
        run = self.pages(addr, npages)
        assert run & self.free == run  # never hands out a page twice
        assert scav == (run & self.scav).bit_count() * PS
        self.free &= ~run
        self.scav &= ~run
        self.live.append((addr, npages))

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def free_one(self, data: st.DataObject) -> None:
        addr, npages = self.live.pop(data.draw(st.integers(0, len(self.live) - 1)))
        self.p.free(addr, npages)
        self.free |= self.pages(addr, npages)

    @rule(nbytes=st.sampled_from([1, PS, 100 * PS, 1 << 62]), force=st.booleans())
    def scavenge(self, nbytes: int, force: bool) -> None:
        self.released.clear()
        got = self.p.scavenge(nbytes, force)
        assert got == sum(n for _, n in self.released)
        for a, n in self.released:
            run = self.pages(a, n // PS)
            assert run & self.free == run and not run & self.scav  # free, not yet released
            self.scav |= run

    @precondition(lambda self: self.cache.empty())
    @rule()
    def alloc_to_cache(self) -> None:
        c = self.p.alloc_to_cache()
        if not self.free:
            assert c == PageCache()
            return
        # The 64-page block holding the lowest free page, with all its free pages.
        first = (self.free & -self.free).bit_length() - 1
        shift = first // 64 * 64
        assert c.base == (shift + self.ORIGIN) * PS
        assert (c.cache, c.scav) == ((self.free >> shift) & ONES, (self.scav >> shift) & ONES)
        self.free &= ~(c.cache << shift)
        self.scav &= ~(c.cache << shift)
        self.cache = c

    @precondition(lambda self: not self.cache.empty())
    @rule(npages=st.integers(1, 9))
    def alloc_from_cache(self, npages: int) -> None:
        before = PageCache(self.cache.base, self.cache.cache, self.cache.scav)
        addr, scav = self.cache.alloc(npages)
        if addr:
            run = ((1 << npages) - 1) << ((addr - before.base) // PS)
            assert before.cache & run == run
            assert scav == (before.scav & run).bit_count() * PS
            self.live.append((addr, npages))

    @precondition(lambda self: not self.cache.empty())
    @rule()
    def flush_cache(self) -> None:
        c = self.cache
        shift = c.base // PS - self.ORIGIN
        self.free |= c.cache << shift
        self.scav |= c.scav << shift
        c.flush(self.p)
        assert c.empty()

    @rule()
    def next_gen(self) -> None:
        self.p.scav_index.next_gen()

    @invariant()
    def consistent(self) -> None:
        self.p.check_invariants()
        want = {}
        for ci in sorted(self.grown):
            shift = chunk_base(ci) // PS - self.ORIGIN
            free, scav = (self.free >> shift) % (1 << C), (self.scav >> shift) % (1 << C)
            want[ci] = (free ^ ((1 << C) - 1), scav)
        assert chunk_bitmaps(self.p) == want


TestPageAllocProperties = PageAllocMachine.TestCase
