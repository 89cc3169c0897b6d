"""Internal state that the public API does not show, reached through gomem.testing."""

from __future__ import annotations

import pytest

from gomem import testing
from gomem.machine import MADV_DONTNEED, PROT_NONE, Machine, PhysicalMemory

PAGE = 4096


def test_freed_frames_wait_on_a_lifo_list_without_their_bytes() -> None:
    pm = PhysicalMemory(64 * PAGE)
    a, b = pm.alloc(), pm.alloc()
    pm.frame(a)[0] = 1  # materialise a
    assert testing.materialised_pfns(pm) == {a}
    pm.free(a)
    pm.free(b)
    assert testing.free_list(pm) == [a, b]  # b was freed last, so it is reused first
    assert testing.materialised_pfns(pm) == set()  # a freed frame keeps no bytes
    assert pm.alloc() == b


def test_rss_recounted_from_the_page_tables_matches_the_counter() -> None:
    p = Machine().spawn("t")
    a = p.mmap(64 * PAGE)
    p.touch(a, 32 * PAGE)  # zero-page maps: not RSS
    p.touch(a + 16 * PAGE, 32 * PAGE, write=True)  # 16 COW + 16 fresh frames
    p.madvise(a + 40 * PAGE, 4 * PAGE, MADV_DONTNEED)  # drops 4 of them
    p.mprotect(a + 20 * PAGE, 4 * PAGE, PROT_NONE)  # keeps its 4 frames
    # Frames: 32 written - 4 dropped = 28, plus the stack's argument page = 29.
    assert testing.recount_rss_pages(p.mm) == p.mm.rss_pages == 29
    # Present pages: 48 touched - 4 dropped - 4 PROT_NONE (P cleared) + 1 stack page = 41.
    assert len(testing.present_vpns(p.mm)) == 41


def test_page_table_pages_are_the_frames_the_counters_claim() -> None:
    p = Machine().spawn("t")
    a = p.mmap(4 << 20)  # 2 MiB-aligned, so exactly two PT pages once both halves are touched
    p.touch(a, 4 << 20, write=True)
    tables = testing.page_table_pages(p.mm)
    by_level = [sum(1 for t in tables.values() if t.level == lv) for lv in range(4)]
    assert by_level == p.mm.pt.table_pages
    # The stack's PT plus the two new ones share one PD, one PDPT and the PML4.
    assert by_level == [1, 1, 1, 3]


def test_bound_reads_stops_a_runaway_loop_after_the_limit() -> None:
    p = Machine().spawn("t")
    a = p.mmap(PAGE)
    testing.bound_reads(p, ("load32", "load64"), 3)
    p.load32(a), p.load64(a), p.load32(a)  # three reads are allowed, shared by both
    with pytest.raises(testing.Runaway):
        p.load64(a)
