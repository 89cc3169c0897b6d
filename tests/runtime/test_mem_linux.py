"""Go's OS memory states on the simulated machine (runtime/mem_linux.go).

Expected figures are Linux facts: a PROT_NONE reservation adds to VmSize and
nothing to RSS; a write to Ready memory costs 4 kB of RSS per page;
MADV_DONTNEED gives the frames back at once and the pages read as zero.
"""

from __future__ import annotations

import pytest

from gomem.machine import Machine, SegmentationFault
from gomem.runtime.mem_linux import OSMemory, RuntimeThrow, SysMemStat

MiB = 1 << 20
ARENA = 64 * MiB  # heapArenaBytes on linux/amd64
HINT = 0x00C0_0000_0000  # the first arena hint on amd64


@pytest.fixture
def osmem() -> OSMemory:
    return OSMemory(Machine().spawn("go"))


def test_reserve_map_use_unused_free_walks_the_states(osmem: OSMemory) -> None:
    p = osmem.process
    base = p.statistics()
    stat = SysMemStat("HeapSys")
    v = osmem.sys_reserve(HINT, ARENA)
    assert v == HINT  # the hint is free, so Linux honours it
    s = p.statistics()
    assert (s.vm_size_kb - base.vm_size_kb, s.vm_rss_kb - base.vm_rss_kb) == (65536, 0)
    with pytest.raises(SegmentationFault):
        p.load8(v)  # Reserved: any access faults
    osmem.sys_map(v, 4 * MiB, stat)  # Prepared
    osmem.sys_used(v, 4 * MiB, 4 * MiB)  # Ready
    assert (stat.nbytes, osmem.mapped_ready) == (4 * MiB, 4 * MiB)
    p.write(v, b"\x01" * (1 * MiB))  # 256 pages written: +1024 kB RSS
    assert p.statistics().vm_rss_kb - base.vm_rss_kb == 1024
    osmem.sys_unused(v, 4 * MiB)  # back to Prepared: MADV_DONTNEED drops the frames
    assert p.statistics().vm_rss_kb == base.vm_rss_kb
    assert p.load8(v) == 0  # contents forfeit: the page reads as zero
    assert osmem.mapped_ready == 0
    osmem.sys_used(v, 4 * MiB, 4 * MiB)
    osmem.sys_free(v, 4 * MiB, stat)
    assert (stat.nbytes, osmem.mapped_ready) == (0, 0)
    # The reservation minus the 4 MiB unmapped is still there: 60 MiB of VmSize.
    assert p.statistics().vm_size_kb - base.vm_size_kb == 60 * 1024


def test_a_go_heap_reservation_has_no_heap_line(osmem: OSMemory) -> None:
    # Go never calls brk: its heap is an mmap region at 0xc000000000.
    v = osmem.sys_reserve(HINT, ARENA)
    osmem.sys_map(v, ARENA, SysMemStat("HeapSys"))
    maps = osmem.process.maps()
    assert "[heap]" not in maps
    assert "c000000000-c004000000 rw-p 00000000 00:00 0 " in maps


def test_reserve_away_from_a_taken_hint(osmem: OSMemory) -> None:
    first = osmem.sys_reserve(HINT, ARENA)
    second = osmem.sys_reserve(HINT, ARENA)  # taken: Linux places it elsewhere
    assert first == HINT and second not in (0, HINT)


def test_madvdontneed_0_uses_madv_free_and_keeps_rss() -> None:
    osmem = OSMemory(Machine().spawn("go"), madvdontneed=False)
    p = osmem.process
    v = osmem.sys_alloc(MiB, SysMemStat("OtherSys"))
    p.write(v, b"\x02" * MiB)
    rss = p.statistics().vm_rss_kb
    osmem.sys_unused(v, MiB)
    # MADV_FREE: the frames stay (and count in RSS) until the machine runs short.
    assert p.statistics().vm_rss_kb == rss


def test_unaligned_sys_unused_throws(osmem: OSMemory) -> None:
    v = osmem.sys_alloc(MiB, SysMemStat("OtherSys"))
    with pytest.raises(RuntimeThrow, match="unaligned sysUnused"):
        osmem.sys_unused(v + 8, 4096)


def test_a_stat_never_goes_negative() -> None:
    with pytest.raises(RuntimeThrow):
        SysMemStat("HeapSys").add(-1)


def test_sys_fault_makes_ready_memory_fault(osmem: OSMemory) -> None:
    v = osmem.sys_alloc(MiB, SysMemStat("OtherSys"))
    osmem.sys_fault(v, MiB)
    with pytest.raises(SegmentationFault):
        osmem.process.store8(v, 1)
    assert osmem.mapped_ready == 0


def test_huge_page_advice_covers_only_whole_huge_pages(osmem: OSMemory) -> None:
    v = osmem.sys_reserve(HINT, ARENA)
    osmem.sys_map(v, ARENA, SysMemStat("HeapSys"))
    # [v + 1 MiB, v + 5 MiB): the only whole 2 MiB-aligned pages are [v+2, v+4) MiB.
    osmem.sys_huge_page(v + MiB, 4 * MiB)
    starts = [
        (vma.start - v, vma.end - v) for vma in osmem.process.mm.vmas if v <= vma.start < v + ARENA
    ]
    assert starts == [(0, 2 * MiB), (2 * MiB, 4 * MiB), (4 * MiB, ARENA)]
