"""Scavenging in the page allocator (runtime/mgcscavenge.go: fillAligned,
pallocData.findScavengeCandidate, pageAlloc.scavenge/scavengeOne, the
scavengeIndex and scavChunkData).

Scenario data are derived from Go's tests in go1.24.3 runtime/mgcscavenge_test.go
(TestFillAligned, TestPallocDataFindScavengeCandidate, TestPageAllocScavenge,
TestScavengeIndex, TestScavChunkDataPack), which carry this notice:

    Copyright 2019 The Go Authors. All rights reserved.
    Use of this source code is governed by a BSD-style
    license that can be found in the LICENSE file.

Not ported: TestScavenger (the background scavenger's pacing and sleep
controller are not modelled here) and FuzzPIController.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from gomem.runtime.mem_linux import PHYS_HUGE_PAGE_SIZE, PHYS_PAGE_SIZE
from gomem.runtime.mpagealloc import (
    SCAV_CHUNK_HI_OCC_PAGES,
    PageAlloc,
    ScavChunkData,
    ScavengeIndex,
    chunk_index,
    chunk_page_index,
)
from gomem.runtime.mpallocbits import PALLOC_CHUNK_PAGES, PallocData, fill_aligned
from gomem.runtime.msize import PAGE_SIZE
from gomem.testing import (
    BASE_CHUNK_IDX,
    chunk_bitmaps,
    new_page_alloc,
    new_scavenge_index,
    page_base,
    reset_search_addrs,
)

B = BASE_CHUNK_IDX
C = PALLOC_CHUNK_PAGES
PS = PAGE_SIZE
pb = page_base
ONES = (1 << 64) - 1
MAX_UINTPTR = (1 << 64) - 1  # Go's ^uintptr(0)
MIN_PAGES = max(PHYS_PAGE_SIZE // PS, 1)  # 4 KiB OS pages < 8 KiB runtime pages: 1

Ranges = list[tuple[int, int]]
Heap = dict[int, Ranges]


# -- TestFillAligned ----------------------------------------------------------------


def fill_aligned_slow(x: int, m: int) -> int:
    if m == 1:
        return x
    out = 0
    for i in range(0, 64, m):
        if x >> i & ((1 << m) - 1):
            out |= ((1 << m) - 1) << i
    return out


FILL_FIXED = [
    0x0000000000000000, 0x00000000FFFFFFFF, 0xFFFFFFFF00000000, 0x8000000000000001,
    0xF00000000000000F, 0xF00000010050000F, 0xFFFFFFFFFFFFFFFF, 0x0000000000000001,
    0x0000000000000002, 0x0000000000000008,
    0xB02B9EFFCF137016, 0x3975A076A9FBFF18, 0x0F8C88EC3B81506E, 0x60F14D80EF2FA0E6,
]  # fmt: skip


@pytest.mark.parametrize("m", [1, 2, 4, 8, 16, 32, 64])
def test_fill_aligned(m: int) -> None:
    cases = [*FILL_FIXED, (1 << (m - 1)), (1 << m) & ONES]
    rng = random.Random(m)  # Go draws 1000 values per m at random; ours are seeded
    for _ in range(1000):
        cases.append(rng.getrandbits(64))
        if m > 1:
            # Each m-bit group either zero or random: more all-zero groups.
            val = 0
            for n in range(0, 64, m):
                if rng.getrandbits(1) == 0:
                    val |= (rng.getrandbits(64) & ((1 << m) - 1)) << n
            cases.append(val)
    for x in cases:
        assert fill_aligned(x, m) == fill_aligned_slow(x, m), f"fillAligned({x:#018x}, {m})"


def test_fill_aligned_example_from_its_comment() -> None:
    assert fill_aligned(0x0100A3, 8) == 0xFF00FF


# -- TestPallocDataFindScavengeCandidate ----------------------------------------------


@dataclass(frozen=True)
class CandidateCase:
    alloc: Ranges
    scavenged: Ranges
    min: int
    max: int
    want: tuple[int, int]


def _candidate_cases() -> dict[str, CandidateCase]:
    # Built like Go's map: later assignments to the same name win, so
    # "OneFree" and "OneScavenged" end up with m = 8.
    t: dict[str, CandidateCase] = {
        "MixedMin1": CandidateCase([(0, 40), (42, C - 42)], [(0, 41), (42, C - 42)], 1, C, (41, 1)),
        "MultiMin1": CandidateCase([(0, 63), (65, 20), (87, C - 87)], [(86, 1)], 1, C, (85, 1)),
    }
    m = 1
    while m <= 64:
        s = f"Min{m}"
        t["AllFree" + s] = CandidateCase([], [], m, C, (0, C))
        t["AllScavenged" + s] = CandidateCase([], [(0, C)], m, C, (0, 0))
        t["NoneFree" + s] = CandidateCase([(0, C)], [(C // 2, C // 2)], m, C, (0, 0))
        t["StartFree" + s] = CandidateCase([(m, C - m)], [], m, C, (0, m))
        t["EndFree" + s] = CandidateCase([(0, C - m)], [], m, C, (C - m, m))
        t["Straddle64" + s] = CandidateCase(
            [(0, 64 - m), (64 + m, C - (64 + m))], [], m, 2 * m, (64 - m, 2 * m)
        )
        t["BottomEdge64WithFull" + s] = CandidateCase(
            [(64, 64), (128 + 3 * m, C - (128 + 3 * m))], [(1, 10)], m, 3 * m, (128, 3 * m)
        )
        t["BottomEdge64WithPocket" + s] = CandidateCase(
            [(64, 62), (127, 1), (128 + 3 * m, C - (128 + 3 * m))],
            [(1, 10)],
            m,
            3 * m,
            (128, 3 * m),
        )
        t["Max0" + s] = CandidateCase([], [(0, C - m)], m, 0, (C - m, m))
        if m <= 8:
            t["OneFree"] = CandidateCase([(0, 40), (40 + m, C - (40 + m))], [], m, C, (40, m))
            t["OneScavenged"] = CandidateCase(
                [(0, 40), (40 + m, C - (40 + m))], [(40, 1)], m, C, (0, 0)
            )
        if m > 1:
            t["MaxUnaligned" + s] = CandidateCase([], [(0, C - (m * 2 - 1))], m, m - 2, (C - m, m))
            t["SkipSmall" + s] = CandidateCase(
                [(0, 64 - m), (64, 5), (70, 11), (82, C - 82)], [], m, m, (64 - m, m)
            )
            t["SkipMisaligned" + s] = CandidateCase(
                [(0, 64 - m), (64, 63), (127 + m, C - (127 + m))], [], m, m, (64 - m, m)
            )
            t["MaxLessThan" + s] = CandidateCase([], [(0, C - m)], m, 1, (C - m, m))
        m *= 2
    # Huge pages: physHugePageSize is 2 MiB on x86-64, 256 runtime pages, and
    # 3 of them do not fit in a chunk, so Go's "PreserveHugePageMiddle" is not made.
    bits = PHYS_HUGE_PAGE_SIZE // PS
    assert bits < C < 3 * bits
    t["PreserveHugePageBottom"] = CandidateCase(
        [(bits + 2, C - (bits + 2))], [], 1, 3, (0, bits + 2)
    )
    t["PreserveHugePageTop"] = CandidateCase([(0, C - bits)], [], 1, 1, (C - bits, bits))
    return t


CANDIDATE_CASES = _candidate_cases()


@pytest.mark.parametrize("case", CANDIDATE_CASES.values(), ids=CANDIDATE_CASES.keys())
def test_find_scavenge_candidate(case: CandidateCase) -> None:
    d = PallocData()
    for i, n in case.alloc:
        if n:
            d.alloc_range(i, n)
    for i, n in case.scavenged:
        if n:
            d.scavenged.set_range(i, n)  # after alloc: may overlap in-use pages
    got = d.find_scavenge_candidate(C - 1, case.min, case.max)
    if not (got[1] == 0 and case.want[1] == 0):
        assert got == case.want


def test_the_candidate_table_has_all_93_of_gos_cases() -> None:
    # 2 fixed + 7 values of m x 9 + "OneFree"/"OneScavenged" + 6 values of m > 1 x 4
    # + 2 huge-page cases: 2 + 63 + 2 + 24 + 2 = 93 cases in all.
    assert len(CANDIDATE_CASES) == 93


# -- TestPageAllocScavenge ---------------------------------------------------------------

# (before alloc, before scav, [(request, expect)], after scav)
SCAVENGE_CASES = [
    pytest.param(
        {B: [], B + 1: [], B + 2: []},
        {B: [], B + 1: [], B + 2: []},
        [(MAX_UINTPTR, 3 * C * PS)],
        {B: [(0, C)], B + 1: [(0, C)], B + 2: [(0, C)]},
        id="AllFreeUnscavExhaust",
    ),
    pytest.param(
        {B: [(0, C)], B + 1: [], B + 2: [(0, C)]},
        {B: [], B + 1: [(0, C)], B + 2: []},
        [(MAX_UINTPTR, 0)],
        {B: [], B + 1: [(0, C)], B + 2: []},
        id="NoneFreeUnscavExhaust",
    ),
    pytest.param(
        {B: []},
        {B: [(MIN_PAGES, C - 2 * MIN_PAGES)]},
        [(1, MIN_PAGES * PS)],
        {B: [(MIN_PAGES, C - MIN_PAGES)]},
        id="ScavHighestPageFirst",
    ),
    pytest.param(
        {B: []},
        {B: [(MIN_PAGES, C - 2 * MIN_PAGES)]},
        [(MIN_PAGES * PS, MIN_PAGES * PS), (MIN_PAGES * PS, MIN_PAGES * PS)],
        {B: [(0, C)]},
        id="ScavMultiple",
    ),
    pytest.param(
        {B: [], B + 1: []},
        {B: [(MIN_PAGES, C - 2 * MIN_PAGES)], B + 1: [(0, C - 2 * MIN_PAGES)]},
        [
            (2 * MIN_PAGES * PS, 2 * MIN_PAGES * PS),
            (MIN_PAGES * PS, MIN_PAGES * PS),
            (MIN_PAGES * PS, MIN_PAGES * PS),
        ],
        {B: [(0, C)], B + 1: [(0, C)]},
        id="ScavMultiple2",
    ),  # fmt: skip
    pytest.param(
        {B: [], B + 0xE: []},
        {B: [(MIN_PAGES, C - 2 * MIN_PAGES)], B + 0xE: [(2 * MIN_PAGES, C - 2 * MIN_PAGES)]},
        [
            (2 * MIN_PAGES * PS, 2 * MIN_PAGES * PS),
            (MAX_UINTPTR, 2 * MIN_PAGES * PS),
            (MAX_UINTPTR, 0),
        ],
        {B: [(0, C)], B + 0xE: [(0, C)]},
        id="ScavDiscontiguous",
    ),  # fmt: skip
    pytest.param(
        {B: [], B + 0x1000: []},
        {B: [], B + 0x1000: []},
        [(MAX_UINTPTR, 2 * C * PS), (MAX_UINTPTR, 0)],
        {B: [(0, C)], B + 0x1000: [(0, C)]},
        id="ScavAllVeryDiscontiguous",
    ),
]


@pytest.mark.parametrize(("before_alloc", "before_scav", "expect", "after_scav"), SCAVENGE_CASES)
def test_page_alloc_scavenge(
    before_alloc: Heap, before_scav: Heap, expect: list[tuple[int, int]], after_scav: Heap
) -> None:
    p = new_page_alloc(before_alloc, before_scav)
    for request, want in expect:
        assert p.scavenge(request, force=True) == want  # export_test.go forces it
        p.check_invariants()
    want_heap = new_page_alloc(before_alloc, after_scav)
    assert (p.start, p.end) == (want_heap.start, want_heap.end)
    assert chunk_bitmaps(p) == chunk_bitmaps(want_heap)


# -- TestScavengeIndex ------------------------------------------------------------------


def index_alloc_range(s: ScavengeIndex, base: int, limit: int) -> None:
    """export_test.go ScavengeIndex.AllocRange."""
    sc, ec = chunk_index(base), chunk_index(limit - 1)
    si, ei = chunk_page_index(base), chunk_page_index(limit - 1)
    if sc == ec:
        s.alloc(sc, ei + 1 - si)
        return
    s.alloc(sc, C - si)
    for c in range(sc + 1, ec):
        s.alloc(c, C)
    s.alloc(ec, ei + 1)


def index_free_range(s: ScavengeIndex, base: int, limit: int) -> None:
    """export_test.go ScavengeIndex.FreeRange."""
    sc, ec = chunk_index(base), chunk_index(limit - 1)
    si, ei = chunk_page_index(base), chunk_page_index(limit - 1)
    if sc == ec:
        s.free(sc, si, ei + 1 - si)
        return
    s.free(sc, si, C - si)
    for c in range(sc + 1, ec):
        s.free(c, 0, C)
    s.free(ec, 0, ei + 1)


class IndexHarness:
    """TestScavengeIndex's setup: 64 chunks, all dense last generation and empty."""

    def __init__(self, force: bool) -> None:
        self.force = force
        self.s = new_scavenge_index(B, B + 64)
        index_alloc_range(self.s, pb(B, 0), pb(B + 64, 0))
        self.s.next_gen()
        index_free_range(self.s, pb(B, 0), pb(B + 64, 0))
        for ci in range(B, B + 64):
            self.s.set_empty(ci)
        reset_search_addrs(self.s)

    def mark(self, base: int, limit: int) -> None:
        index_alloc_range(self.s, base, limit)
        index_free_range(self.s, base, limit)

    def find(self, ci: int, offset: int) -> None:
        assert self.s.find(self.force) == (ci, offset)
        self.s.set_empty(ci)

    def next_gen(self) -> None:
        self.s.next_gen()


def down(hi: int, lo: int) -> list[tuple[int, int]]:
    """find(i, PallocChunkPages-1) for i from hi down to lo."""
    return [(i, C - 1) for i in range(hi, lo - 1, -1)]


# (marks [(base, limit)], finds [(chunk, page offset)])
INDEX_CASES = [
    pytest.param([], [], id="Uninitialized"),
    pytest.param([(pb(B, 3), pb(B, 4))], [(B, 3)], id="OnePage"),
    pytest.param([(pb(B, 0), pb(B, 1))], [(B, 0)], id="FirstPage"),
    pytest.param([(pb(B, 9), pb(B, 14))], [(B, 13)], id="SeveralPages"),
    pytest.param([(pb(B, 0), pb(B + 1, 0))], [(B, C - 1)], id="WholeChunk"),
    pytest.param([(pb(B, C - 1), pb(B + 1, 0))], [(B, C - 1)], id="LastPage"),
    pytest.param([(pb(B, 128), pb(B + 1, 128))], [(B + 1, 127), (B, C - 1)], id="TwoChunks"),
    pytest.param(
        [(pb(B + 7, 128), pb(B + 8, 129))], [(B + 8, 128), (B + 7, C - 1)], id="TwoChunksOffset"
    ),
    pytest.param(
        [(pb(B + 6, 11), pb(B + 13, 15))], [(B + 13, 14), *down(B + 12, B + 6)],
        id="SevenChunksOffset",
    ),
    pytest.param([(pb(B, 0), pb(B + 32, 0))], down(B + 31, B), id="ThirtyTwoChunks"),
    pytest.param([(pb(B + 3, 0), pb(B + 35, 0))], down(B + 34, B + 3), id="ThirtyTwoChunksOffset"),
    pytest.param([(pb(i, 0), pb(i + 1, 0)) for i in range(B, B + 32)], down(B + 31, B), id="Mark"),
    pytest.param([(pb(B, 0), pb(B + 1, 0))] * 2, [(B, C - 1)], id="MarkIdempotentOneChunk"),
    pytest.param(
        [(pb(B, 0), pb(B + 32, 0))] * 2, down(B + 31, B), id="MarkIdempotentThirtyTwoChunks"
    ),
    pytest.param(
        [(pb(B + 4, 0), pb(B + 31, 0)), (pb(B + 5, 0), pb(B + 36, 0))],
        down(B + 35, B + 4),
        id="MarkIdempotentThirtyTwoChunksOffset",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("marks", "finds"), INDEX_CASES)
def test_scavenge_index_bg(marks: list[tuple[int, int]], finds: list[tuple[int, int]]) -> None:
    h = IndexHarness(force=False)
    for base, limit in marks:
        h.mark(base, limit)
    h.find(0, 0)  # nothing yet: the background waits a generation
    h.next_gen()
    for ci, offset in finds:
        h.find(ci, offset)
    h.find(0, 0)  # fully exhausted


@pytest.mark.parametrize(("marks", "finds"), INDEX_CASES)
def test_scavenge_index_force(marks: list[tuple[int, int]], finds: list[tuple[int, int]]) -> None:
    h = IndexHarness(force=True)
    for base, limit in marks:
        h.mark(base, limit)
    for ci, offset in finds:
        h.find(ci, offset)  # forced: found at once
    h.find(0, 0)


@pytest.mark.parametrize("force", [False, True], ids=["Bg", "Force"])
def test_scavenge_index_mark_interleaved(force: bool) -> None:
    h = IndexHarness(force)
    for i in range(B, B + 32):
        h.mark(pb(i, 0), pb(i + 1, 0))
        if not force:
            h.next_gen()
        h.find(i, C - 1)
    h.find(0, 0)


# -- TestScavChunkDataPack ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("gen", "in_use", "last_in_use", "flags"),
    [(1918237402, 512, 512, 0b11), ((1 << 32) - 1, 12, 0, 0b00)],
)
def test_scav_chunk_data_pack_round_trips(
    gen: int, in_use: int, last_in_use: int, flags: int
) -> None:
    sc = ScavChunkData(in_use=in_use, last_in_use=last_in_use, gen=gen, flags=flags)
    assert ScavChunkData.unpack(sc.pack()) == sc


# -- ours: the release contract, density, huge pages, a Go quirk ---------------------------


def test_release_is_called_once_per_run_highest_address_first() -> None:
    calls: list[tuple[int, int]] = []
    p = PageAlloc(release=lambda addr, n: calls.append((addr, n)))
    for ci in (B, B + 1):
        p.grow(pb(ci, 0), C * PS)
    a1, _ = p.alloc(C + 300)  # all of chunk B and 300 pages of B+1: scavenged as they come
    p.free(pb(B, 10), 20)  # two free, unscavenged runs
    p.free(pb(B + 1, 100), 5)
    assert p.scavenge(MAX_UINTPTR, force=True) == 25 * PS
    assert calls == [(pb(B + 1, 100), 5 * PS), (pb(B, 10), 20 * PS)]
    # Released pages are free again, and scavenged: allocating them reports it.
    assert p.alloc(20) == (pb(B, 10), 20 * PS)
    assert a1 == pb(B, 0)
    p.check_invariants()


def test_test_mode_releases_without_calling_back() -> None:
    calls: list[tuple[int, int]] = []
    p = PageAlloc(release=lambda addr, n: calls.append((addr, n)), test=True)
    p.grow(pb(B, 0), C * PS)
    p.alloc(10)
    p.free(pb(B, 0), 10)
    assert p.scavenge(MAX_UINTPTR, force=True) == 10 * PS
    assert calls == []


def test_one_page_request_releases_a_whole_huge_page() -> None:
    # A free, unscavenged chunk: taking one page from its top would break the
    # top 2 MiB huge page, so the whole huge page (256 pages) goes.
    calls: list[tuple[int, int]] = []
    p = PageAlloc(release=lambda addr, n: calls.append((addr, n)))
    p.grow(pb(B, 0), C * PS)
    p.alloc(C)
    p.free(pb(B, 0), C)
    assert p.scavenge(1, force=True) == PHYS_HUGE_PAGE_SIZE
    assert calls == [(pb(B, C - 256), 2 << 20)]


def test_background_scavenger_skips_dense_chunks() -> None:
    dense = SCAV_CHUNK_HI_OCC_PAGES  # 0.96875 * 512 = 496 pages in use
    assert dense == 496
    p = new_page_alloc({B: [(0, dense)], B + 1: [(0, dense - 1)]}, {B: [], B + 1: []})
    # The background cursor moves only at nextGen: nothing to do before one.
    assert p.scavenge(MAX_UINTPTR) == 0
    p.scav_index.next_gen()
    # B+1 (495 in use) qualifies: its 17 free pages go. B (496) is dense.
    assert p.scavenge(MAX_UINTPTR) == (C - dense + 1) * PS
    assert chunk_bitmaps(p)[B][1] == 0
    # Freeing 100 pages of B makes it sparse now, but it was dense when this
    # generation began (lastInUse = 496): still left alone.
    p.free(pb(B, 0), 100)
    assert p.scavenge(MAX_UINTPTR) == 0
    # One generation later only the current count matters: 16 + 100 pages go.
    p.scav_index.next_gen()
    assert p.scavenge(MAX_UINTPTR) == (C - dense + 100) * PS
    p.check_invariants()


def test_forced_scavenging_ignores_density() -> None:
    p = new_page_alloc({B: [(0, 500)]}, {B: []})
    assert p.scavenge(MAX_UINTPTR) == 0  # background: nothing before nextGen
    assert p.scavenge(MAX_UINTPTR, force=True) == 12 * PS


def test_a_background_pass_can_hide_pages_freed_above_its_cursor() -> None:
    # Found by our property test and kept, because Go does the same: the
    # background cursor (set by nextGen) sits at page 55; a page freed later
    # at 64 lies in the next 64-page word, which scavengeOne does not search;
    # finding nothing more, it marks the chunk empty, and even a forced
    # scavenge skips the chunk until the next free into it.
    p = PageAlloc(test=True)
    p.grow(pb(B, 0), 2 * C * PS)
    p.alloc(56)
    p.alloc(9)
    p.free(pb(B, 0), 56)
    p.scav_index.next_gen()
    p.free(pb(B, 56), 9)
    assert p.scavenge(100 * PS) == 64 * PS  # pages 0..63
    assert p.scavenge(MAX_UINTPTR, force=True) == 0  # page 64 stays unscavenged
    assert chunk_bitmaps(p)[B] == (0, ((1 << C) - 1) ^ (1 << 64))
    assert p.alloc(1) == (pb(B, 0), PS)
    p.free(pb(B, 0), 1)  # a free into the chunk makes it non-empty again
    assert p.scavenge(MAX_UINTPTR, force=True) == 2 * PS  # page 64 and page 0
