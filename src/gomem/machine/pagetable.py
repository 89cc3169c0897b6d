"""Four-level x86-64 page tables. Models arch/x86 paging as Linux uses it.

A 48-bit canonical virtual address splits into four 9-bit table indexes and
a 12-bit page offset:

    47..39  PML4 index   (pgd)
    38..30  PDPT index   (pud)
    29..21  PD index     (pmd)
    20..12  PT index     (pte)
    11..0   offset in the 4 KiB page

Each table is one frame of 512 eight-byte entries. An entry is an int with
the hardware's bit layout:

    bit 0  P   present          bit 5  A  accessed (set on any access)
    bit 1  RW  writable         bit 6  D  dirty (set on a write)
    bit 2  US  user-accessible  bit 8  Linux's _PAGE_PROTNONE (P clear, page kept)
    51..12 pfn of the next table or of the page's frame

Every table page is a frame of PhysicalMemory (so it is charged, and the
PDPT/PD/PT pages add up to the kernel's VmPTE; the PML4 is not counted, as
in Linux's mm_pgtables_bytes). A table's entries live in a Python list
instead of the frame's bytes.

Invariants:
    table.used == number of non-zero entries in table.entries
    a non-leaf entry is non-zero iff it points to a live table (P|RW|US|A|D)
    empty tables below the PML4 exist only until free_empty_tables runs

Simplified: 4 KiB pages only (no 2 MiB/1 GiB leaf entries, so no THP);
no NX, PAT, PCD/PWT or global bits; no 5-level paging.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .errors import MachineError
from .physmem import PAGE_SHIFT, PhysicalMemory

PTE_PRESENT = 1 << 0
PTE_WRITABLE = 1 << 1
PTE_USER = 1 << 2
PTE_ACCESSED = 1 << 5
PTE_DIRTY = 1 << 6
PTE_PROTNONE = 1 << 8
PTE_PFN_MASK = ((1 << 52) - 1) & ~((1 << PAGE_SHIFT) - 1)  # bits 51..12

# What Linux puts in a non-leaf entry (_PAGE_TABLE).
TABLE_ENTRY_FLAGS = PTE_PRESENT | PTE_WRITABLE | PTE_USER | PTE_ACCESSED | PTE_DIRTY

LEVEL_NAMES = ("PML4", "PDPT", "PD", "PT")
LEVEL_SHIFTS = (39, 30, 21, 12)  # va bit where each level's index starts
ENTRIES = 512
USER_VA_END = 1 << 47  # first non-user (and here non-canonical) address


def pte_pfn(entry: int) -> int:
    return (entry & PTE_PFN_MASK) >> PAGE_SHIFT


def is_canonical(va: int) -> bool:
    """Bits 63..47 all equal: the address can be translated at all."""
    top = va >> 47
    return top == 0 or top == (1 << 17) - 1


def describe_entry(entry: int) -> str:
    """Flags of an entry in words, e.g. 'P RW US A D pfn=0x1234'."""
    if entry == 0:
        return "none"
    bits = [
        name
        for bit, name in (
            (PTE_PRESENT, "P"),
            (PTE_WRITABLE, "RW"),
            (PTE_USER, "US"),
            (PTE_ACCESSED, "A"),
            (PTE_DIRTY, "D"),
            (PTE_PROTNONE, "PROTNONE"),
        )
        if entry & bit
    ]
    return f"{' '.join(bits) or '-'} pfn={pte_pfn(entry):#x}"


class Table:
    """One page-table page: 512 entries held in the frame `pfn`."""

    __slots__ = ("pfn", "level", "entries", "used")

    def __init__(self, pfn: int, level: int) -> None:
        self.pfn = pfn  # the frame this table occupies
        self.level = level  # 0 = PML4 … 3 = PT
        self.entries = [0] * ENTRIES
        self.used = 0  # invariant: == count of non-zero entries


@dataclass(frozen=True, slots=True)
class WalkStep:
    """One level of a page walk, for printing."""

    level: str  # "PML4", "PDPT", "PD" or "PT"
    table_pfn: int  # frame of the table read at this level
    index: int  # 9-bit index taken from the address
    entry: int  # the 8-byte entry found there (0: none)


class PageTable:
    """A process's page tables (its mm->pgd and everything below).

    Leaf operations take a virtual page number (vpn = va >> 12).
    """

    def __init__(self, physmem: PhysicalMemory) -> None:
        self._physmem = physmem
        self._tables: dict[int, Table] = {}  # pfn -> table
        self.root = self._new_table(0)  # the PML4; CR3 holds root.pfn
        self.table_pages = [1, 0, 0, 0]  # live tables per level

    def _new_table(self, level: int) -> Table:
        t = Table(self._physmem.alloc(), level)
        self._tables[t.pfn] = t
        return t

    @property
    def nr_pgtable_pages(self) -> int:
        """PDPT + PD + PT pages: what Linux's VmPTE counts (the PML4 is not)."""
        return self.table_pages[1] + self.table_pages[2] + self.table_pages[3]

    # -- leaf access (the fault handler's and the TLB-miss path) -------------

    def lookup(self, vpn: int) -> int:
        """The leaf entry for vpn, or 0 if any level is missing."""
        t = self.root
        tables = self._tables
        for shift in (27, 18, 9):
            e = t.entries[(vpn >> shift) & 511]
            if not e:
                return 0
            t = tables[(e & PTE_PFN_MASK) >> PAGE_SHIFT]
        return t.entries[vpn & 511]

    def _leaf_table(self, vpn: int, create: bool) -> Table | None:
        t = self.root
        for level, shift in ((1, 27), (2, 18), (3, 9)):
            i = (vpn >> shift) & 511
            e = t.entries[i]
            if not e:
                if not create:
                    return None
                child = self._new_table(level)
                self.table_pages[level] += 1
                t.entries[i] = (child.pfn << PAGE_SHIFT) | TABLE_ENTRY_FLAGS
                t.used += 1
                t = child
            else:
                t = self._tables[(e & PTE_PFN_MASK) >> PAGE_SHIFT]
        return t

    def set(self, vpn: int, entry: int) -> int:
        """Write the leaf entry for vpn (allocating tables as needed); return the old one.

        May raise NoFreeFrames if a table page is needed and none is left.
        """
        t = self._leaf_table(vpn, create=bool(entry))
        if t is None:
            return 0
        i = vpn & 511
        old = t.entries[i]
        t.entries[i] = entry
        t.used += bool(entry) - bool(old)
        return old

    def present_in(self, lo_vpn: int, hi_vpn: int) -> Iterator[tuple[int, int]]:
        """(vpn, entry) for every non-zero leaf entry with lo_vpn <= vpn < hi_vpn.

        Descends only into tables that exist, so a sparse range is cheap.
        The caller may rewrite entries of pages already yielded.
        """
        if lo_vpn >= hi_vpn:
            return
        yield from self._present(self.root, 0, lo_vpn, hi_vpn)

    def _present(self, t: Table, base: int, lo: int, hi: int) -> Iterator[tuple[int, int]]:
        span = 1 << (9 * (3 - t.level))  # pages covered by one entry
        first = max(0, (lo - base) // span)
        last = min(ENTRIES - 1, (hi - 1 - base) // span)
        entries = t.entries
        if t.level == 3:
            for i in range(first, last + 1):
                e = entries[i]
                if e:
                    yield base + i, e
            return
        for i in range(first, last + 1):
            e = entries[i]
            if e:
                child = self._tables[(e & PTE_PFN_MASK) >> PAGE_SHIFT]
                if child.used:
                    yield from self._present(child, base + i * span, lo, hi)

    def zap(self, lo_vpn: int, hi_vpn: int) -> list[tuple[int, int]]:
        """Clear every leaf entry in [lo_vpn, hi_vpn); return the (vpn, old entry) pairs.

        Table pages stay (free_empty_tables decides about them).
        """
        out = list(self.present_in(lo_vpn, hi_vpn))
        for vpn, _ in out:
            t = self._leaf_table(vpn, create=False)
            assert t is not None
            t.entries[vpn & 511] = 0
            t.used -= 1
        return out

    def free_empty_tables(
        self, lo_vpn: int, hi_vpn: int, levels: int, floor_vpn: int, ceiling_vpn: int
    ) -> int:
        """Free empty table pages below the PML4 that serve [lo_vpn, hi_vpn).

        A table page goes only if it maps nothing and everything it could map
        lies inside [floor_vpn, ceiling_vpn), so it serves no other VMA:
        munmap passes the neighbouring VMAs' edges and levels=3 (PT, PD and
        PDPT pages, as free_pgtables does); MADV_DONTNEED passes the zapped
        range itself and levels=1 (PT pages it covered whole, as PT reclaim
        does). Returns the number of table pages freed.
        """
        if lo_vpn >= hi_vpn:
            return 0
        return self._free_empty(self.root, 0, lo_vpn, hi_vpn, 4 - levels, floor_vpn, ceiling_vpn)

    def _free_empty(
        self, t: Table, base: int, lo: int, hi: int, min_level: int, floor: int, ceiling: int
    ) -> int:
        span = 1 << (9 * (3 - t.level))
        first = max(0, (lo - base) // span)
        last = min(ENTRIES - 1, (hi - 1 - base) // span)
        freed = 0
        for i in range(first, last + 1):
            e = t.entries[i]
            if not e:
                continue
            child = self._tables[(e & PTE_PFN_MASK) >> PAGE_SHIFT]
            child_base = base + i * span
            if child.level < 3:
                freed += self._free_empty(child, child_base, lo, hi, min_level, floor, ceiling)
            if (
                child.used == 0
                and child.level >= min_level
                and floor <= child_base
                and child_base + span <= ceiling
            ):
                del self._tables[child.pfn]
                self._physmem.free(child.pfn)
                self.table_pages[child.level] -= 1
                t.entries[i] = 0
                t.used -= 1
                freed += 1
        return freed

    def release_all(self) -> None:
        """Free every table page (at process exit)."""
        for pfn in self._tables:
            self._physmem.free(pfn)
        self._tables.clear()
        self.table_pages = [0, 0, 0, 0]

    # -- printing -----------------------------------------------------------

    def walk(self, va: int) -> list[WalkStep]:
        """The walk the MMU does for va, stopping at the first missing entry."""
        steps = []
        t: Table | None = self.root
        for level, shift in enumerate(LEVEL_SHIFTS):
            assert t is not None
            i = (va >> shift) & 511
            e = t.entries[i]
            steps.append(WalkStep(LEVEL_NAMES[level], t.pfn, i, e))
            if level == 3 or not e:
                break
            t = self._tables[pte_pfn(e)]
        return steps

    def check_invariants(self) -> None:
        counts = [0, 0, 0, 0]
        for pfn, t in self._tables.items():
            counts[t.level] += 1
            if t.pfn != pfn:
                raise MachineError("pagetable.check_invariants: table filed under the wrong pfn")
            if t.used != sum(1 for e in t.entries if e):
                raise MachineError(f"pagetable.check_invariants: used count wrong in {pfn:#x}")
            if t.level < 3:
                for e in t.entries:
                    if e and (e & ~PTE_PFN_MASK) != TABLE_ENTRY_FLAGS:
                        raise MachineError("pagetable.check_invariants: bad non-leaf entry")
                    if e and pte_pfn(e) not in self._tables:
                        raise MachineError("pagetable.check_invariants: dangling table pointer")
        if counts != self.table_pages:
            raise MachineError("pagetable.check_invariants: table page counts drifted")
