"""Chunk bitmaps and summaries (runtime/mpallocbits.go).

Scenario data are derived from Go's tests in go1.24.3 runtime/mpallocbits_test.go
(TestPallocBitsAllocRange, TestMallocBitsPopcntRange, TestPallocBitsSummarize,
TestPallocBitsSummarizeRandom, TestPallocBitsAlloc, TestPallocBitsFree,
TestFindBitRange64), which carry this notice:

    Copyright 2019 The Go Authors. All rights reserved.
    Use of this source code is governed by a BSD-style
    license that can be found in the LICENSE file.

Go's bitmaps are [8]uint64 with page i in word i//64, bit i%64; ours is one
int with page i at bit i, so "word k = w" in Go reads `w << (64*k)` here.
"""

from __future__ import annotations

import random

import pytest

from gomem.runtime.mpallocbits import (
    FREE_CHUNK_SUM,
    NOT_FOUND,
    PALLOC_CHUNK_PAGES,
    PallocBits,
    find_bit_range64,
    pack_palloc_sum,
    unpack_palloc_sum,
)
from gomem.testing import make_palloc_bits

C = PALLOC_CHUNK_PAGES
ONES = (1 << 64) - 1
FULL = (1 << C) - 1


def words(**by_index: int) -> int:
    """A bitmap from Go's words: words(w0=1, w7=1 << 63)."""
    return sum(v << (64 * int(k[1:])) for k, v in by_index.items())


def summarize_slow(bits: int) -> tuple[int, int, int]:
    """export_test.go SummarizeSlow: count zero bits one by one."""
    start = 0
    while start < C and not (bits >> start) & 1:
        start += 1
    end = 0
    while end < C and not (bits >> (C - end - 1)) & 1:
        end += 1
    most = run = 0
    for i in range(C):
        run = run + 1 if not (bits >> i) & 1 else 0
        most = max(most, run)
    return start, most, end


# -- TestPallocBitsAllocRange --------------------------------------------------

ALLOC_RANGE_CASES = [
    pytest.param(0, 1, words(w0=0x1), id="OneLow"),
    pytest.param(C - 1, 1, words(w7=1 << 63), id="OneHigh"),
    pytest.param(129, 5, words(w2=0x3E), id="Inner"),
    pytest.param(128, 128, words(w2=ONES, w3=ONES), id="Aligned"),
    pytest.param(0, 321, words(w0=ONES, w1=ONES, w2=ONES, w3=ONES, w4=ONES, w5=0x1), id="Begin"),
    pytest.param(
        C - (64 * 3 + 1), 64 * 3 + 1, words(w7=ONES, w6=ONES, w5=ONES, w4=1 << 63), id="End"
    ),
    pytest.param(0, C, FULL, id="All"),
]


@pytest.mark.parametrize(("i", "n", "want"), ALLOC_RANGE_CASES)
def test_alloc_range_sets_exactly_the_range(i: int, n: int, want: int) -> None:
    assert make_palloc_bits([(i, n)]).bits == want


# -- TestMallocBitsPopcntRange ---------------------------------------------------

SCATTERED = [
    (1, 3), (5, 1), (7, 1), (10, 2), (13, 1), (15, 4),
    (21, 1), (23, 1), (26, 2), (30, 5), (36, 2), (40, 3),
    (44, 6), (51, 1), (53, 2), (58, 3), (63, 1), (67, 2),
    (71, 10), (84, 1), (89, 7), (99, 2), (103, 1), (107, 2),
    (111, 1), (113, 1), (115, 1), (118, 1), (120, 2), (125, 5),
]  # fmt: skip

# (init ranges, [(i, n, want popcount)])
POPCNT_CASES = [
    pytest.param(
        [],
        [(0, 1, 0), (5, 3, 0), (2, 11, 0), (C // 4 + 1, C // 2, 0), (0, C, 0)],
        id="None",
    ),
    pytest.param(
        [(0, C)],
        [(0, 1, 1), (5, 3, 3), (2, 11, 11), (C // 4 + 1, C // 2, C // 2), (0, C, C)],
        id="All",
    ),
    pytest.param(
        [(C // 2, C // 2)],
        [
            (0, 1, 0),
            (5, 3, 0),
            (2, 11, 0),
            (C // 2 - 1, 1, 0),
            (C // 2, 1, 1),
            (C // 2 + 10, 1, 1),
            (C // 2 - 1, 2, 1),
            (C // 4, C // 4, 0),
            (C // 4, C // 4 + 1, 1),
            (C // 4 + 1, C // 2, C // 4 + 1),
            (0, C, C // 2),
        ],
        id="Half",
    ),  # fmt: skip
    pytest.param(
        [(0, 111)],
        [
            (0, 1, 1),
            (5, 3, 3),
            (2, 11, 11),
            (110, 2, 1),
            (99, 50, 12),
            (110, 1, 1),
            (111, 1, 0),
            (99, 1, 1),
            (120, 1, 0),
            (C // 2, C // 2, 0),
            (0, C, 111),
        ],
        id="OddBound",
    ),  # fmt: skip
    pytest.param(
        SCATTERED,
        [
            (0, 11, 6),
            (0, 64, 39),
            (13, 64, 40),
            (64, 64, 34),
            (0, 128, 73),
            (1, 128, 74),
            (0, C, 75),
        ],
        id="Scattered",
    ),  # fmt: skip
]


@pytest.mark.parametrize(("init", "probes"), POPCNT_CASES)
def test_popcnt_range_counts_set_bits(
    init: list[tuple[int, int]], probes: list[tuple[int, int, int]]
) -> None:
    b = make_palloc_bits(init)
    assert [(i, n, b.popcnt_range(i, n)) for i, n, _ in probes] == probes


# -- TestPallocBitsSummarize / SummarizeRandom -------------------------------------

# (free ranges, want (start, max, end))
SUMMARIZE_CASES = [
    pytest.param([], (0, 0, 0), id="NoneFree"),
    pytest.param([(0, 10)], (10, 10, 0), id="OnlyStart"),
    pytest.param([(C - 40, 40)], (0, 40, 40), id="OnlyEnd"),
    pytest.param([(0, 11), (C - 23, 23)], (11, 23, 23), id="StartAndEnd"),
    pytest.param([(0, 4), (50, 100), (C - 4, 4)], (4, 100, 4), id="StartMaxEnd"),
    pytest.param([(1, 20), (35, 241), (C - 50, 30)], (0, 241, 0), id="OnlyMax"),
    pytest.param([(35, 2), (40, 5), (100, 5)], (0, 5, 0), id="MultiMax"),
    pytest.param([(2, 1)], (0, 1, 0), id="One"),
    pytest.param([(0, C)], (C, C, C), id="AllFree"),
]


@pytest.mark.parametrize(("free", "want"), SUMMARIZE_CASES)
def test_summarize(free: list[tuple[int, int]], want: tuple[int, int, int]) -> None:
    b = PallocBits(~make_palloc_bits(free).bits & FULL)  # the ranges are the free ones
    assert unpack_palloc_sum(b.summarize()) == want


def test_summarize_matches_the_slow_reference_on_random_bitmaps() -> None:
    rng = random.Random(2019)
    for k in range(1000):
        # Go uses uniform random words; also try sparse and dense ones, which
        # have the long runs uniform bits almost never produce.
        bits = rng.getrandbits(C)
        if k % 3 == 1:
            bits &= rng.getrandbits(C) & rng.getrandbits(C)
        elif k % 3 == 2:
            bits |= rng.getrandbits(C) | rng.getrandbits(C)
        assert unpack_palloc_sum(PallocBits(bits).summarize()) == summarize_slow(bits)


@pytest.mark.parametrize(
    "pattern",
    [0, ONES, 0xAA, 0xAAAAAAAAAAAAAAAA, 0x80000000AAAAAAAA, 0xAAAAAAAA00000001,
     0xBBBBBBBBBBBBBBBB, 0x80000000BBBBBBBB, 0xBBBBBBBB00000001, 0xCCCCCCCCCCCCCCCC,
     0x4444444444444444, 0x4040404040404040, 0x4000400040004000, 0x1000404044CCAAFF],
    ids=lambda p: f"Unpacked{p:02X}",
)  # fmt: skip
def test_summarize_matches_the_slow_reference_on_benchmark_patterns(pattern: int) -> None:
    # BenchmarkPallocBitsSummarize checks each pattern against SummarizeSlow first.
    bits = sum(pattern << (64 * k) for k in range(C // 64))
    assert unpack_palloc_sum(PallocBits(bits).summarize()) == summarize_slow(bits)


def test_packed_summary_of_a_wholly_free_root_entry_is_bit_63() -> None:
    assert pack_palloc_sum(1 << 21, 1 << 21, 1 << 21) == 1 << 63
    assert unpack_palloc_sum(1 << 63) == (1 << 21, 1 << 21, 1 << 21)
    assert unpack_palloc_sum(FREE_CHUNK_SUM) == (C, C, C)


# -- TestPallocBitsAlloc -----------------------------------------------------------

# (before, npages, hits, after); NOT_FOUND is Go's ^uint(0)
ALLOC_CASES = [
    pytest.param([], 1, [0, 1, 2, 3, 4, 5], [(0, 6)], id="AllFree1"),
    pytest.param([], 2, [0, 2, 4, 6, 8, 10], [(0, 12)], id="AllFree2"),
    pytest.param([], 5, [0, 5, 10, 15, 20], [(0, 25)], id="AllFree5"),
    pytest.param([], 64, [0, 64, 128], [(0, 192)], id="AllFree64"),
    pytest.param([], 65, [0, 65, 130], [(0, 195)], id="AllFree65"),
    pytest.param(
        [(0, 32), (64, 32), (100, C - 100)],
        64,
        [NOT_FOUND],
        [(0, 32), (64, 32), (100, C - 100)],
        id="SomeFree64",
    ),
    pytest.param([(0, C)], 1, [NOT_FOUND, NOT_FOUND], [(0, C)], id="NoneFree1"),
    pytest.param([(0, C)], 2, [NOT_FOUND, NOT_FOUND], [(0, C)], id="NoneFree2"),
    pytest.param([(0, C)], 5, [NOT_FOUND, NOT_FOUND], [(0, C)], id="NoneFree5"),
    pytest.param([(0, C)], 65, [NOT_FOUND, NOT_FOUND], [(0, C)], id="NoneFree65"),
    pytest.param(
        [(0, C // 2 - 3), (C // 2 - 2, C // 2 + 2)],
        1,
        [C // 2 - 3, NOT_FOUND],
        [(0, C)],
        id="ExactFit1",
    ),
    pytest.param(
        [(0, C // 2 - 3), (C // 2 - 1, C // 2 + 1)],
        2,
        [C // 2 - 3, NOT_FOUND],
        [(0, C)],
        id="ExactFit2",
    ),
    pytest.param(
        [(0, C // 2 - 3), (C // 2 + 2, C // 2 - 2)],
        5,
        [C // 2 - 3, NOT_FOUND],
        [(0, C)],
        id="ExactFit5",
    ),
    pytest.param(
        [(0, C // 2 - 31), (C // 2 + 34, C // 2 - 34)],
        65,
        [C // 2 - 31, NOT_FOUND],
        [(0, C)],
        id="ExactFit65",
    ),
    pytest.param([(0, 185), (331, 1)], 161, [332], [(0, 185), (331, 162)], id="SomeFree161"),
]


@pytest.mark.parametrize(("before", "npages", "hits", "after"), ALLOC_CASES)
def test_find_then_alloc_range(
    before: list[tuple[int, int]], npages: int, hits: list[int], after: list[tuple[int, int]]
) -> None:
    b = make_palloc_bits(before)
    for want in hits:
        got, _ = b.find(npages, 0)
        assert got == want
        if got != NOT_FOUND:
            b.alloc_range(got, npages)
    assert b.bits == make_palloc_bits(after).bits


# -- TestPallocBitsFree --------------------------------------------------------------

# (before, inverted; npages; frees; after, inverted)
FREE_CASES = [
    pytest.param([(0, 32), (64, 32), (100, 1)], 1, [32], [(0, 33), (64, 32), (100, 1)],
                 id="SomeFree"),
    pytest.param([], 1, [0, 1, 2, 3, 4, 5], [(0, 6)], id="NoneFree1"),
    pytest.param([], 2, [0, 2, 4, 6, 8, 10], [(0, 12)], id="NoneFree2"),
    pytest.param([], 5, [0, 5, 10, 15, 20], [(0, 25)], id="NoneFree5"),
    pytest.param([], 64, [0, 64, 128], [(0, 192)], id="NoneFree64"),
    pytest.param([], 65, [0, 65, 130], [(0, 195)], id="NoneFree65"),
]  # fmt: skip


@pytest.mark.parametrize(("before_inv", "npages", "frees", "after_inv"), FREE_CASES)
def test_free_clears_the_range(
    before_inv: list[tuple[int, int]],
    npages: int,
    frees: list[int],
    after_inv: list[tuple[int, int]],
) -> None:
    b = PallocBits(~make_palloc_bits(before_inv).bits & FULL)
    for i in frees:
        b.free(i, npages)
    assert b.bits == ~make_palloc_bits(after_inv).bits & FULL


# -- TestFindBitRange64 --------------------------------------------------------------

FIND_BIT_RANGE_CASES = (
    [pytest.param(ONES, n, 0, id=f"ones-{n}") for n in range(1, 65)]
    + [pytest.param(0, n, None, id=f"zero-{n}") for n in range(1, 65)]
    + [
        pytest.param(0x8000000000000000, 1, 63, id="8000000000000000-1"),
        pytest.param(0xC000010001010000, 2, 62, id="c000010001010000-2"),
        pytest.param(0xC000010001030000, 2, 16, id="c000010001030000-2"),
        pytest.param(0xE000030001030000, 3, 61, id="e000030001030000-3"),
        pytest.param(0xE000030001070000, 3, 16, id="e000030001070000-3"),
        pytest.param(0xFFFF03FF01070000, 16, 48, id="ffff03ff01070000-16"),
        pytest.param(0xFFFF03FF0107FFFF, 16, 0, id="ffff03ff0107ffff-16"),
        pytest.param(0x0FFF03FF01079FFF, 16, None, id="0fff03ff01079fff-16"),
    ]
)


@pytest.mark.parametrize(("x", "n", "want"), FIND_BIT_RANGE_CASES)
def test_find_bit_range64(x: int, n: int, want: int | None) -> None:
    got = find_bit_range64(x, n)
    if want is None:
        assert got >= 64
    else:
        assert got == want


# -- our own: the search index quirks of find ----------------------------------------


def test_find_searches_from_the_start_of_the_word_holding_search_idx() -> None:
    # Pages 0..9 free, the rest in use: searching from page 5 still finds page 0,
    # because Go's loops start at word search_idx/64.
    b = PallocBits(FULL & ~0x3FF)
    assert b.find(1, 5) == (0, 0)
    assert b.find(3, 5) == (0, 0)
    assert b.find(1, 64) == (NOT_FOUND, NOT_FOUND)


def test_find_reports_the_first_free_page_as_the_new_search_index() -> None:
    # Page 3 free alone, pages 10.. free: a 4-page run starts at 10, the first
    # free page seen is 3.
    b = make_palloc_bits([(0, 3), (4, 6)])
    assert b.find(4, 0) == (10, 3)
    assert b.find(100, 0) == (10, 3)
