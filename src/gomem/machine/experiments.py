"""Experiments that run the same way on the model and on the real kernel.

gomem.oracle.kernel runs each one on the real machine; the functions here
run it on a simulated process. Both return one `Phase` per step, each with a
`MemoryReading` taken right after the step, so the two line up row by row.
"""

from __future__ import annotations

from dataclasses import dataclass

from .mm import MADV_NOHUGEPAGE
from .physmem import PAGE_SIZE
from .process import Machine
from .stats import MemoryReading

DEFAULT_DEMAND_PAGING_BYTES = 64 << 20

# Demand paging of anonymous private memory, in order; each Phase holds the
# reading taken after it.
DEMAND_PAGING_PHASES = (
    "start",
    "mmap",
    "read first half",
    "write first half",
    "write second half",
    "munmap",
)


@dataclass(frozen=True, slots=True)
class Phase:
    """One step of an experiment and the reading taken right after it."""

    name: str
    after: MemoryReading


def check_demand_paging_size(nbytes: int) -> None:
    """Both halves must be whole pages."""
    if nbytes <= 0 or nbytes % (2 * PAGE_SIZE) != 0:
        raise ValueError(
            f"size must be a positive multiple of {2 * PAGE_SIZE} bytes (two {PAGE_SIZE}-byte "
            f"pages, so each half is whole pages), got {nbytes}"
        )


def demand_paging(nbytes: int = DEFAULT_DEMAND_PAGING_BYTES) -> list[Phase]:
    """mmap nbytes, read the first half, write it, write the rest, munmap: on the model."""
    check_demand_paging_size(nbytes)
    p = Machine().spawn("probe")
    half = nbytes // 2
    phases = [Phase("start", p.reading())]
    addr = p.mmap(nbytes)
    p.madvise(addr, nbytes, MADV_NOHUGEPAGE)  # as the probe does; no effect on 4 KiB pages
    phases.append(Phase("mmap", p.reading()))
    p.touch(addr, half)
    phases.append(Phase("read first half", p.reading()))
    p.touch(addr, half, write=True)
    phases.append(Phase("write first half", p.reading()))
    p.touch(addr + half, half, write=True)
    phases.append(Phase("write second half", p.reading()))
    p.munmap(addr, nbytes)
    phases.append(Phase("munmap", p.reading()))
    return phases


def deltas(phases: list[Phase]) -> list[tuple[str, MemoryReading]]:
    """Each phase's change from the one before (the first phase is skipped)."""
    out = []
    for before, after in zip(phases, phases[1:], strict=False):
        a, b = after.after, before.after
        out.append(
            (
                after.name,
                MemoryReading(
                    a.vm_size_kb - b.vm_size_kb,
                    a.rss_anon_kb - b.rss_anon_kb,
                    a.minor_faults - b.minor_faults,
                ),
            )
        )
    return out
