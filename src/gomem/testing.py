"""The one door through which tests reach internals (like Go's export_test.go).

Tests import private state only from here, so a change of internals breaks
this file and not a hundred tests. Nothing in gomem imports this module.
"""

from __future__ import annotations

from collections.abc import Callable

from gomem.machine.mm import TASK_SIZE, AddressSpace
from gomem.machine.pagetable import PTE_PRESENT, Table, pte_pfn
from gomem.machine.physmem import PAGE_SHIFT, ZERO_PFN, PhysicalMemory


def free_list(physmem: PhysicalMemory) -> list[int]:
    """Freed pfns waiting for reuse, next to be handed out last."""
    return list(physmem._free)


def materialised_pfns(physmem: PhysicalMemory) -> set[int]:
    """Frames that hold bytes."""
    return set(physmem._data)


def page_table_pages(mm: AddressSpace) -> dict[int, Table]:
    """Every page-table page of mm by pfn, the PML4 included."""
    return dict(mm.pt._tables)


def leaf_ptes(mm: AddressSpace) -> dict[int, int]:
    """vpn -> leaf PTE for every non-empty leaf entry, read from the tables themselves."""
    return dict(mm.pt.present_in(0, TASK_SIZE >> PAGE_SHIFT))


def recount_rss_pages(mm: AddressSpace) -> int:
    """Frames mapped by mm, recounted from the page tables (not from rss_pages)."""
    return sum(1 for pte in leaf_ptes(mm).values() if pte_pfn(pte) != ZERO_PFN)


def present_vpns(mm: AddressSpace) -> set[int]:
    """Pages whose PTE is present (PROT_NONE pages keep a frame but are not present)."""
    return {vpn for vpn, pte in leaf_ptes(mm).items() if pte & PTE_PRESENT}


class Runaway(Exception):
    """Code under test kept reading memory long after any search should have ended."""


def bound_reads(obj: object, names: tuple[str, ...], limit: int) -> None:
    """Replace obj's read functions `names` so that together they raise Runaway
    after `limit` calls: a loop that never ends fails the test instead of
    hanging it. Patch before the code under test binds the functions.
    """
    count = 0

    def counted(read: Callable[[int], int]) -> Callable[[int], int]:
        def bounded(va: int) -> int:
            nonlocal count
            count += 1
            if count > limit:
                raise Runaway(f"more than {limit} reads")
            return read(va)

        return bounded

    for name in names:
        setattr(obj, name, counted(getattr(obj, name)))
