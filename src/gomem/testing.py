"""The one door through which tests reach internals (like Go's export_test.go).

Tests import private state only from here, so a change of internals breaks
this file and not a hundred tests. Nothing in gomem imports this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from gomem.machine.mm import TASK_SIZE, AddressSpace
from gomem.machine.pagetable import PTE_PRESENT, Table, pte_pfn
from gomem.machine.physmem import PAGE_SHIFT, ZERO_PFN, PhysicalMemory
from gomem.runtime.mpagealloc import (
    MIN_OFF_ADDR,
    SUMMARY_LEVELS,
    PageAlloc,
    ScavengeIndex,
    chunk_base,
    chunk_index,
)
from gomem.runtime.mpallocbits import PALLOC_CHUNK_BYTES, PALLOC_CHUNK_PAGES, PallocBits
from gomem.runtime.msize import PAGE_SIZE


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


# -- the page allocator (Go's export_test.go: NewPageAlloc and friends) --------

BitRanges = Sequence[tuple[int, int]]  # (first bit, number of bits) pairs

# export_test.go BaseChunkIdx: the chunk at 0xc000 chunks (192 GiB), the
# address Go's page-allocator tests build their fake heaps around.
BASE_CHUNK_IDX = chunk_index(0xC000 * PALLOC_CHUNK_BYTES)


def page_base(ci: int, page_idx: int) -> int:
    """export_test.go PageBase: the address of page page_idx of chunk ci."""
    return chunk_base(ci) + page_idx * PAGE_SIZE


def make_palloc_bits(ranges: BitRanges) -> PallocBits:
    """A bitmap with the given ranges set (mpallocbits_test.go makePallocBits)."""
    b = PallocBits()
    for i, n in ranges:
        b.alloc_range(i, n)
    return b


def new_page_alloc(
    chunks: Mapping[int, BitRanges], scav: Mapping[int, BitRanges] | None
) -> PageAlloc:
    """export_test.go NewPageAlloc: a test-mode PageAlloc grown by one chunk for
    each key of `chunks`, with those ranges in use. With `scav`, the given
    ranges are scavenged (then cleared where in use); without, nothing is.
    The scavenge index sees each chunk as allocated and freed whole first."""
    p = PageAlloc(test=True)
    for ci, init in chunks.items():
        addr = chunk_base(ci)
        p.grow(addr, PALLOC_CHUNK_BYTES)
        chunk = p.chunk(ci)
        chunk.scavenged.clear_range(0, PALLOC_CHUNK_PAGES)
        p.scav_index.alloc(ci, PALLOC_CHUNK_PAGES)
        p.scav_index.free(ci, 0, PALLOC_CHUNK_PAGES)
        if scav is not None:
            for i, n in scav.get(ci, ()):
                if n:
                    chunk.scavenged.set_range(i, n)
        for i, n in init:
            if n:
                chunk.alloc_range(i, n)
                p.scav_index.alloc(ci, n)
        p.update(addr, PALLOC_CHUNK_PAGES, False, False)
    return p


def new_scavenge_index(lo: int, hi: int) -> ScavengeIndex:
    """export_test.go NewScavengeIndex: a bare index over chunks [lo, hi)."""
    return ScavengeIndex(min=lo, max=hi, min_heap_idx=lo, test=True)


def reset_search_addrs(s: ScavengeIndex) -> None:
    """export_test.go ScavengeIndex.ResetSearchAddrs: unmark and clear both cursors."""
    for cursor in (s.search_addr_bg, s.search_addr_force):
        addr, marked = cursor.load()
        if marked:
            cursor.store_unmark(addr, addr)
        cursor.clear()
    s.free_hwm = MIN_OFF_ADDR


def summaries(p: PageAlloc) -> list[dict[int, tuple[int, int, int]]]:
    """Every stored summary, level by level: index -> (start, max, end)."""
    return [{i: p.summary(level, i) for i in p._summary[level]} for level in range(SUMMARY_LEVELS)]


def chunks_l2_blocks(p: PageAlloc) -> dict[int, int]:
    """L1 index -> address of the chunk map's second-level block (0 without an OS)."""
    return dict(p._chunks_l2)


def chunk_bitmaps(p: PageAlloc) -> dict[int, tuple[int, int]]:
    """Chunk index -> (alloc bits, scavenged bits) of every grown chunk: what
    mpagealloc_test.go checkPageAlloc compares."""
    return {ci: (d.bits, d.scavenged.bits) for ci, d in sorted(p._chunks.items())}
