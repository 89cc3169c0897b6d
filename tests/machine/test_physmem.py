"""Physical memory: frame allocation, LIFO reuse, the shared zero page, lazy materialisation.

Expected figures are hand-computed from the page size (4 KiB = 4096 bytes)
and the allocator's documented contract: pfn 0 is the zero page, other frames
come from a bump pointer plus a last-in first-out free list.
"""

from __future__ import annotations

import pytest

from gomem.machine import MachineError, PhysicalMemory
from gomem.machine.physmem import PAGE_SIZE, ZERO_PAGE, ZERO_PFN, NoFreeFrames


def test_page_size_is_4_kib() -> None:
    assert PAGE_SIZE == 4096


@pytest.mark.parametrize(
    ("nbytes", "frames"),
    [
        (8192, 2),  # the minimum: zero page + one frame
        (1 << 20, 256),  # 1 MiB / 4 KiB = 256
        (16 << 30, 4_194_304),  # 16 GiB / 4 KiB = 4 Mi frames
        (64 << 30, 16_777_216),  # 64 GiB / 4 KiB = 16 Mi frames
    ],
    ids=["8KiB", "1MiB", "16GiB", "64GiB"],
)
def test_total_frames_is_bytes_over_page_size(nbytes: int, frames: int) -> None:
    assert PhysicalMemory(nbytes).total_frames == frames


@pytest.mark.parametrize(
    "nbytes",
    [0, 4096, 8193, 3 * 4096 + 1, -8192],
    ids=["zero", "one-page", "unaligned-8193", "unaligned-3pages+1", "negative"],
)
def test_sizes_below_two_pages_or_unaligned_are_rejected(nbytes: int) -> None:
    with pytest.raises(ValueError):
        PhysicalMemory(nbytes)


def test_a_64_gib_machine_costs_nothing_until_frames_are_written() -> None:
    pm = PhysicalMemory(64 << 30)
    s = pm.statistics()
    assert (s.total_frames, s.used_frames, s.materialised_frames) == (16_777_216, 0, 0)
    pfn = pm.alloc()
    # Allocated but never written: used, not materialised, reads as zeroes.
    assert pm.statistics().used_frames == 1
    assert pm.statistics().materialised_frames == 0
    assert bytes(pm.read_view(pfn)) == bytes(PAGE_SIZE)
    pm.frame(pfn)[0] = 0xAB
    assert pm.statistics().materialised_frames == 1
    assert pm.read_view(pfn)[0] == 0xAB


def test_first_frames_come_from_the_bump_pointer_starting_at_pfn_1() -> None:
    pm = PhysicalMemory(1 << 20)
    assert [pm.alloc() for _ in range(4)] == [1, 2, 3, 4]


def test_freed_frames_are_reused_last_in_first_out_before_fresh_ones() -> None:
    pm = PhysicalMemory(1 << 20)
    a, b, c = pm.alloc(), pm.alloc(), pm.alloc()  # 1, 2, 3
    pm.free(a)
    pm.free(c)
    # LIFO: c (freed last) first, then a, then the bump pointer's next pfn 4.
    assert [pm.alloc(), pm.alloc(), pm.alloc()] == [c, a, 4]
    assert b == 2


def test_a_freed_and_reused_frame_reads_as_zeroes_again() -> None:
    pm = PhysicalMemory(1 << 20)
    pfn = pm.alloc()
    pm.frame(pfn)[:4] = b"dirt"
    pm.free(pfn)
    assert pm.statistics().materialised_frames == 0
    again = pm.alloc()
    assert again == pfn
    assert bytes(pm.read_view(again)) == bytes(PAGE_SIZE)
    assert bytes(pm.frame(again)[:4]) == b"\0\0\0\0"


def test_used_and_free_frames_add_up_to_total_minus_the_zero_page() -> None:
    pm = PhysicalMemory(40 * PAGE_SIZE)  # 40 frames, 39 allocatable
    pfns = [pm.alloc() for _ in range(10)]
    for p in pfns[:4]:
        pm.free(p)
    assert pm.used_frames == 6
    assert pm.free_frames == 39 - 6


def test_the_zero_page_is_never_handed_out() -> None:
    pm = PhysicalMemory(5 * PAGE_SIZE)  # pfn 0 + four allocatable frames
    pfns = [pm.alloc() for _ in range(4)]
    assert ZERO_PFN not in pfns
    assert sorted(pfns) == [1, 2, 3, 4]


def test_allocating_past_the_last_frame_raises_no_free_frames() -> None:
    pm = PhysicalMemory(3 * PAGE_SIZE)  # two allocatable frames
    pm.alloc()
    pm.alloc()
    with pytest.raises(NoFreeFrames):
        pm.alloc()


def test_an_exhausted_allocator_asks_its_reclaimers_and_uses_what_they_free() -> None:
    pm = PhysicalMemory(3 * PAGE_SIZE)
    a, _ = pm.alloc(), pm.alloc()
    asked: list[int] = []

    def reclaim(wanted: int) -> int:
        asked.append(wanted)
        pm.free(a)
        return 1

    pm.reclaimers.append(reclaim)
    assert pm.alloc() == a
    assert asked == [1]


def test_a_reclaimer_that_frees_nothing_still_ends_in_no_free_frames() -> None:
    pm = PhysicalMemory(2 * PAGE_SIZE)
    pm.alloc()
    pm.reclaimers.append(lambda wanted: 0)
    with pytest.raises(NoFreeFrames):
        pm.alloc()


def test_the_zero_page_is_read_only() -> None:
    pm = PhysicalMemory(1 << 20)
    with pytest.raises(MachineError):
        pm.frame(ZERO_PFN)
    assert ZERO_PAGE.readonly
    with pytest.raises(TypeError):
        ZERO_PAGE[0] = 1  # type: ignore[index]
    assert bytes(pm.read_view(ZERO_PFN)) == bytes(PAGE_SIZE)


@pytest.mark.parametrize(
    "pfn",
    [ZERO_PFN, 7, -1],
    ids=["zero-page", "never-allocated", "negative"],
)
def test_freeing_a_frame_that_was_never_handed_out_is_an_error(pfn: int) -> None:
    pm = PhysicalMemory(1 << 20)
    pm.alloc()  # pfn 1 is the only frame handed out
    with pytest.raises(MachineError):
        pm.free(pfn)


def test_invariants_hold_through_alloc_write_free_cycles() -> None:
    pm = PhysicalMemory(128 * PAGE_SIZE)  # at most ~67 frames are live at once
    live: list[int] = []
    for i in range(200):
        if i % 3 == 2 and live:
            pm.free(live.pop(i % len(live)))
        else:
            pfn = pm.alloc()
            if i % 2:
                pm.frame(pfn)[0] = i & 0xFF
            live.append(pfn)
        pm.check_invariants()
    assert pm.used_frames == len(live)
    assert len(set(live)) == len(live)


def test_invariants_catch_a_frame_freed_twice() -> None:
    pm = PhysicalMemory(1 << 20)
    pfn = pm.alloc()
    pm.free(pfn)
    pm.free(pfn)  # free() itself does not look; the invariant check must
    with pytest.raises(MachineError, match="free twice"):
        pm.check_invariants()
