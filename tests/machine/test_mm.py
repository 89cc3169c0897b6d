"""A process's address space: demand paging, the memory system calls and their errors.

Every expected figure is a Linux fact or a hand calculation in a comment:
one page is 4 KiB = 4 kB in /proc/<pid>/status; a first read maps the shared
zero page (one minor fault, no RSS); a first write allocates a frame (+4 kB);
a write to a zero-page mapping copies on write (+1 fault, +4 kB). Error
numbers are the ones mmap(2), munmap(2), mprotect(2) and madvise(2) document.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from errno import EEXIST, EINVAL, ENOMEM, EPERM

import pytest

from gomem.machine import (
    MADV_DONTNEED,
    MADV_FREE,
    MADV_HUGEPAGE,
    MADV_NOHUGEPAGE,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_NORESERVE,
    MAP_PRIVATE,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    TASK_SIZE,
    AddressSpace,
    ExecutableImage,
    Machine,
    MachineError,
    OutOfMemoryKill,
    PhysicalMemory,
    Process,
    SegmentationFault,
    SyscallError,
)
from gomem.machine.vma import VM_HUGEPAGE, VM_NOHUGEPAGE

PAGE = 4096
KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
FIXED = ANON | MAP_FIXED
W = 0x10000000  # a 2 MiB-aligned spot far from everything, for MAP_FIXED tests

# An executable with round sizes, so the layout can be computed by hand:
#   text   0x400000-0x500000 r-xp  1 MiB   = 256 pages = 1024 kB
#   rodata 0x500000-0x580000 r--p  512 KiB = 128 pages =  512 kB
#   data   0x580000-0x590000 rw-p  64 KiB  =  16 pages =   64 kB
#   bss    0x590000-0x5b0000 rw-p  128 KiB =  32 pages =  128 kB
#   start_brk = 0x5b0000
IMAGE = ExecutableImage(
    path="/opt/test/app",
    text_bytes=0x100000,
    rodata_bytes=0x80000,
    data_bytes=0x10000,
    bss_bytes=0x20000,
)
START_BRK = 0x5B0000
STACK_TOP = 0x7FFFFFFFF000  # TASK_SIZE with ASLR off
STACK_LO = STACK_TOP - 132 * KiB  # 0x7ffffffde000


def maps_lines(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, perms, name) of each maps line, parsed here, not by procfs."""
    out = []
    for line in text.splitlines():
        fields = line.split(maxsplit=5)
        lo, hi = fields[0].split("-")
        out.append((int(lo, 16), int(hi, 16), fields[1], fields[5] if len(fields) > 5 else ""))
    return out


def lines_in(mm: AddressSpace, lo: int, hi: int) -> list[tuple[int, int, str]]:
    """Maps lines (start, end, perms) that intersect [lo, hi)."""
    return [(s, e, p) for s, e, p, _ in maps_lines(mm.maps_text()) if s < hi and e > lo]


def rss_kb(mm: AddressSpace) -> int:
    return mm.statistics().rss_anon_kb


def faults(mm: AddressSpace) -> int:
    return mm.statistics().minor_faults


@pytest.fixture
def mm() -> AddressSpace:
    # 16 GiB of RAM = 4194304 frames; nothing is charged until written.
    return AddressSpace(PhysicalMemory(16 * GiB), pid=4242, comm="tester")


@pytest.fixture
def proc() -> Process:
    return Machine(16 * GiB).spawn("app", IMAGE)


# ==========================================================================
# Demand paging
# ==========================================================================


def test_mmap_grows_vm_size_but_not_rss(mm: AddressSpace) -> None:
    mm.mmap(64 * MiB)
    s = mm.statistics()
    # 64 MiB = 16384 pages = 65536 kB of VmSize; nothing touched, so no RSS, no fault.
    assert (s.vm_size_kb, s.vm_rss_kb, s.rss_anon_kb, s.minor_faults) == (65536, 0, 0, 0)
    assert mm.physmem.used_frames == 1  # only the PML4 allocated by the address space


def test_first_read_maps_the_zero_page_without_rss(mm: AddressSpace) -> None:
    a = mm.mmap(PAGE)
    assert mm.translate(a) is None  # nothing mapped before the first access
    assert mm.load64(a + 0x120) == 0
    assert faults(mm) == 1
    assert rss_kb(mm) == 0
    phys = mm.translate(a + 0x123)
    assert phys is not None
    assert phys >> 12 == 0  # frame 0: the shared zero page
    assert phys & 0xFFF == 0x123  # the page offset survives translation


def test_first_write_allocates_a_frame_and_adds_4_kb(mm: AddressSpace) -> None:
    a = mm.mmap(PAGE)
    mm.store64(a, 0xFEED)
    assert (faults(mm), rss_kb(mm)) == (1, 4)
    phys = mm.translate(a)
    assert phys is not None and phys >> 12 != 0
    assert mm.load64(a) == 0xFEED


def test_write_after_read_copies_on_write_from_the_zero_page(mm: AddressSpace) -> None:
    a = mm.mmap(PAGE)
    mm.load64(a)
    assert (faults(mm), rss_kb(mm)) == (1, 0)
    mm.store64(a, 5)
    assert (faults(mm), rss_kb(mm)) == (2, 4)  # the COW fault: +1 fault, +4 kB
    phys = mm.translate(a)
    assert phys is not None and phys >> 12 != 0
    assert mm.load64(a) == 5


@pytest.mark.parametrize(
    ("accesses", "expected_faults", "expected_rss_kb"),
    [
        ("r", 1, 0),
        ("w", 1, 4),
        ("rr", 1, 0),  # the second read is served by the zero-page PTE
        ("ww", 1, 4),
        ("rw", 2, 4),  # zero page, then copy-on-write
        ("wr", 1, 4),  # the read finds the frame already mapped
        ("rwrw", 2, 4),
    ],
    ids=[
        "read",
        "write",
        "read-read",
        "write-write",
        "read-write",
        "write-read",
        "read-write-read-write",
    ],
)
def test_faults_and_rss_of_an_access_sequence_on_one_page(
    mm: AddressSpace, accesses: str, expected_faults: int, expected_rss_kb: int
) -> None:
    a = mm.mmap(PAGE)
    for i, op in enumerate(accesses):
        if op == "r":
            mm.load64(a + 8 * i)
        else:
            mm.store64(a + 8 * i, i + 1)
    assert (faults(mm), rss_kb(mm)) == (expected_faults, expected_rss_kb)


def test_touching_every_page_of_a_mapping_counts_one_fault_per_page(mm: AddressSpace) -> None:
    a = mm.mmap(16 * MiB)
    mm.touch(a, 8 * MiB, write=True)  # 8 MiB = 2048 pages
    mm.touch(a + 8 * MiB, 8 * MiB)  # read the other 2048 pages
    s = mm.statistics()
    assert s.minor_faults == 4096
    assert s.rss_anon_kb == 8192  # only the written half: 2048 pages * 4 kB
    assert s.vm_size_kb == 16384


def test_madvise_dontneed_drops_frames_and_the_next_read_sees_zeroes(mm: AddressSpace) -> None:
    a = mm.mmap(4 * PAGE)
    for i in range(4):
        mm.store64(a + i * PAGE, 0x1000 + i)
    assert rss_kb(mm) == 16
    mm.madvise(a + PAGE, 2 * PAGE, MADV_DONTNEED)
    assert rss_kb(mm) == 8  # pages 1 and 2 gave their frames back
    assert mm.statistics().vm_size_kb == 16  # the mapping itself stays
    before = faults(mm)
    assert [mm.load64(a + i * PAGE) for i in range(4)] == [0x1000, 0, 0, 0x1003]
    assert faults(mm) == before + 2  # each dropped page faults in the zero page again
    assert rss_kb(mm) == 8


def test_madvise_free_keeps_pages_and_data_while_there_is_no_pressure(mm: AddressSpace) -> None:
    a = mm.mmap(4 * PAGE)
    for i in range(4):
        mm.store64(a + i * PAGE, 0x77 + i)
    mm.madvise(a, 4 * PAGE, MADV_FREE)
    assert rss_kb(mm) == 16
    assert [mm.load64(a + i * PAGE) for i in range(4)] == [0x77, 0x78, 0x79, 0x7A]
    mm.check_invariants()


def test_madvise_free_pages_are_reclaimed_under_pressure_unless_written_again() -> None:
    # 64 frames = pfn 0 (zero page) + 63 allocatable.
    mm = AddressSpace(PhysicalMemory(64 * PAGE))
    a = mm.mmap(8 * PAGE, flags=FIXED, addr=W)
    for i in range(8):
        mm.store64(a + i * PAGE, 0xA0 + i)
    # Used: PML4 + PDPT + PD + PT + 8 data frames = 12; 51 frames left.
    assert mm.physmem.used_frames == 12
    mm.madvise(a, 8 * PAGE, MADV_FREE)
    assert rss_kb(mm) == 32  # MADV_FREE does not drop anything by itself
    mm.store64(a, 0xBEEF)  # page 0 is written again: no longer lazily free
    b = mm.mmap(55 * PAGE, flags=FIXED, addr=W + 8 * PAGE)  # same PT, no new table
    mm.touch(b, 55 * PAGE, write=True)
    # 55 frames needed, 51 free: reclaim must have dropped the 7 clean pages 1..7.
    assert rss_kb(mm) == (1 + 55) * 4
    assert mm.load64(a) == 0xBEEF
    assert [mm.load64(a + i * PAGE) for i in range(1, 8)] == [0] * 7
    mm.check_invariants()


# ==========================================================================
# munmap, mprotect, madvise: splitting, merging, holes
# ==========================================================================


def test_munmap_of_the_middle_splits_a_vma_in_three_and_drops_the_middle(mm: AddressSpace) -> None:
    a = mm.mmap(3 * PAGE, flags=FIXED, addr=W)
    mm.touch(a, 3 * PAGE, write=True)
    mm.munmap(a + PAGE, PAGE)
    assert lines_in(mm, W, W + 3 * PAGE) == [
        (W, W + PAGE, "rw-p"),
        (W + 2 * PAGE, W + 3 * PAGE, "rw-p"),
    ]
    s = mm.statistics()
    assert (s.vm_size_kb, s.rss_anon_kb) == (8, 8)
    with pytest.raises(SegmentationFault):
        mm.load64(a + PAGE)


@pytest.mark.parametrize(
    ("offset_pages", "npages", "left"),
    [
        (0, 1, [(1, 4)]),
        (3, 1, [(0, 3)]),
        (1, 2, [(0, 1), (3, 4)]),
        (0, 4, []),
        (2, 10, [(0, 2)]),  # runs past the end into unmapped space: fine
    ],
    ids=["head", "tail", "middle", "all", "past-the-end"],
)
def test_munmap_removes_exactly_the_requested_pages(
    mm: AddressSpace, offset_pages: int, npages: int, left: list[tuple[int, int]]
) -> None:
    mm.mmap(4 * PAGE, flags=FIXED, addr=W)
    mm.munmap(W + offset_pages * PAGE, npages * PAGE)
    expected = [(W + lo * PAGE, W + hi * PAGE, "rw-p") for lo, hi in left]
    assert lines_in(mm, W, W + 64 * PAGE) == expected
    assert mm.statistics().vm_size_kb == 4 * sum(hi - lo for lo, hi in left)


def test_munmap_of_an_unmapped_range_succeeds_and_changes_nothing(mm: AddressSpace) -> None:
    mm.mmap(PAGE, flags=FIXED, addr=W)
    before = mm.maps_text()
    mm.munmap(W + 16 * PAGE, 4 * PAGE)
    assert mm.maps_text() == before


def test_mprotect_splits_a_vma_and_merges_it_back(mm: AddressSpace) -> None:
    a = mm.mmap(3 * PAGE, flags=FIXED, addr=W)
    mm.mprotect(a + PAGE, PAGE, PROT_READ)
    assert lines_in(mm, W, W + 3 * PAGE) == [
        (W, W + PAGE, "rw-p"),
        (W + PAGE, W + 2 * PAGE, "r--p"),
        (W + 2 * PAGE, W + 3 * PAGE, "rw-p"),
    ]
    mm.mprotect(a + PAGE, PAGE, RW)
    assert lines_in(mm, W, W + 3 * PAGE) == [(W, W + 3 * PAGE, "rw-p")]
    assert len(mm.vmas) == 1
    mm.check_invariants()


def test_mprotect_across_two_vmas_merges_them_into_one(mm: AddressSpace) -> None:
    mm.mmap(2 * PAGE, PROT_READ, FIXED, W)
    mm.mmap(2 * PAGE, RW, FIXED, W + 2 * PAGE)
    assert len(lines_in(mm, W, W + 4 * PAGE)) == 2
    mm.mprotect(W, 4 * PAGE, PROT_READ | PROT_EXEC)
    assert lines_in(mm, W, W + 4 * PAGE) == [(W, W + 4 * PAGE, "r-xp")]


def test_mprotect_prot_none_keeps_the_frame_and_its_data(mm: AddressSpace) -> None:
    a = mm.mmap(PAGE, flags=FIXED, addr=W)
    mm.store64(a, 0xCAFE)
    mm.mprotect(a, PAGE, PROT_NONE)
    assert rss_kb(mm) == 4  # a PROT_NONE page keeps its frame in RSS
    assert mm.translate(a) is None  # but its PTE is not present
    with pytest.raises(SegmentationFault) as exc:
        mm.load64(a)
    assert exc.value.reason == "SEGV_ACCERR"
    mm.mprotect(a, PAGE, PROT_READ)
    assert mm.load64(a) == 0xCAFE


def test_mprotect_with_a_hole_in_the_middle_fails_after_changing_the_part_before_it(
    mm: AddressSpace,
) -> None:
    mm.mmap(2 * PAGE, flags=FIXED, addr=W)  # [W, W+2P)
    mm.mmap(2 * PAGE, flags=FIXED, addr=W + 3 * PAGE)  # [W+3P, W+5P); hole at W+2P
    mm.store64(W, 1)
    with pytest.raises(SyscallError) as exc:
        mm.mprotect(W, 5 * PAGE, PROT_READ)
    assert exc.value.errno == ENOMEM
    # Linux changes the VMAs before the hole and stops there.
    assert lines_in(mm, W, W + 5 * PAGE) == [
        (W, W + 2 * PAGE, "r--p"),
        (W + 3 * PAGE, W + 5 * PAGE, "rw-p"),
    ]
    with pytest.raises(SegmentationFault):
        mm.store64(W, 2)  # the PTE lost its write bit too, not just the VMA
    mm.store64(W + 3 * PAGE, 3)  # after the hole: unchanged
    mm.check_invariants()


def test_mprotect_with_a_hole_at_the_start_changes_nothing(mm: AddressSpace) -> None:
    mm.mmap(2 * PAGE, flags=FIXED, addr=W + PAGE)
    before = mm.maps_text()
    with pytest.raises(SyscallError) as exc:
        mm.mprotect(W, 3 * PAGE, PROT_READ)
    assert exc.value.errno == ENOMEM
    assert mm.maps_text() == before


def test_madvise_with_holes_applies_to_every_mapped_part_then_fails(mm: AddressSpace) -> None:
    mm.mmap(PAGE, flags=FIXED, addr=W + PAGE)  # hole at W, W+2P and W+4P
    mm.mmap(PAGE, flags=FIXED, addr=W + 3 * PAGE)
    mm.store64(W + PAGE, 1)
    mm.store64(W + 3 * PAGE, 2)
    with pytest.raises(SyscallError) as exc:
        mm.madvise(W, 5 * PAGE, MADV_DONTNEED)
    assert exc.value.errno == ENOMEM
    assert rss_kb(mm) == 0  # both mapped pages were dropped nevertheless
    assert (mm.load64(W + PAGE), mm.load64(W + 3 * PAGE)) == (0, 0)


def test_madvise_hugepage_splits_the_vma_and_nohugepage_flips_the_flag(mm: AddressSpace) -> None:
    mm.mmap(3 * PAGE, flags=FIXED, addr=W)
    mm.madvise(W + PAGE, PAGE, MADV_HUGEPAGE)
    thp = VM_HUGEPAGE | VM_NOHUGEPAGE  # VM_ACCOUNT is set on all three too
    vmas = [(v.start, v.end, v.flags & thp) for v in mm.vmas if W <= v.start < W + 3 * PAGE]
    assert vmas == [
        (W, W + PAGE, 0),
        (W + PAGE, W + 2 * PAGE, VM_HUGEPAGE),
        (W + 2 * PAGE, W + 3 * PAGE, 0),
    ]
    # Three maps lines with the same perms: flags are not shown but keep VMAs apart.
    assert [p for _, _, p in lines_in(mm, W, W + 3 * PAGE)] == ["rw-p"] * 3
    mm.madvise(W + PAGE, PAGE, MADV_NOHUGEPAGE)
    assert [v.flags & thp for v in mm.vmas if v.start == W + PAGE] == [VM_NOHUGEPAGE]
    mm.check_invariants()


@pytest.mark.parametrize(
    "call",
    [
        lambda mm: mm.mprotect(W, 0, PROT_READ),
        lambda mm: mm.madvise(W, 0, MADV_DONTNEED),
    ],
    ids=["mprotect", "madvise"],
)
def test_zero_length_mprotect_and_madvise_succeed_and_change_nothing(
    mm: AddressSpace, call: Callable[[AddressSpace], None]
) -> None:
    mm.mmap(PAGE, flags=FIXED, addr=W)
    mm.store64(W, 9)
    before = (mm.maps_text(), mm.status_text())
    call(mm)
    assert (mm.maps_text(), mm.status_text()) == before


# ==========================================================================
# Errors: the right errno, and nothing half-applied
# ==========================================================================

ERROR_CASES = [
    ("munmap-unaligned-address", lambda mm: mm.munmap(W + 1, PAGE), EINVAL),
    ("munmap-zero-length", lambda mm: mm.munmap(W, 0), EINVAL),
    ("munmap-beyond-user-space", lambda mm: mm.munmap(TASK_SIZE - PAGE, 2 * PAGE), EINVAL),
    ("mprotect-unaligned-address", lambda mm: mm.mprotect(W + 8, PAGE, PROT_READ), EINVAL),
    ("mprotect-unknown-prot-bit", lambda mm: mm.mprotect(W, PAGE, 0x10), EINVAL),
    ("madvise-unaligned-address", lambda mm: mm.madvise(W + 8, PAGE, MADV_DONTNEED), EINVAL),
    ("madvise-unknown-advice", lambda mm: mm.madvise(W, PAGE, 9999), EINVAL),
    ("mmap-zero-length", lambda mm: mm.mmap(0), EINVAL),
    # MAP_SHARED: not modelled, refused as docs/FIDELITY.md says (Linux would map it).
    ("mmap-shared", lambda mm: mm.mmap(PAGE, flags=MAP_ANONYMOUS | 0x01), EINVAL),
    ("mmap-fixed-unaligned", lambda mm: mm.mmap(PAGE, flags=FIXED, addr=W + 1), EINVAL),
    (
        "mmap-fixed-noreplace-overlap",
        lambda mm: mm.mmap(2 * PAGE, flags=ANON | MAP_FIXED_NOREPLACE, addr=W + 3 * PAGE),
        EEXIST,
    ),
    ("mmap-fixed-at-0x1000", lambda mm: mm.mmap(PAGE, flags=FIXED, addr=0x1000), EPERM),
    ("mmap-fixed-just-below-min-addr", lambda mm: mm.mmap(PAGE, flags=FIXED, addr=0xF000), EPERM),
    (
        "mmap-fixed-beyond-user-space",
        lambda mm: mm.mmap(2 * PAGE, flags=FIXED, addr=TASK_SIZE - PAGE),
        ENOMEM,
    ),
    ("mmap-longer-than-user-space", lambda mm: mm.mmap(TASK_SIZE + PAGE, PROT_NONE), ENOMEM),
    # 1 TiB = 268435456 pages > 16 GiB = 4194304 frames: overcommit mode 0 refuses.
    ("mmap-writable-larger-than-ram", lambda mm: mm.mmap(TiB), ENOMEM),
    ("mprotect-unmapped", lambda mm: mm.mprotect(W + 32 * PAGE, PAGE, PROT_READ), ENOMEM),
    ("mprotect-hole-at-start", lambda mm: mm.mprotect(W - PAGE, 2 * PAGE, PROT_NONE), ENOMEM),
    ("madvise-unmapped", lambda mm: mm.madvise(W + 32 * PAGE, PAGE, MADV_DONTNEED), ENOMEM),
]


@pytest.mark.parametrize(
    ("call", "errno"),
    [pytest.param(call, err, id=name) for name, call, err in ERROR_CASES],
)
def test_a_failing_call_returns_its_errno_and_changes_nothing(
    mm: AddressSpace, call: Callable[[AddressSpace], object], errno: int
) -> None:
    mm.mmap(4 * PAGE, flags=FIXED, addr=W)  # [W, W+4P) rw, two pages written
    mm.mmap(2 * PAGE, PROT_READ, FIXED, W + 8 * PAGE)
    mm.store64(W, 1)
    mm.store64(W + PAGE, 2)
    before = (mm.maps_text(), mm.status_text(), mm.physmem.used_frames)
    with pytest.raises(SyscallError) as exc:
        call(mm)
    assert exc.value.errno == errno
    assert (mm.maps_text(), mm.status_text(), mm.physmem.used_frames) == before
    assert (mm.load64(W), mm.load64(W + PAGE)) == (1, 2)
    mm.check_invariants()


def test_mmap_fails_with_enomem_when_no_gap_is_large_enough(mm: AddressSpace) -> None:
    # One page at 64 TiB = 2^46 cuts the 47-bit user space (128 TiB) in two gaps
    # of less than 64 TiB each, so a 65 TiB reservation fits in neither.
    mm.mmap(PAGE, PROT_NONE, FIXED, 64 * TiB)
    with pytest.raises(SyscallError) as exc:
        mm.mmap(65 * TiB, PROT_NONE)
    assert exc.value.errno == ENOMEM
    assert mm.statistics().vm_size_kb == 4


# ==========================================================================
# Placement: MAP_FIXED, hints, top-down
# ==========================================================================


def test_map_fixed_replaces_existing_pages_and_their_data(mm: AddressSpace) -> None:
    mm.mmap(4 * PAGE, flags=FIXED, addr=W)
    mm.touch(W, 4 * PAGE, write=True)
    mm.store64(W + PAGE, 0x5555)
    assert rss_kb(mm) == 16
    assert mm.mmap(2 * PAGE, flags=FIXED, addr=W + PAGE) == W + PAGE
    assert rss_kb(mm) == 8  # pages 1 and 2 lost their frames
    assert mm.load64(W + PAGE) == 0
    assert mm.statistics().vm_size_kb == 16  # same extent, one merged VMA
    assert lines_in(mm, W, W + 4 * PAGE) == [(W, W + 4 * PAGE, "rw-p")]


def test_map_fixed_with_a_different_prot_leaves_three_vmas(mm: AddressSpace) -> None:
    mm.mmap(3 * PAGE, flags=FIXED, addr=W)
    mm.mmap(PAGE, PROT_READ, FIXED, W + PAGE)
    assert lines_in(mm, W, W + 3 * PAGE) == [
        (W, W + PAGE, "rw-p"),
        (W + PAGE, W + 2 * PAGE, "r--p"),
        (W + 2 * PAGE, W + 3 * PAGE, "rw-p"),
    ]


def test_map_fixed_noreplace_on_free_space_maps_there(mm: AddressSpace) -> None:
    assert mm.mmap(PAGE, flags=ANON | MAP_FIXED_NOREPLACE, addr=W) == W


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (0x20000000, 0x20000000),
        (0x20000123, 0x20000000),  # rounded down to its page
        (0x1000, 0x10000),  # raised to vm.mmap_min_addr (round_hint_to_min)
    ],
    ids=["aligned", "unaligned", "below-mmap-min-addr"],
)
def test_a_free_hint_is_honoured(mm: AddressSpace, hint: int, expected: int) -> None:
    assert mm.mmap(2 * PAGE, addr=hint) == expected


@pytest.mark.parametrize(
    "hint",
    [W, W + PAGE, W - PAGE],
    ids=["at-a-mapping", "inside-a-mapping", "runs-into-a-mapping"],
)
def test_a_taken_hint_is_ignored_and_placement_goes_top_down(mm: AddressSpace, hint: int) -> None:
    mm.mmap(4 * PAGE, flags=FIXED, addr=W)
    got = mm.mmap(2 * PAGE, addr=hint)
    assert got == mm.mmap_base - 2 * PAGE
    assert lines_in(mm, W, W + 4 * PAGE) == [(W, W + 4 * PAGE, "rw-p")]


def test_top_down_placement_goes_downward_from_mmap_base_and_merges(mm: AddressSpace) -> None:
    base = mm.mmap_base
    assert base == TASK_SIZE - 128 * MiB  # 0x7ffff7fff000
    a = mm.mmap(PAGE)
    b = mm.mmap(2 * PAGE)
    c = mm.mmap(3 * PAGE)
    assert (a, b, c) == (base - PAGE, base - 3 * PAGE, base - 6 * PAGE)
    # Three adjacent anonymous rw mappings: one maps line.
    assert maps_lines(mm.maps_text()) == [(base - 6 * PAGE, base, "rw-p", "")]


def test_top_down_mappings_with_different_prot_stay_separate(mm: AddressSpace) -> None:
    a = mm.mmap(PAGE)
    b = mm.mmap(PAGE, PROT_READ)
    assert b == a - PAGE
    assert len(maps_lines(mm.maps_text())) == 2


def test_a_hole_left_by_munmap_is_reused_by_the_next_mmap_of_that_size(mm: AddressSpace) -> None:
    mm.mmap(PAGE)
    b = mm.mmap(PAGE, PROT_READ)
    mm.mmap(PAGE)
    mm.munmap(b, PAGE)
    assert mm.mmap(PAGE, PROT_READ) == b  # the highest gap below mmap_base


def test_a_prot_none_reservation_of_1_tib_costs_no_rss(mm: AddressSpace) -> None:
    a = mm.mmap(TiB, PROT_NONE)
    s = mm.statistics()
    assert s.vm_size_kb == 1 << 30  # 1 TiB = 2^40 bytes = 2^30 kB
    assert (s.rss_anon_kb, s.vm_pte_kb) == (0, 0)
    # A length that is a multiple of 2 MiB is 2 MiB-aligned (thp_get_unmapped_area, Linux
    # >= 6.7): the highest aligned place below mmap_base = 0x7ffff7fff000 ends at
    # 0x7ffff7e00000, i.e. mmap_base rounded down to 2 MiB.
    assert a + TiB == mm.mmap_base & ~((2 << 20) - 1) == 0x7FFFF7E00000


def test_a_writable_1_tib_mapping_is_refused_on_16_gib_without_noreserve(mm: AddressSpace) -> None:
    with pytest.raises(SyscallError) as exc:
        mm.mmap(TiB, RW)
    assert exc.value.errno == ENOMEM


def test_a_writable_1_tib_mapping_with_map_noreserve_is_accepted(mm: AddressSpace) -> None:
    a = mm.mmap(TiB, RW, ANON | MAP_NORESERVE)
    assert mm.statistics().vm_size_kb == 1 << 30
    mm.store64(a + TiB - 8, 1)  # the last page works like any other
    assert rss_kb(mm) == 4


def test_a_writable_mapping_exactly_as_large_as_ram_is_accepted() -> None:
    # 1 MiB machine = 256 frames; 256 pages is not *more* than RAM.
    mm = AddressSpace(PhysicalMemory(MiB))
    mm.mmap(MiB)
    with pytest.raises(SyscallError):
        mm.mmap(MiB + PAGE)


# ==========================================================================
# Faults: SIGSEGV reasons, x86 permissions, the OOM killer
# ==========================================================================


@pytest.mark.parametrize(
    ("va", "write", "reason"),
    [
        (W + 6 * PAGE, False, "SEGV_MAPERR"),  # no mapping
        (W + 6 * PAGE, True, "SEGV_MAPERR"),
        (W, False, "SEGV_ACCERR"),  # PROT_NONE
        (W, True, "SEGV_ACCERR"),
        (W + 2 * PAGE, True, "SEGV_ACCERR"),  # PROT_READ
        (W + 4 * PAGE, True, "SEGV_ACCERR"),  # PROT_EXEC
        (TASK_SIZE, False, "SEGV_MAPERR"),  # first address above user space
        (TASK_SIZE + 8 * PAGE, True, "SEGV_MAPERR"),
    ],
    ids=[
        "read-unmapped",
        "write-unmapped",
        "read-prot-none",
        "write-prot-none",
        "write-read-only",
        "write-exec-only",
        "read-task-size",
        "write-above-task-size",
    ],
)
def test_segfault_reason_tells_missing_mapping_from_forbidden_access(
    mm: AddressSpace, va: int, write: bool, reason: str
) -> None:
    mm.mmap(PAGE, PROT_NONE, FIXED, W)
    mm.mmap(PAGE, PROT_READ, FIXED, W + 2 * PAGE)
    mm.mmap(PAGE, PROT_EXEC, FIXED, W + 4 * PAGE)
    with pytest.raises(SegmentationFault) as exc:
        if write:
            mm.store8(va, 1)
        else:
            mm.load8(va)
    assert exc.value.reason == reason
    assert exc.value.va == va
    assert exc.value.access == ("write" if write else "read")
    assert reason in str(exc.value)
    assert rss_kb(mm) == 0


@pytest.mark.parametrize(
    "prot", [PROT_WRITE, PROT_EXEC, PROT_READ], ids=["write-only", "exec-only", "read-only"]
)
def test_x86_lets_any_accessible_mapping_be_read(mm: AddressSpace, prot: int) -> None:
    # x86 page tables have no "no read" bit: -w- and --x pages are readable.
    a = mm.mmap(PAGE, prot)
    assert mm.load64(a) == 0


def test_a_write_only_mapping_accepts_stores_and_reads_them_back(mm: AddressSpace) -> None:
    a = mm.mmap(PAGE, PROT_WRITE)
    mm.store64(a, 42)
    assert mm.load64(a) == 42
    assert lines_in(mm, a, a + PAGE) == [(a, a + PAGE, "-w-p")]


def test_writing_past_the_last_frame_oom_kills_the_process_and_frees_its_frames() -> None:
    # 64 frames = zero page + 63 allocatable.
    machine = Machine(64 * PAGE)
    p = machine.spawn("app", IMAGE)
    # spawn used 5: PML4, the stack's PDPT, PD and PT, and the argv page.
    assert machine.statistics().used_frames == 5
    a = p.mmap(60 * PAGE)  # 60 pages <= 64 frames: the overcommit check lets it pass
    # The first write takes a frame and a new PT (the mapping's PD entry 447 is
    # new; the stack's is 511): 7 used, 56 left, so writes 1..57 succeed.
    for i in range(57):
        p.store8(a + i * PAGE, 1)
    with pytest.raises(OutOfMemoryKill) as exc:
        p.store8(a + 57 * PAGE, 1)
    # total-vm: 256 + 128 + 16 + 32 + 33 (stack) + 60 = 525 pages = 2100 kB;
    # anon-rss: the argv page + 57 written pages = 58 pages = 232 kB.
    assert str(exc.value) == (
        "Out of memory: Killed process 1000 (app) "
        "total-vm:2100kB, anon-rss:232kB, file-rss:0kB, shmem-rss:0kB"
    )
    assert str(exc.value).startswith("Out of memory: Killed process 1000 (app)")
    assert (exc.value.pid, exc.value.comm) == (1000, "app")
    assert machine.statistics().used_frames == 0
    with pytest.raises(MachineError):
        p.load8(a)
    machine.check_invariants()


def test_oom_never_happens_at_mmap_time() -> None:
    machine = Machine(64 * PAGE)
    p = machine.spawn("app", IMAGE)
    for _ in range(10):
        p.mmap(60 * PAGE)  # 600 pages promised on a 64-frame machine: overcommit
    assert p.statistics().vm_size_kb == 1860 + 600 * 4


# ==========================================================================
# The stack
# ==========================================================================


def test_the_stack_grows_down_on_a_fault_within_8_mib(proc: Process) -> None:
    proc.store64(STACK_TOP - 1 * MiB, 7)
    assert proc.statistics().vm_stk_kb == 1024  # the VMA now reaches the faulting page
    proc.store64(STACK_TOP - 8 * MiB, 8)  # exactly RLIMIT_STACK below the top
    assert proc.statistics().vm_stk_kb == 8192
    assert proc.load64(STACK_TOP - 8 * MiB) == 8
    stack = [(s, e) for s, e, _, n in maps_lines(proc.maps()) if n == "[stack]"]
    assert stack == [(STACK_TOP - 8 * MiB, STACK_TOP)]


def test_the_stack_does_not_grow_beyond_8_mib(proc: Process) -> None:
    with pytest.raises(SegmentationFault) as exc:
        proc.store64(STACK_TOP - 8 * MiB - 8, 1)  # its page starts 8 MiB + 4 KiB below the top
    assert exc.value.reason == "SEGV_MAPERR"
    assert proc.statistics().vm_stk_kb == 132


def test_the_stack_does_not_grow_within_1_mib_of_an_accessible_mapping(proc: Process) -> None:
    below = STACK_LO - 2 * MiB - 64 * KiB
    proc.mmap(64 * KiB, PROT_READ, FIXED, below)  # ends 2 MiB below the stack
    with pytest.raises(SegmentationFault):
        proc.store64(below + 64 * KiB + 512 * KiB, 1)  # 0.5 MiB above it: inside the guard gap
    proc.store64(below + 64 * KiB + 1 * MiB, 1)  # exactly 1 MiB above it: allowed
    assert proc.statistics().vm_stk_kb == 132 + 1024


def test_the_stack_may_grow_next_to_a_prot_none_mapping(proc: Process) -> None:
    below = STACK_LO - 2 * MiB - 64 * KiB
    proc.mmap(64 * KiB, PROT_NONE, FIXED, below)  # a guard region ending 2 MiB below the stack
    proc.store64(below + 64 * KiB + 512 * KiB, 1)  # 0.5 MiB above it
    assert proc.statistics().vm_stk_kb == 132 + 1536


# ==========================================================================
# brk
# ==========================================================================


def heap_lines(p: Process) -> list[tuple[int, int]]:
    return [(s, e) for s, e, _, n in maps_lines(p.maps()) if n == "[heap]"]


def test_brk_below_start_brk_returns_the_current_break(proc: Process) -> None:
    assert proc.brk(0) == START_BRK
    assert proc.brk(START_BRK - PAGE) == START_BRK
    assert heap_lines(proc) == []


def test_heap_appears_as_a_named_line_once_brk_grows(proc: Process) -> None:
    assert heap_lines(proc) == []
    new = START_BRK + 3 * PAGE + 5
    assert proc.brk(new) == new
    # The heap ends at the page-aligned break: 0x5b3005 -> 0x5b4000.
    [(lo, hi)] = heap_lines(proc)
    assert hi == 0x5B4000
    assert lo <= START_BRK < hi
    proc.store64(START_BRK, 11)
    proc.store64(new - 8, 12)
    assert (proc.load64(START_BRK), proc.load64(new - 8)) == (11, 12)


def test_sbrk_returns_the_old_break(proc: Process) -> None:
    assert proc.sbrk(0) == START_BRK
    assert proc.sbrk(2 * PAGE) == START_BRK
    assert proc.sbrk(PAGE) == START_BRK + 2 * PAGE
    assert proc.sbrk(0) == START_BRK + 3 * PAGE
    assert proc.statistics().vm_data_kb == 192 + 12  # data + bss + 3 heap pages


def test_shrinking_the_break_frees_the_heap_pages(proc: Process) -> None:
    proc.brk(START_BRK + 4 * PAGE)
    proc.touch(START_BRK, 4 * PAGE, write=True)
    s = proc.statistics()
    assert (s.rss_anon_kb, s.vm_size_kb) == (4 + 16, 1860 + 16)
    assert proc.brk(START_BRK + PAGE) == START_BRK + PAGE
    assert proc.statistics().rss_anon_kb == 4 + 4
    assert proc.brk(START_BRK) == START_BRK
    s = proc.statistics()
    assert (s.rss_anon_kb, s.vm_size_kb) == (4, 1860)
    assert heap_lines(proc) == []
    with pytest.raises(SegmentationFault):
        proc.load64(START_BRK)


def test_brk_stops_one_page_short_of_the_next_mapping(proc: Process) -> None:
    proc.mmap(PAGE, PROT_READ, FIXED, START_BRK + 16 * PAGE)
    # Linux refuses when newbrk + PAGE_SIZE > the next VMA's start.
    assert proc.brk(START_BRK + 16 * PAGE) == START_BRK
    with pytest.raises(SyscallError) as exc:
        proc.sbrk(16 * PAGE)
    assert exc.value.errno == ENOMEM
    assert proc.brk(START_BRK + 15 * PAGE) == START_BRK + 15 * PAGE


# ==========================================================================
# Loads and stores
# ==========================================================================


def test_store64_and_load64_across_a_page_boundary(mm: AddressSpace) -> None:
    a = mm.mmap(2 * PAGE)
    mm.store64(a + PAGE - 4, 0x1122334455667788)
    # Little-endian: the low four bytes end page 0, the high four start page 1.
    assert mm.read(a + PAGE - 4, 4) == bytes([0x88, 0x77, 0x66, 0x55])
    assert mm.read(a + PAGE, 4) == bytes([0x44, 0x33, 0x22, 0x11])
    assert mm.load64(a + PAGE - 4) == 0x1122334455667788
    assert rss_kb(mm) == 8


def test_update64_is_a_read_modify_write_that_faults_the_page_in(mm: AddressSpace) -> None:
    a = mm.mmap(2 * PAGE)
    assert rss_kb(mm) == 0
    # A fresh page reads as zero; (0 & keep) | 0b1010 = 0b1010, and the write maps a frame.
    assert mm.update64(a + 16, 0xFFFF_FFFF_FFFF_FFFF, 0b1010) == 0b1010
    assert rss_kb(mm) == 4
    assert mm.update64(a + 16, ~0b0010 & 0xFFFF_FFFF_FFFF_FFFF, 0b0001) == 0b1001
    assert mm.load64(a + 16) == 0b1001
    # Across the page boundary it falls back to two translations, same result.
    mm.store64(a + PAGE - 4, 0x1122334455667788)
    assert mm.update64(a + PAGE - 4, 0xFFFF_FFFF_0000_0000, 0x99) == 0x1122334400000099
    assert mm.load64(a + PAGE - 4) == 0x1122334400000099


def test_load64_across_into_an_unmapped_page_faults(mm: AddressSpace) -> None:
    a = mm.mmap(PAGE, flags=FIXED, addr=W)
    with pytest.raises(SegmentationFault) as exc:
        mm.load64(a + PAGE - 4)
    assert exc.value.va == W + PAGE


def test_store_words_and_load_words_within_and_across_pages(mm: AddressSpace) -> None:
    a = mm.mmap(2 * PAGE)
    mm.store_words(a + 8, [1, 2, 3])
    assert mm.load_words(a + 8, 3) == (1, 2, 3)
    mm.store_words(a + PAGE - 16, [10, 20, 30, 40])  # two words in each page
    assert mm.load_words(a + PAGE - 16, 4) == (10, 20, 30, 40)
    assert mm.load64(a + PAGE) == 30
    assert mm.load_words(a, 0) == ()


def test_a_run_of_words_within_one_page_counts_as_one_access(mm: AddressSpace) -> None:
    a = mm.mmap(PAGE)
    mm.store_words(a, list(range(100)))
    mm.load_words(a, 100)
    assert mm.accesses() == {a >> 12: (1, 1)}


def test_read_and_write_bytes_span_several_pages(mm: AddressSpace) -> None:
    a = mm.mmap(4 * PAGE)
    data = bytes(range(256)) * 40  # 10240 bytes = 2.5 pages
    mm.write(a + 100, data)
    assert mm.read(a + 100, len(data)) == data
    assert rss_kb(mm) == 12  # offsets 100..10339 touch pages 0, 1 and 2


# ==========================================================================
# /proc/<pid>/status figures
# ==========================================================================


def test_status_figures_of_a_new_process(proc: Process) -> None:
    s = proc.statistics()
    # VmSize = 1024 + 512 + 64 + 128 + 132 = 1860 kB
    assert s.vm_size_kb == 1860
    assert s.vm_exe_kb == 1024  # text
    assert s.vm_data_kb == 64 + 128  # data + bss (private writable, not stack)
    assert s.vm_stk_kb == 132
    assert s.vm_lib_kb == 0
    assert s.vm_rss_kb == s.rss_anon_kb == 4  # the page holding argc/argv/envp
    assert s.vm_pte_kb == 12  # the stack's PDPT, PD and PT
    assert (s.rss_file_kb, s.rss_shmem_kb, s.vm_swap_kb, s.vm_lck_kb) == (0, 0, 0, 0)


def test_status_figures_follow_mappings_by_kind(proc: Process) -> None:
    proc.mmap(MiB)  # rw: VmData +1024
    proc.mmap(64 * KiB, PROT_READ | PROT_EXEC)  # r-x, not the text: VmLib +64
    proc.mmap(64 * KiB, PROT_READ | PROT_WRITE | PROT_EXEC)  # rwx is data, not exec
    proc.mmap(MiB, PROT_NONE)  # neither data nor exec
    s = proc.statistics()
    assert s.vm_data_kb == 192 + 1024 + 64
    assert s.vm_lib_kb == 64
    assert s.vm_exe_kb == 1024
    assert s.vm_size_kb == 1860 + 1024 + 64 + 64 + 1024


def test_vm_pte_counts_table_pages_below_the_pml4(proc: Process) -> None:
    proc.store64(0x590000, 1)  # bss: PML4 0, PDPT 0, PD 2 -> a new PDPT, PD and PT
    assert proc.statistics().vm_pte_kb == 12 + 12
    proc.store64(0x580000, 1)  # data: PD 2 as well (0x580000 >> 21 = 2), same PT
    assert proc.statistics().vm_pte_kb == 24
    proc.store64(STACK_LO, 1)  # [stack]: PD 511, its tables exist since spawn
    assert proc.statistics().vm_pte_kb == 24
    with pytest.raises(SegmentationFault):
        proc.store64(0x590000 + 2 * MiB, 1)  # beyond bss: a fault there builds no table
    assert proc.statistics().vm_pte_kb == 24


def test_vm_exe_rounds_the_text_to_whole_pages() -> None:
    p = Machine().spawn(
        "app", ExecutableImage(text_bytes=0x1001, rodata_bytes=0, data_bytes=0, bss_bytes=0)
    )
    assert p.statistics().vm_exe_kb == 8  # 0x1001 bytes span two pages


def test_vm_hwm_and_vm_peak_keep_their_high_water_marks_after_munmap(mm: AddressSpace) -> None:
    a = mm.mmap(10 * PAGE)
    mm.touch(a, 10 * PAGE, write=True)
    mm.munmap(a, 10 * PAGE)
    s = mm.statistics()
    assert (s.vm_size_kb, s.vm_rss_kb) == (0, 0)
    assert (s.vm_peak_kb, s.vm_hwm_kb) == (40, 40)
    b = mm.mmap(2 * PAGE)
    mm.touch(b, 2 * PAGE, write=True)
    s = mm.statistics()
    assert (s.vm_size_kb, s.vm_rss_kb, s.vm_peak_kb, s.vm_hwm_kb) == (8, 8, 40, 40)


def test_vm_hwm_keeps_its_mark_after_madvise_dontneed(mm: AddressSpace) -> None:
    a = mm.mmap(5 * PAGE)
    mm.touch(a, 5 * PAGE, write=True)
    mm.madvise(a, 5 * PAGE, MADV_DONTNEED)
    s = mm.statistics()
    assert (s.vm_rss_kb, s.vm_hwm_kb, s.vm_size_kb) == (0, 20, 20)


def test_status_text_has_the_kernel_field_lines(proc: Process) -> None:
    text = proc.status()
    assert "VmSize:\t    1860 kB\n" in text  # value right-aligned in 8 columns
    assert "VmExe:\t    1024 kB\n" in text
    assert text.count("\n") == 15


def test_page_access_counters_show_exactly_which_pages_were_touched(mm: AddressSpace) -> None:
    a = mm.mmap(4 * PAGE)
    mm.load64(a)
    mm.load64(a + 8)
    mm.store64(a + 2 * PAGE, 1)
    mm.read(a + 3 * PAGE, 16)
    mm.write(a + 3 * PAGE + 16, b"xy")
    vpn = a >> 12
    assert mm.accesses() == {vpn: (2, 0), vpn + 2: (0, 1), vpn + 3: (1, 1)}


def test_page_access_counters_survive_munmap(mm: AddressSpace) -> None:
    a = mm.mmap(PAGE)
    mm.store64(a, 1)
    mm.munmap(a, PAGE)
    assert mm.accesses() == {a >> 12: (0, 1)}


def test_a_walk_of_a_written_page_ends_in_its_frame(mm: AddressSpace) -> None:
    a = mm.mmap(PAGE)
    mm.store64(a, 1)
    steps = mm.walk(a)
    assert [s.level for s in steps] == ["PML4", "PDPT", "PD", "PT"]
    phys = mm.translate(a)
    assert phys is not None
    assert (steps[-1].entry >> 12) & ((1 << 40) - 1) == phys >> 12


# ==========================================================================
# Known divergences from Linux
# ==========================================================================


def test_making_a_1_tib_reservation_writable_on_16_gib_is_refused(mm: AddressSpace) -> None:
    a = mm.mmap(TiB, PROT_NONE)  # uncharged while PROT_NONE
    before = mm.maps_text()
    with pytest.raises(SyscallError) as exc:
        mm.mprotect(a, TiB, RW)  # 2^28 pages > 2^22 frames of RAM
    assert exc.value.errno == ENOMEM
    assert mm.maps_text() == before


def test_neighbours_written_under_different_prot_merge_after_mprotect_equalises_them(
    mm: AddressSpace,
) -> None:
    mm.mmap(PAGE, RW, FIXED, W)
    mm.store64(W, 1)  # A gets an anon_vma
    mm.mmap(PAGE, RW | PROT_EXEC, FIXED, W + PAGE)  # B: flags differ from A only in VM_EXEC
    mm.store64(W + PAGE, 2)  # Linux: find_mergeable_anon_vma hands B the anon_vma of A
    assert len(lines_in(mm, W, W + 2 * PAGE)) == 2
    mm.mprotect(W + PAGE, PAGE, RW)
    # Equal flags and one shared anon_vma: vma_merge joins them, as for never-written B.
    assert lines_in(mm, W, W + 2 * PAGE) == [(W, W + 2 * PAGE, "rw-p")]
    assert (mm.load64(W), mm.load64(W + PAGE)) == (1, 2)


def test_mmap_ignores_prot_bits_it_does_not_know(mm: AddressSpace) -> None:
    # do_mmap turns prot into VM_* flags with calc_vm_prot_bits, which drops unknown bits.
    a = mm.mmap(PAGE, RW | 0x8, FIXED, W)
    assert lines_in(mm, W, W + PAGE) == [(a, a + PAGE, "rw-p")]


def test_mprotect_accepts_prot_sem_as_a_no_op(mm: AddressSpace) -> None:
    # x86 arch_validate_prot allows PROT_READ|PROT_WRITE|PROT_EXEC|PROT_SEM (0x8).
    mm.mmap(PAGE, RW, FIXED, W)
    mm.mprotect(W, PAGE, PROT_READ | 0x8)
    assert lines_in(mm, W, W + PAGE) == [(W, W + PAGE, "r--p")]


def test_madv_free_on_the_executables_file_mapping_is_einval(proc: Process) -> None:
    # madvise_free_single_vma refuses VMAs that are not anonymous.
    with pytest.raises(SyscallError) as exc:
        proc.madvise(IMAGE.base, PAGE, MADV_FREE)
    assert exc.value.errno == EINVAL


@pytest.mark.parametrize("offset", [0, 4092, 4094], ids=["in-page", "page-end", "straddling"])
def test_load32_and_store32_are_little_endian_words_anywhere(mm: AddressSpace, offset: int) -> None:
    mm.mmap(2 * PAGE, RW, FIXED, W)
    mm.store32(W + offset, 0x11223344)
    # Little-endian: the lowest byte comes first in memory.
    assert mm.read(W + offset, 4) == bytes([0x44, 0x33, 0x22, 0x11])
    assert mm.load32(W + offset) == 0x11223344
    with pytest.raises(struct.error):
        mm.store32(W, 1 << 32)
