"""Four-level x86-64 page tables: index split, table pages per level, zap, free, walk.

Index arithmetic is written out from the x86-64 layout: bits 47..39 index
the PML4, 38..30 the PDPT, 29..21 the PD, 20..12 the PT, 11..0 are the offset.
One PT entry maps 4 KiB, one PD entry 2 MiB, one PDPT entry 1 GiB and one
PML4 entry 512 GiB.
"""

from __future__ import annotations

import pytest

from gomem.machine import PhysicalMemory
from gomem.machine.pagetable import (
    PTE_ACCESSED,
    PTE_DIRTY,
    PTE_PRESENT,
    PTE_PROTNONE,
    PTE_USER,
    PTE_WRITABLE,
    TABLE_ENTRY_FLAGS,
    PageTable,
    describe_entry,
    is_canonical,
    pte_pfn,
)

ALL_VPNS = 1 << 36  # every vpn of a 48-bit address space: no floor or ceiling

LEAF = PTE_PRESENT | PTE_WRITABLE | PTE_USER | PTE_ACCESSED | PTE_DIRTY
KIB4, MIB2, GIB1, GIB512 = 1 << 12, 1 << 21, 1 << 30, 1 << 39


def leaf(pfn: int) -> int:
    return (pfn << 12) | LEAF


@pytest.fixture
def physmem() -> PhysicalMemory:
    return PhysicalMemory(64 << 20)  # 64 MiB = 16384 frames


@pytest.fixture
def pt(physmem: PhysicalMemory) -> PageTable:
    return PageTable(physmem)


def test_index_split_of_an_address_follows_the_x86_64_bit_fields(pt: PageTable) -> None:
    va = 0x7F0000001234
    # 0x7f0000001234 = 0x7f << 40 | 0x1 << 12 | 0x234
    #   PML4 = va >> 39 & 511 = (0x7f << 40) >> 39 = 0x7f * 2 = 254
    #   PDPT = va >> 30 & 511 = 0   (no bits set in 38..30)
    #   PD   = va >> 21 & 511 = 0   (no bits set in 29..21)
    #   PT   = va >> 12 & 511 = 1
    #   offset = va & 0xfff = 0x234
    pt.set(va >> 12, leaf(0x42))
    steps = pt.walk(va)
    assert [(s.level, s.index) for s in steps] == [("PML4", 254), ("PDPT", 0), ("PD", 0), ("PT", 1)]
    assert steps[-1].entry == leaf(0x42)
    assert va & 0xFFF == 0x234


@pytest.mark.parametrize(
    ("va", "indexes"),
    [
        (0x0, (0, 0, 0, 0)),
        (0x400000, (0, 0, 2, 0)),  # 4 MiB = 2 * 2 MiB
        (0x7FFFFFFFF000, (255, 511, 511, 511)),  # top user page: all ones below bit 47
        (GIB512 + GIB1 + MIB2 + KIB4, (1, 1, 1, 1)),
        (0x7FFFF7FFF000, (255, 511, 447, 511)),  # 0x7ffff7fff000: bits 29..21 = 0x1bf = 447
    ],
    ids=["zero", "0x400000", "top-user-page", "one-of-each", "mmap-base"],
)
def test_walk_reports_the_nine_bit_index_of_every_level(
    pt: PageTable, va: int, indexes: tuple[int, int, int, int]
) -> None:
    pt.set(va >> 12, leaf(7))
    assert tuple(s.index for s in pt.walk(va)) == indexes


def test_a_new_page_table_holds_only_the_pml4(pt: PageTable, physmem: PhysicalMemory) -> None:
    assert pt.table_pages == [1, 0, 0, 0]
    assert pt.nr_pgtable_pages == 0  # VmPTE does not count the PML4
    assert physmem.used_frames == 1


def test_first_mapping_creates_a_pdpt_a_pd_and_a_pt(pt: PageTable, physmem: PhysicalMemory) -> None:
    pt.set(0x7F0000001234 >> 12, leaf(0x42))
    assert pt.table_pages == [1, 1, 1, 1]
    assert pt.nr_pgtable_pages == 3
    assert physmem.used_frames == 4  # PML4 + PDPT + PD + PT


@pytest.mark.parametrize(
    ("second_va", "new_tables"),
    [
        (0x10000000 + KIB4, 0),  # same PT
        (0x10000000 + MIB2, 1),  # next PD entry: a new PT
        (0x10000000 + GIB1, 2),  # next PDPT entry: a new PD and PT
        (0x10000000 + GIB512, 3),  # next PML4 entry: PDPT, PD and PT
    ],
    ids=["same-pt", "next-2MiB", "next-1GiB", "next-512GiB"],
)
def test_second_mapping_adds_tables_only_where_the_walk_diverges(
    pt: PageTable, physmem: PhysicalMemory, second_va: int, new_tables: int
) -> None:
    pt.set(0x10000000 >> 12, leaf(1))
    before = physmem.used_frames
    pt.set(second_va >> 12, leaf(2))
    assert physmem.used_frames - before == new_tables
    assert pt.nr_pgtable_pages == 3 + new_tables


def test_set_returns_the_old_entry_and_lookup_sees_the_new_one(pt: PageTable) -> None:
    vpn = 0x12345
    assert pt.lookup(vpn) == 0
    assert pt.set(vpn, leaf(5)) == 0
    assert pt.lookup(vpn) == leaf(5)
    assert pt.set(vpn, leaf(6)) == leaf(5)
    assert pt.lookup(vpn) == leaf(6)
    assert pte_pfn(pt.lookup(vpn)) == 6


def test_clearing_an_entry_that_was_never_set_allocates_no_tables(
    pt: PageTable, physmem: PhysicalMemory
) -> None:
    assert pt.set(0x7F0000000, 0) == 0
    assert pt.table_pages == [1, 0, 0, 0]
    assert physmem.used_frames == 1


def test_non_leaf_entries_carry_linux_page_table_flags(pt: PageTable) -> None:
    pt.set(0x1000, leaf(9))
    # _PAGE_TABLE = P | RW | US | A | D on every level above the PT.
    for step in pt.walk(0x1000 << 12)[:-1]:
        assert step.entry >> 52 == 0  # nothing above bit 51
        assert step.entry & 0xFFF == TABLE_ENTRY_FLAGS


def test_zap_clears_leaf_entries_and_returns_them_but_keeps_the_tables(
    pt: PageTable, physmem: PhysicalMemory
) -> None:
    base = 0x20000000 >> 12
    for i in range(3):
        pt.set(base + i, leaf(100 + i))
    zapped = pt.zap(base, base + 10)
    assert zapped == [(base, leaf(100)), (base + 1, leaf(101)), (base + 2, leaf(102))]
    assert all(pt.lookup(base + i) == 0 for i in range(3))
    assert pt.table_pages == [1, 1, 1, 1]
    assert physmem.used_frames == 4
    pt.check_invariants()


def test_zap_only_touches_the_requested_range(pt: PageTable) -> None:
    base = 0x20000000 >> 12
    for i in range(4):
        pt.set(base + i, leaf(10 + i))
    assert [vpn for vpn, _ in pt.zap(base + 1, base + 3)] == [base + 1, base + 2]
    assert pt.lookup(base) == leaf(10)
    assert pt.lookup(base + 3) == leaf(13)


@pytest.mark.parametrize(
    ("levels", "tables_after", "frames_freed"),
    [
        (1, [1, 1, 1, 0], 1),  # only the PT: what PT reclaim after MADV_DONTNEED does
        (3, [1, 0, 0, 0], 3),  # PT, PD and PDPT: munmap's free_pgtables
    ],
    ids=["levels=1", "levels=3"],
)
def test_free_empty_tables_frees_down_to_the_requested_level(
    pt: PageTable, physmem: PhysicalMemory, levels: int, tables_after: list[int], frames_freed: int
) -> None:
    vpn = 0x7F0000001
    pt.set(vpn, leaf(3))
    pt.zap(vpn, vpn + 1)
    assert pt.free_empty_tables(vpn, vpn + 1, levels, 0, ALL_VPNS) == frames_freed
    assert pt.table_pages == tables_after
    assert physmem.used_frames == 4 - frames_freed
    pt.check_invariants()


def test_free_empty_tables_keeps_tables_that_still_hold_entries(pt: PageTable) -> None:
    a, b = 0x20000000 >> 12, (0x20000000 + MIB2) >> 12  # two PTs under one PD
    pt.set(a, leaf(1))
    pt.set(b, leaf(2))
    pt.zap(a, a + 1)
    # Only a's PT is empty; the PD and PDPT still lead to b.
    assert pt.free_empty_tables(0, 1 << 35, 3, 0, ALL_VPNS) == 1
    assert pt.table_pages == [1, 1, 1, 1]
    assert pt.lookup(b) == leaf(2)
    pt.check_invariants()


def test_free_empty_tables_keeps_tables_that_reach_outside_floor_and_ceiling(pt: PageTable) -> None:
    # One PT maps 512 pages (2 MiB). Zap page 5 of the PT covering vpns 0..511: with the
    # bounds [0, 512) the PT lies wholly inside and goes; with [0, 256) it reaches past
    # the ceiling (it could serve another VMA there), so it stays.
    pt.set(5, leaf(1))
    pt.zap(5, 6)
    assert pt.free_empty_tables(5, 6, 1, 0, 256) == 0
    assert pt.table_pages == [1, 1, 1, 1]
    assert pt.free_empty_tables(5, 6, 1, 0, 512) == 1
    assert pt.table_pages == [1, 1, 1, 0]
    pt.check_invariants()


def test_free_empty_tables_of_an_empty_range_frees_nothing(pt: PageTable) -> None:
    pt.set(5, leaf(1))
    pt.zap(5, 6)
    assert pt.free_empty_tables(6, 6, 3, 0, ALL_VPNS) == 0
    assert pt.table_pages == [1, 1, 1, 1]


def test_present_in_finds_sparse_entries_in_address_order(pt: PageTable) -> None:
    vpns = [
        0x10,  # PML4 0
        (0x7F0000001234 >> 12),  # PML4 254
        (GIB512 >> 12) + 7,  # PML4 1
        (0x10 + (MIB2 >> 12)),  # PML4 0, second PT
    ]
    for i, v in enumerate(vpns):
        pt.set(v, leaf(i + 1))
    found = list(pt.present_in(0, 1 << 35))  # the whole 47-bit user space: 2^35 pages
    assert [v for v, _ in found] == sorted(vpns)
    assert {v: e for v, e in found} == {v: leaf(i + 1) for i, v in enumerate(vpns)}


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0, 100, [3, 50]),
        (4, 50, []),  # both bounds exclusive of 3 and 50
        (50, 51, [50]),
        (3, 3, []),  # empty range
        (600, 1 << 20, [600]),  # starts inside the second PT
    ],
    ids=["all-of-first-pt", "between", "single", "empty", "second-pt"],
)
def test_present_in_is_half_open(pt: PageTable, lo: int, hi: int, expected: list[int]) -> None:
    for v in (3, 50, 600):
        pt.set(v, leaf(v))
    assert [v for v, _ in pt.present_in(lo, hi)] == expected


def test_walk_of_an_empty_table_stops_at_the_pml4(pt: PageTable) -> None:
    steps = pt.walk(0x7F0000001234)
    assert [(s.level, s.index, s.entry) for s in steps] == [("PML4", 254, 0)]
    assert steps[0].table_pfn == pt.root.pfn


def test_walk_stops_at_the_first_missing_level(pt: PageTable) -> None:
    pt.set(0x10000000 >> 12, leaf(1))  # PML4 0, PDPT 0, PD 128
    steps = pt.walk(0x10000000 + GIB1)  # same PML4 entry, PDPT index 1 is missing
    assert [s.level for s in steps] == ["PML4", "PDPT"]
    assert steps[0].entry != 0
    assert steps[1].entry == 0
    # Each step reads the table the previous entry points to.
    assert steps[1].table_pfn == pte_pfn(steps[0].entry)


def test_walk_of_a_mapped_page_reads_four_tables_that_chain(pt: PageTable) -> None:
    pt.set(0x400000 >> 12, leaf(0x77))
    steps = pt.walk(0x400123)
    assert len(steps) == 4
    for parent, child in zip(steps, steps[1:], strict=False):
        assert child.table_pfn == pte_pfn(parent.entry)
    assert pte_pfn(steps[-1].entry) == 0x77


@pytest.mark.parametrize(
    ("entry", "text"),
    [
        (0, "none"),
        ((0x1234 << 12) | LEAF, "P RW US A D pfn=0x1234"),
        (PTE_PRESENT | PTE_USER | PTE_ACCESSED, "P US A pfn=0x0"),  # the zero page, read-only
        ((0x99 << 12) | PTE_USER | PTE_ACCESSED | PTE_PROTNONE, "US A PROTNONE pfn=0x99"),
        (5 << 12, "- pfn=0x5"),
    ],
    ids=["empty", "fresh-anon-page", "zero-page-map", "prot-none", "no-flags"],
)
def test_describe_entry_names_flags_and_pfn(entry: int, text: str) -> None:
    assert describe_entry(entry) == text


@pytest.mark.parametrize(
    ("va", "canonical"),
    [
        (0, True),
        (0x7FFFFFFFFFFF, True),  # last byte of the lower half: bit 47 clear
        (0x800000000000, False),  # bit 47 set, bits 63..48 clear
        (0xFFFF7FFFFFFFFFFF, False),  # bits 63..48 set, bit 47 clear
        (0xFFFF800000000000, True),  # first byte of the upper (kernel) half
        (0xFFFFFFFFFFFFFFFF, True),
        (0x0000FFFFFFFFFFFF, False),
    ],
    ids=[
        "zero",
        "top-of-lower-half",
        "just-above-lower-half",
        "just-below-upper-half",
        "bottom-of-upper-half",
        "all-ones",
        "48-bit-all-ones",
    ],
)
def test_is_canonical_requires_bits_63_to_47_equal(va: int, canonical: bool) -> None:
    assert is_canonical(va) is canonical


def test_release_all_gives_every_table_frame_back(pt: PageTable, physmem: PhysicalMemory) -> None:
    for v in (1, 1 << 9, 1 << 18, 1 << 27):  # one new table chain per level boundary
        pt.set(v, leaf(1))
    assert physmem.used_frames > 1
    pt.release_all()
    assert physmem.used_frames == 0
    assert pt.table_pages == [0, 0, 0, 0]


def test_invariants_hold_after_mixed_set_zap_free(pt: PageTable) -> None:
    vpns = [i * 97 + (i % 5) * (1 << 18) for i in range(60)]
    for i, v in enumerate(vpns):
        pt.set(v, leaf(i + 1))
        pt.check_invariants()
    pt.zap(0, 1 << 19)
    pt.check_invariants()
    pt.free_empty_tables(0, 1 << 35, 1, 0, ALL_VPNS)
    pt.check_invariants()
    pt.free_empty_tables(0, 1 << 35, 3, 0, ALL_VPNS)
    pt.check_invariants()
    remaining = list(pt.present_in(0, 1 << 35))
    assert [v for v, _ in remaining] == sorted(v for v in vpns if v >= 1 << 19)
