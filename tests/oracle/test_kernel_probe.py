"""The real kernel's demand paging, measured by gomem.oracle.kernel.

Expected figures come from the kernel's documented behaviour, not from the
model: one page is 4 kB, so 32 MiB is 8192 pages = 32768 kB and 64 MiB is
65536 kB; a read of an untouched anonymous page maps the zero page (one minor
fault, no RSS); the first write allocates one frame (+4 kB RssAnon).
"""

from __future__ import annotations

from itertools import pairwise

import pytest

from gomem.machine.stats import MemoryReading
from gomem.oracle.kernel import (
    DEMAND_PAGING_PHASES,
    probe_demand_paging,
    read_self_status,
)

NBYTES = 64 * 1024 * 1024
TOTAL_KB = NBYTES // 1024  # 65536 kB
HALF_KB = TOTAL_KB // 2  # 32768 kB
HALF_PAGES = NBYTES // 2 // 4096  # 8192 pages


@pytest.fixture(scope="module")
def deltas() -> dict[str, MemoryReading]:
    """Change of each reading from the one before it, keyed by phase name.

    One probe serves every test: the probe maps and touches 64 MiB, so run it once.
    """
    phases = probe_demand_paging(NBYTES)
    assert tuple(p.name for p in phases) == DEMAND_PAGING_PHASES
    result: dict[str, MemoryReading] = {}
    for before, after in pairwise(phases):
        result[after.name] = MemoryReading(
            vm_size_kb=after.after.vm_size_kb - before.after.vm_size_kb,
            rss_anon_kb=after.after.rss_anon_kb - before.after.rss_anon_kb,
            minor_faults=after.after.minor_faults - before.after.minor_faults,
        )
    return result


def _within_1_percent(actual: int, expected: int) -> bool:
    return abs(actual - expected) <= abs(expected) * 0.01


@pytest.mark.oracle
def test_read_self_status_has_kb_fields() -> None:
    status = read_self_status()
    for name in ("VmSize", "VmRSS", "RssAnon"):
        assert name in status
        assert isinstance(status[name], int)


@pytest.mark.oracle
@pytest.mark.parametrize(
    "nbytes", [0, -8192, 4096, 12345], ids=["zero", "negative", "one-page", "unaligned"]
)
def test_probe_rejects_bad_size(nbytes: int) -> None:
    with pytest.raises(ValueError, match="positive multiple of 8192"):
        probe_demand_paging(nbytes)


@pytest.mark.oracle
def test_mmap_only_creates_a_vma(deltas: dict[str, MemoryReading]) -> None:
    # The whole length is address space at once, exactly; nothing is resident yet.
    assert deltas["mmap"].vm_size_kb == TOTAL_KB


@pytest.mark.oracle
def test_munmap_removes_the_vma(deltas: dict[str, MemoryReading]) -> None:
    assert deltas["munmap"].vm_size_kb == -TOTAL_KB


@pytest.mark.oracle
def test_read_maps_the_zero_page(deltas: dict[str, MemoryReading]) -> None:
    read = deltas["read first half"]
    # The zero page is shared and not counted in RssAnon ...
    assert read.rss_anon_kb < 1024
    # ... but each page read still faults once to map it.
    assert read.minor_faults >= HALF_PAGES * 0.95


@pytest.mark.oracle
def test_write_after_read_allocates_frames(deltas: dict[str, MemoryReading]) -> None:
    # Copy-on-write from the zero page: one private frame per page.
    assert _within_1_percent(deltas["write first half"].rss_anon_kb, HALF_KB)


@pytest.mark.oracle
def test_write_untouched_allocates_frames(deltas: dict[str, MemoryReading]) -> None:
    assert _within_1_percent(deltas["write second half"].rss_anon_kb, HALF_KB)


@pytest.mark.oracle
def test_munmap_frees_the_frames(deltas: dict[str, MemoryReading]) -> None:
    assert _within_1_percent(deltas["munmap"].rss_anon_kb, -TOTAL_KB)
