"""The TLB: fills, hits, FIFO eviction, Linux's flush ceiling, and stale-entry safety.

Linux flushes a range page by page up to tlb_single_page_flush_ceiling (33
pages) and the whole TLB beyond it (arch/x86/mm/tlb.c). Whatever was cached,
a PTE that was removed or lost its write bit must not be used afterwards.
"""

from __future__ import annotations

import pytest

from gomem.machine import (
    PROT_READ,
    PROT_WRITE,
    AddressSpace,
    MachineError,
    PhysicalMemory,
    SegmentationFault,
)
from gomem.machine.tlb import FLUSH_CEILING, TLB, PageAccess

PAGE = 4096
MEM = memoryview(bytearray(PAGE))


def filled(capacity: int, vpns: range | list[int], writable: bool = True) -> TLB:
    tlb = TLB(capacity)
    for v in vpns:
        tlb.fill(v, PageAccess(), MEM, writable)
    return tlb


@pytest.fixture
def mm() -> AddressSpace:
    return AddressSpace(PhysicalMemory(64 << 20))  # 64 MiB = 16384 frames


def test_flush_ceiling_is_linux_tlb_single_page_flush_ceiling() -> None:
    assert FLUSH_CEILING == 33


@pytest.mark.parametrize("capacity", [0, -1], ids=["zero", "negative"])
def test_capacity_below_one_is_rejected(capacity: int) -> None:
    with pytest.raises(ValueError):
        TLB(capacity)


def test_a_read_only_fill_serves_loads_but_not_stores() -> None:
    tlb = TLB(8)
    e = PageAccess()
    tlb.fill(5, e, MEM, writable=False)
    assert tlb.read[5] is e
    assert 5 not in tlb.write
    assert e.mem is MEM
    assert tlb.misses == 1


def test_a_writable_fill_serves_both_loads_and_stores() -> None:
    tlb = filled(8, [5], writable=True)
    assert 5 in tlb.read
    assert 5 in tlb.write


def test_refilling_read_only_withdraws_write_permission() -> None:
    tlb = filled(8, [5], writable=True)
    tlb.fill(5, tlb.read[5], MEM, writable=False)
    assert 5 in tlb.read
    assert 5 not in tlb.write
    assert tlb.misses == 2


def test_fill_at_capacity_evicts_the_oldest_fill_first() -> None:
    tlb = filled(3, [10, 11, 12])
    tlb.fill(13, PageAccess(), MEM, True)
    assert list(tlb.read) == [11, 12, 13]
    assert 10 not in tlb.write
    tlb.fill(14, PageAccess(), MEM, False)
    assert list(tlb.read) == [12, 13, 14]
    assert len(tlb.read) == 3
    tlb.check_invariants()


def test_refilling_a_cached_page_at_capacity_evicts_nothing() -> None:
    tlb = filled(3, [10, 11, 12])
    tlb.fill(11, tlb.read[11], MEM, False)
    assert set(tlb.read) == {10, 11, 12}


@pytest.mark.parametrize(
    ("npages", "page_flushes", "full_flushes", "left"),
    [
        (1, 1, 0, 39),
        (32, 32, 0, 8),
        (33, 33, 0, 7),  # exactly the ceiling: still page by page
        (34, 0, 1, 0),  # one more: the whole TLB goes
        (40, 0, 1, 0),
    ],
    ids=["1", "32", "33-ceiling", "34-full", "40-full"],
)
def test_flush_range_goes_page_by_page_up_to_33_pages_then_flushes_all(
    npages: int, page_flushes: int, full_flushes: int, left: int
) -> None:
    tlb = filled(64, range(40))
    tlb.flush_range(0, npages)
    assert (tlb.page_flushes, tlb.full_flushes, len(tlb.read)) == (page_flushes, full_flushes, left)
    assert set(tlb.write) == set(tlb.read)
    assert all(v >= npages for v in tlb.read)


def test_flush_all_empties_both_maps() -> None:
    tlb = filled(8, range(5))
    tlb.flush_all()
    assert (len(tlb.read), len(tlb.write), tlb.full_flushes) == (0, 0, 1)


def test_write_entries_are_a_subset_of_read_entries_after_mixed_fills() -> None:
    tlb = TLB(4)
    for i in range(50):
        tlb.fill(i % 7, PageAccess(), MEM, writable=bool(i % 3))
        if i % 11 == 0:
            tlb.flush_range(i % 7, i % 7 + 2)
        assert tlb.write.keys() <= tlb.read.keys()
        tlb.check_invariants()


def test_invariants_catch_a_writable_entry_without_a_readable_one() -> None:
    tlb = filled(4, [1])
    del tlb.read[1]
    with pytest.raises(MachineError):
        tlb.check_invariants()


# -- through the address space ---------------------------------------------


def test_a_store_after_munmap_faults_although_the_page_was_cached(mm: AddressSpace) -> None:
    a = mm.mmap(PAGE)
    mm.store64(a, 7)
    assert a >> 12 in mm.tlb.write  # cached and writable
    mm.munmap(a, PAGE)
    assert a >> 12 not in mm.tlb.read
    with pytest.raises(SegmentationFault) as exc:
        mm.store64(a, 8)
    assert exc.value.reason == "SEGV_MAPERR"
    with pytest.raises(SegmentationFault):
        mm.load64(a)


def test_a_store_after_mprotect_read_is_refused_although_just_written(mm: AddressSpace) -> None:
    a = mm.mmap(PAGE)
    mm.store64(a, 0x1122)
    mm.mprotect(a, PAGE, PROT_READ)
    with pytest.raises(SegmentationFault) as exc:
        mm.store64(a, 0x3344)
    assert exc.value.reason == "SEGV_ACCERR"
    assert exc.value.va == a
    assert mm.load64(a) == 0x1122  # loads still work and see the old data
    mm.check_invariants()


def test_a_store_works_again_after_mprotect_back_to_read_write(mm: AddressSpace) -> None:
    a = mm.mmap(PAGE)
    mm.store64(a, 1)
    mm.mprotect(a, PAGE, PROT_READ)
    mm.load64(a)
    mm.mprotect(a, PAGE, PROT_READ | PROT_WRITE)
    mm.store64(a, 2)
    assert mm.load64(a) == 2


def test_madvise_dontneed_flushes_the_cached_frame(mm: AddressSpace) -> None:
    from gomem.machine import MADV_DONTNEED

    a = mm.mmap(PAGE)
    mm.store64(a, 0xDEAD)
    mm.madvise(a, PAGE, MADV_DONTNEED)
    assert mm.load64(a) == 0  # not the old frame's bytes through a stale entry


def test_tlb_hits_and_misses_for_a_hand_counted_sequence(mm: AddressSpace) -> None:
    a = mm.mmap(2 * PAGE)
    b = a + PAGE
    mm.store64(a, 1)  # miss: fault, fill writable
    mm.store64(a + 8, 2)  # hit (write map)
    mm.load64(a)  # hit (read map)
    mm.load64(b)  # miss: zero page, fill read-only
    mm.load64(b + 8)  # hit
    mm.store64(b, 3)  # miss: not in the write map, COW fault
    mm.load64(b)  # hit
    # 7 accesses: 3 misses, 4 hits.
    s = mm.statistics()
    assert (s.tlb_misses, s.tlb_hits) == (3, 4)


def test_a_tiny_tlb_misses_again_on_a_page_it_evicted() -> None:
    mm = AddressSpace(PhysicalMemory(64 << 20), tlb_entries=2)
    a = mm.mmap(3 * PAGE)
    for i in range(3):  # 3 misses; page 0 is evicted by page 2
        mm.store64(a + i * PAGE, i)
    mm.load64(a + 2 * PAGE)  # hit: still cached
    mm.load64(a)  # miss: evicted
    s = mm.statistics()
    assert (s.tlb_misses, s.tlb_hits) == (4, 1)
    assert len(mm.tlb.read) == 2


@pytest.mark.parametrize(
    ("npages", "page_flushes", "full_flushes"),
    [(33, 33, 0), (34, 0, 1)],
    ids=["33-pages-one-by-one", "34-pages-whole-tlb"],
)
def test_munmap_flushes_by_page_or_whole_around_the_ceiling(
    mm: AddressSpace, npages: int, page_flushes: int, full_flushes: int
) -> None:
    a = mm.mmap(npages * PAGE)
    mm.touch(a, npages * PAGE, write=True)
    mm.munmap(a, npages * PAGE)
    assert (mm.tlb.page_flushes, mm.tlb.full_flushes) == (page_flushes, full_flushes)
    assert not mm.tlb.read
