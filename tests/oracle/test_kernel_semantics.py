"""Linux behaviours the model claims, checked on the real kernel and on the model.

Each test does the same system calls on this process (through libc, with
ctypes) and on a simulated process, and asserts the outcome the kernel
sources describe on both. Where the kernel's figures carry noise from the
interpreter (a few pages of RSS), the tolerance is stated.
"""

from __future__ import annotations

import ctypes
import errno
import mmap

import pytest

from gomem.machine import (
    MADV_DONTNEED,
    MAP_ANONYMOUS,
    MAP_NORESERVE,
    MAP_PRIVATE,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    Machine,
    SyscallError,
)
from gomem.machine.procfs import parse_maps_line, parse_status

pytestmark = pytest.mark.oracle

PAGE = 4096
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
MAP_FAILED = ctypes.c_void_p(-1).value


def k_mmap(length: int, prot: int = PROT_READ | PROT_WRITE, flags: int = 0) -> int:
    addr = _libc.mmap(None, length, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0)
    if addr == MAP_FAILED:
        raise OSError(ctypes.get_errno(), "mmap")
    _libc.madvise(addr, length, mmap.MADV_NOHUGEPAGE)  # one fault, one 4 KiB page
    return int(addr)


def k_call(fn, *args: int) -> int:
    """0, or the errno the kernel returned."""
    ctypes.set_errno(0)
    return 0 if fn(*args) == 0 else ctypes.get_errno()


def k_status() -> dict[str, int]:
    with open("/proc/self/status") as f:
        return parse_status(f.read())


def k_maps_at(lo: int, hi: int) -> list[str]:
    """Real maps lines of the VMAs inside [lo, hi), formatted back."""
    with open("/proc/self/maps") as f:
        entries = [parse_maps_line(line) for line in f.read().splitlines()]
    return [
        f"{e.start - lo:#x}-{e.end - lo:#x} {e.perms}"
        for e in entries
        if lo <= e.start and e.end <= hi
    ]


def m_maps_at(p, lo: int, hi: int) -> list[str]:
    return [
        f"{v.start - lo:#x}-{v.end - lo:#x} {v.perms}"
        for v in p.mm.vmas
        if lo <= v.start and v.end <= hi
    ]


def test_overcommit_refuses_one_writable_mapping_larger_than_ram() -> None:
    # Mode 0 heuristic (__vm_enough_memory): pages > totalram + swap is refused.
    ram = k_status_meminfo("MemTotal") * 1024
    swap = k_status_meminfo("SwapTotal") * 1024
    size = 2 * (ram + swap)
    with pytest.raises(OSError) as kernel_err:
        k_mmap(size)
    assert kernel_err.value.errno == errno.ENOMEM
    p = Machine(memory_bytes=(ram + swap) // PAGE * PAGE).spawn("t")
    with pytest.raises(SyscallError) as model_err:
        p.mmap(size)
    assert model_err.value.errno == errno.ENOMEM


@pytest.mark.parametrize(
    ("prot", "flags"),
    [(PROT_NONE, 0), (PROT_READ | PROT_WRITE, MAP_NORESERVE)],
    ids=["prot-none-reservation", "map-noreserve"],
)
def test_uncharged_mappings_larger_than_ram_succeed(prot: int, flags: int) -> None:
    ram = k_status_meminfo("MemTotal") * 1024
    size = 2 * ram // PAGE * PAGE
    addr = k_mmap(size, prot, flags)
    assert _libc.munmap(addr, size) == 0
    p = Machine(memory_bytes=ram // PAGE * PAGE).spawn("t")
    p.mmap(size, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags)
    assert p.statistics().vm_rss_kb == 4  # only the stack's argument page


def k_status_meminfo(field: str) -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name == field:
                return int(rest.split()[0])
    raise KeyError(field)


def test_mprotect_over_a_hole_changes_the_part_before_it_then_fails() -> None:
    # mm/mprotect.c: the loop applies VMA by VMA and stops with ENOMEM at the hole.
    k = k_mmap(3 * PAGE)
    assert _libc.munmap(k + PAGE, PAGE) == 0
    assert k_call(_libc.mprotect, k, 3 * PAGE, PROT_READ) == errno.ENOMEM
    kernel = k_maps_at(k, k + 3 * PAGE)
    _libc.munmap(k, 3 * PAGE)

    p = Machine().spawn("t")
    m = p.mmap(3 * PAGE)
    p.munmap(m + PAGE, PAGE)
    with pytest.raises(SyscallError) as err:
        p.mprotect(m, 3 * PAGE, PROT_READ)
    assert err.value.errno == errno.ENOMEM
    model = m_maps_at(p, m, m + 3 * PAGE)
    assert kernel == model == ["0x0-0x1000 r--p", "0x2000-0x3000 rw-p"]


def test_madvise_dontneed_over_a_hole_zaps_the_mapped_parts_then_fails() -> None:
    # mm/madvise.c madvise_walk_vmas: holes give ENOMEM after the advice is applied.
    k = k_mmap(3 * PAGE)
    ctypes.memset(k, 7, 3 * PAGE)
    assert _libc.munmap(k + PAGE, PAGE) == 0
    assert k_call(_libc.madvise, k, 3 * PAGE, MADV_DONTNEED) == errno.ENOMEM
    kernel = (ctypes.string_at(k, 1), ctypes.string_at(k + 2 * PAGE, 1))
    _libc.munmap(k, 3 * PAGE)

    p = Machine().spawn("t")
    m = p.mmap(3 * PAGE)
    p.write(m, b"\x07" * 3 * PAGE)
    p.munmap(m + PAGE, PAGE)
    with pytest.raises(SyscallError) as err:
        p.madvise(m, 3 * PAGE, MADV_DONTNEED)
    assert err.value.errno == errno.ENOMEM
    model = (p.read(m, 1), p.read(m + 2 * PAGE, 1))
    assert kernel == model == (b"\x00", b"\x00")


def test_munmap_in_the_middle_splits_a_vma_in_two() -> None:
    k = k_mmap(3 * PAGE)
    assert _libc.munmap(k + PAGE, PAGE) == 0
    kernel = k_maps_at(k, k + 3 * PAGE)
    _libc.munmap(k, 3 * PAGE)
    p = Machine().spawn("t")
    m = p.mmap(3 * PAGE)
    p.munmap(m + PAGE, PAGE)
    assert kernel == m_maps_at(p, m, m + 3 * PAGE) == ["0x0-0x1000 rw-p", "0x2000-0x3000 rw-p"]


def _aligned_region(length: int, align: int, mapper) -> int:
    """A mapping of length + align bytes; returns its first align-aligned address."""
    base = mapper(length + align)
    return (base + align - 1) // align * align


def test_dontneed_frees_rss_and_emptied_page_tables() -> None:
    # 64 MiB aligned to 2 MiB is exactly 32 last-level tables (each maps 2 MiB):
    # writing it costs 16384 pages = 65536 kB of RSS and 32 * 4 kB = 128 kB of VmPTE;
    # MADV_DONTNEED gives back all the RSS and, with PT reclaim (Linux >= 6.14), the tables.
    size, two_mib = 64 << 20, 2 << 20
    k = _aligned_region(size, two_mib, k_mmap)
    ctypes.memset(k, 1, size)
    before = k_status()
    assert k_call(_libc.madvise, k, size, MADV_DONTNEED) == 0
    after = k_status()
    zero_after = ctypes.string_at(k + 12345, 1)

    p = Machine().spawn("t")
    m = _aligned_region(size, two_mib, p.mmap)
    p.touch(m, size, write=True)
    mb = p.statistics()
    p.madvise(m, size, MADV_DONTNEED)
    ma = p.statistics()

    assert ma.rss_anon_kb - mb.rss_anon_kb == -65536
    assert abs((after["RssAnon"] - before["RssAnon"]) - -65536) <= 256  # interpreter noise
    assert ma.vm_pte_kb - mb.vm_pte_kb == -128
    assert after["VmPTE"] - before["VmPTE"] == -128
    assert zero_after == p.read(m + 12345, 1) == b"\x00"


def test_prot_none_keeps_the_frames_resident() -> None:
    # change_pte_range makes the PTEs PROT_NONE but leaves the pages mapped: RSS stays.
    n = 256
    k = k_mmap(n * PAGE)
    ctypes.memset(k, 1, n * PAGE)
    before = k_status()["RssAnon"]
    assert _libc.mprotect(k, n * PAGE, PROT_NONE) == 0
    after = k_status()["RssAnon"]
    _libc.munmap(k, n * PAGE)

    p = Machine().spawn("t")
    m = p.mmap(n * PAGE)
    p.touch(m, n * PAGE, write=True)
    mb = p.statistics().rss_anon_kb
    p.mprotect(m, n * PAGE, PROT_NONE)
    assert p.statistics().rss_anon_kb == mb
    assert abs(after - before) <= 64  # no 1024 kB drop: the 256 pages stayed


@pytest.mark.parametrize("size", [2 << 20, 64 << 20], ids=["2MiB", "64MiB"])
def test_hintless_mappings_of_whole_2_mib_multiples_are_2_mib_aligned(size: int) -> None:
    # Linux >= 6.7 (__get_unmapped_area -> thp_get_unmapped_area): pad by 2 MiB, align inside.
    addrs = [k_mmap(size) for _ in range(3)]
    for a in addrs:
        _libc.munmap(a, size)
    assert all(a % (2 << 20) == 0 for a in addrs)
    p = Machine().spawn("t")
    assert all(p.mmap(size) % (2 << 20) == 0 for _ in range(3))
