"""Probe the real Linux kernel's demand paging of anonymous private memory.

The model claims that mapping memory costs nothing until it is touched. This
module checks that claim on the kernel the tests run on, in the same figures
the model reports (`MemoryReading`: VmSize, RssAnon, minor faults):

* `mmap(MAP_PRIVATE | MAP_ANONYMOUS)` only creates a VMA: VmSize grows by the
  full length, RssAnon does not move and no page is faulted in.
* The first *read* of an untouched page takes a minor fault that maps the
  shared zero page read-only. The zero page is not counted in RssAnon, so the
  fault count grows by one per page while RSS stays flat.
* The first *write* to a page allocates a private frame: a minor fault and
  +4 kB of RssAnon, whether the page was untouched or mapped to the zero page
  (copy-on-write from the zero page).
* `munmap` frees the frames and removes the VMA: VmSize and RssAnon both drop
  by the full length.

The mapping must be MAP_PRIVATE: Python's default anonymous mmap is
MAP_SHARED, which the kernel backs with shmem and reports as RssShmem, not
RssAnon. Transparent huge pages (of any size) are turned off for the mapping
with MADV_NOHUGEPAGE so that one fault maps exactly one 4 KiB page.
"""

from __future__ import annotations

import mmap
import resource

from gomem.machine.experiments import (
    DEFAULT_DEMAND_PAGING_BYTES,
    DEMAND_PAGING_PHASES,
    Phase,
    check_demand_paging_size,
)
from gomem.machine.physmem import PAGE_SIZE  # the model's page: the kernel's must match
from gomem.machine.procfs import parse_status
from gomem.machine.stats import MemoryReading

__all__ = ["DEMAND_PAGING_PHASES", "Phase", "probe_demand_paging", "read_self_status", "reading"]


_STATUS_PATH = "/proc/self/status"


def read_self_status() -> dict[str, int]:
    """Return the kB fields of /proc/self/status (VmSize, VmRSS, RssAnon, ...)."""
    with open(_STATUS_PATH, encoding="utf-8", errors="replace") as status:
        return parse_status(status.read())


def reading() -> MemoryReading:
    """Take one reading of this process: VmSize, RssAnon and minor faults so far."""
    status = read_self_status()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return MemoryReading(
        vm_size_kb=status["VmSize"],
        rss_anon_kb=status["RssAnon"],
        minor_faults=usage.ru_minflt,
    )


def _check_page_size() -> None:
    # Both views of the page size must agree, and the expected figures are per 4 KiB page.
    sizes = {mmap.PAGESIZE, resource.getpagesize()}
    if sizes != {PAGE_SIZE}:
        raise RuntimeError(
            f"demand-paging probe assumes {PAGE_SIZE}-byte pages, "
            f"but this system reports {sorted(sizes)}"
        )


def probe_demand_paging(nbytes: int = DEFAULT_DEMAND_PAGING_BYTES) -> list[Phase]:
    """Map `nbytes` of private anonymous memory, touch it in phases, and read after each.

    Returns one Phase per name in DEMAND_PAGING_PHASES. `nbytes` must be a
    positive multiple of two pages, so that each half is whole pages.
    """
    check_demand_paging_size(nbytes)
    _check_page_size()

    half = nbytes // 2
    # Built before the first reading so that no phase allocates: range objects
    # are lazy, and the ints they yield are freed at once and their memory reused.
    first_half = range(0, half, PAGE_SIZE)
    second_half = range(half, nbytes, PAGE_SIZE)
    phases: list[Phase] = []
    # A throwaway reading first, so the allocator has already grown whatever
    # reading() needs and the "start" figures are not disturbed by it later.
    reading()

    phases.append(Phase("start", reading()))

    m = mmap.mmap(
        -1,
        nbytes,
        flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
        prot=mmap.PROT_READ | mmap.PROT_WRITE,
    )
    try:
        # Without this, a THP-enabled kernel may back the range with 2 MiB (or
        # multi-size) folios, and one fault would populate many pages.
        m.madvise(mmap.MADV_NOHUGEPAGE)
        phases.append(Phase("mmap", reading()))

        for offset in first_half:
            m[offset]  # the read itself is the point: it maps the zero page
        phases.append(Phase("read first half", reading()))

        for offset in first_half:
            m[offset] = 1
        phases.append(Phase("write first half", reading()))

        for offset in second_half:
            m[offset] = 1
        phases.append(Phase("write second half", reading()))
    finally:
        m.close()  # munmap
    phases.append(Phase("munmap", reading()))
    return phases
