"""The acceptance test: the model's demand paging matches the real kernel's.

The same experiment (gomem.machine.experiments: mmap 64 MiB of private
anonymous memory, read one byte per page of the first half, write it, write
the second half, munmap) runs on the real kernel
(gomem.oracle.kernel.probe_demand_paging) and on the model
(gomem.machine.experiments.demand_paging); the change of VmSize, RssAnon and
minor faults after each phase is compared.

Hand calculation, 4 KiB pages: 64 MiB = 65536 kB = 16384 pages; each half is
32 MiB = 32768 kB = 8192 pages. The model is exact; the kernel's figures are
this Python process's own, so they carry a little noise from the interpreter
(a few pages of RSS, a few faults), hence the tolerances.
"""

from __future__ import annotations

import pytest

from gomem.machine.experiments import DEMAND_PAGING_PHASES, deltas
from gomem.machine.experiments import demand_paging as model_demand_paging
from gomem.machine.stats import MemoryReading
from gomem.oracle.kernel import probe_demand_paging

NBYTES = 64 * 1024 * 1024
TOTAL_KB = NBYTES // 1024  # 65536 kB
HALF_KB = TOTAL_KB // 2  # 32768 kB
HALF_PAGES = NBYTES // 2 // 4096  # 8192 pages

PHASES = DEMAND_PAGING_PHASES[1:]  # deltas() has no row for "start"
WRITE_PHASES = ("write first half", "write second half")
FAULTING_PHASES = ("read first half", *WRITE_PHASES)

# The model's deltas by hand: (VmSize kB, RssAnon kB, minor faults) per phase.
MODEL_BY_HAND = {
    "mmap": MemoryReading(TOTAL_KB, 0, 0),  # +65536 kB of VMA, nothing touched
    "read first half": MemoryReading(0, 0, HALF_PAGES),  # zero page: a fault, no RSS
    "write first half": MemoryReading(0, HALF_KB, HALF_PAGES),  # CoW from the zero page
    "write second half": MemoryReading(0, HALF_KB, HALF_PAGES),  # first touch is a write
    "munmap": MemoryReading(-TOTAL_KB, -TOTAL_KB, 0),  # VMA and all 16384 frames go
}


@pytest.fixture(scope="module")
def model() -> dict[str, MemoryReading]:
    phases = model_demand_paging(NBYTES)
    assert tuple(p.name for p in phases) == DEMAND_PAGING_PHASES
    return dict(deltas(phases))


@pytest.fixture(scope="module")
def kernel() -> dict[str, MemoryReading]:
    """One probe of the real kernel serves every test in this module."""
    phases = probe_demand_paging(NBYTES)
    assert tuple(p.name for p in phases) == DEMAND_PAGING_PHASES
    return dict(deltas(phases))


def within(actual: int, expected: int, fraction: float) -> bool:
    return abs(actual - expected) <= abs(expected) * fraction


# -- the model alone, exactly ----------------------------------------------------


@pytest.mark.parametrize("phase", PHASES, ids=PHASES)
def test_model_figures_match_the_hand_calculation(
    model: dict[str, MemoryReading], phase: str
) -> None:
    assert model[phase] == MODEL_BY_HAND[phase]


def test_model_has_one_delta_per_phase(model: dict[str, MemoryReading]) -> None:
    assert tuple(model) == PHASES


# -- model against kernel ----------------------------------------------------------


@pytest.mark.oracle
@pytest.mark.parametrize("phase", PHASES, ids=PHASES)
def test_vm_size_deltas_are_equal(
    model: dict[str, MemoryReading], kernel: dict[str, MemoryReading], phase: str
) -> None:
    # Address space is exact on both sides: only mmap and munmap change it.
    assert model[phase].vm_size_kb == kernel[phase].vm_size_kb


@pytest.mark.oracle
@pytest.mark.parametrize("phase", WRITE_PHASES, ids=WRITE_PHASES)
def test_writes_add_the_same_rss_within_1_percent(
    model: dict[str, MemoryReading], kernel: dict[str, MemoryReading], phase: str
) -> None:
    m, k = model[phase].rss_anon_kb, kernel[phase].rss_anon_kb
    assert within(k, m, 0.01), f"{phase}: kernel +{k} kB, model +{m} kB"


@pytest.mark.oracle
def test_reads_add_no_rss(
    model: dict[str, MemoryReading], kernel: dict[str, MemoryReading]
) -> None:
    # The zero page is not counted in RssAnon: the model adds nothing; the kernel adds at
    # most what the interpreter allocates meanwhile, far below the 32768 kB of a real copy.
    assert model["read first half"].rss_anon_kb == 0
    assert kernel["read first half"].rss_anon_kb < 1024


@pytest.mark.oracle
@pytest.mark.parametrize("phase", FAULTING_PHASES, ids=FAULTING_PHASES)
def test_one_minor_fault_per_page_touched(
    model: dict[str, MemoryReading], kernel: dict[str, MemoryReading], phase: str
) -> None:
    # 32 MiB / 4 KiB = 8192 pages per phase, one minor fault each.
    assert model[phase].minor_faults == HALF_PAGES
    k = kernel[phase].minor_faults
    assert within(k, HALF_PAGES, 0.05), f"{phase}: kernel {k} faults, expected ~{HALF_PAGES}"
