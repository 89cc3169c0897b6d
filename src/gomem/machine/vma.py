"""Virtual memory areas. Models struct vm_area_struct and the VMA tree of mm/.

A VMA is a page-aligned half-open range [start, end) with one protection and
one set of flags. A process's VMAs are kept sorted by start and never
overlap; Linux keeps them in a maple tree, here a sorted list searched with
bisect (a process has tens to a few hundred VMAs).

Invariants (VmaList.check_invariants):
    start % PAGE_SIZE == 0 and end % PAGE_SIZE == 0 and start < end
    vmas[i].end <= vmas[i + 1].start
    two adjacent anonymous VMAs with equal prot and flags and compatible
        anon_vmas do not touch (they would have been merged, as vma_merge does)

Simplified: only private mappings; "file-backed" VMAs (the executable's
segments) carry a path, device and inode for display but fault in zeroes.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import MachineError
from .physmem import PAGE_SIZE

PROT_NONE = 0x0
PROT_READ = 0x1
PROT_WRITE = 0x2
PROT_EXEC = 0x4

VM_GROWSDOWN = 0x0100  # a stack: grows down on faults below it
VM_ACCOUNT = 0x0010_0000  # counted in the commit charge (private writable memory)
VM_NORESERVE = 0x0020_0000  # MAP_NORESERVE: never charged
VM_HUGEPAGE = 0x2000_0000  # MADV_HUGEPAGE was applied
VM_NOHUGEPAGE = 0x4000_0000  # MADV_NOHUGEPAGE was applied


@dataclass(slots=True, eq=False)  # identity: a VMA is a mutable record
class VMA:
    start: int  # first byte; page-aligned
    end: int  # one past the last byte; page-aligned; start < end
    prot: int  # PROT_* bits
    flags: int = 0  # VM_* bits above
    path: str = ""  # backing file ("" for anonymous memory)
    offset: int = 0  # file offset of `start` (file-backed only)
    dev: tuple[int, int] = (0, 0)  # major, minor of the file's device
    inode: int = 0  # the file's inode
    anon_vma: int = 0  # id of the anon_vma (0: none yet); set by the first write fault,
    # kept by both halves of a split; two VMAs with different non-zero ids never merge

    @property
    def npages(self) -> int:
        return (self.end - self.start) // PAGE_SIZE

    @property
    def anonymous(self) -> bool:
        return not self.path

    @property
    def perms(self) -> str:
        """The rwxp column of /proc/<pid>/maps."""
        p = self.prot
        return (
            ("r" if p & PROT_READ else "-")
            + ("w" if p & PROT_WRITE else "-")
            + ("x" if p & PROT_EXEC else "-")
            + "p"
        )

    def can_merge_after(self, other: VMA) -> bool:
        """True if `other` starts where self ends and both would be one VMA."""
        if self.end != other.start or self.prot != other.prot or self.flags != other.flags:
            return False
        if self.anon_vma and other.anon_vma and self.anon_vma != other.anon_vma:
            return False  # is_mergeable_anon_vma
        if self.anonymous and other.anonymous:
            return True
        return (
            self.path == other.path
            and self.dev == other.dev
            and self.inode == other.inode
            and self.offset + (self.end - self.start) == other.offset
        )

    def split_at(self, va: int) -> VMA:
        """Cut self at va: self keeps [start, va), the returned VMA is [va, end)."""
        if not self.start < va < self.end or va % PAGE_SIZE:
            raise MachineError(f"vma.split_at: {va:#x} not inside [{self.start:#x}, {self.end:#x})")
        tail = VMA(
            va,
            self.end,
            self.prot,
            self.flags,
            self.path,
            self.offset + (va - self.start) if self.path else 0,
            self.dev,
            self.inode,
            self.anon_vma,
        )
        self.end = va
        return tail


class VmaList:
    """A process's VMAs, sorted by start address."""

    def __init__(self) -> None:
        self._vmas: list[VMA] = []
        self._starts: list[int] = []  # invariant: [v.start for v in _vmas]

    def __iter__(self) -> Iterator[VMA]:
        return iter(self._vmas)

    def __len__(self) -> int:
        return len(self._vmas)

    def find(self, va: int) -> VMA | None:
        """The VMA containing va, or None."""
        i = bisect_right(self._starts, va) - 1
        if i >= 0:
            v = self._vmas[i]
            if va < v.end:
                return v
        return None

    def next_after(self, va: int) -> VMA | None:
        """The first VMA that starts above va."""
        i = bisect_right(self._starts, va)
        return self._vmas[i] if i < len(self._vmas) else None

    def prev_before(self, va: int) -> VMA | None:
        """The last VMA that starts at or below va (it may or may not contain va)."""
        i = bisect_right(self._starts, va) - 1
        return self._vmas[i] if i >= 0 else None

    def overlapping(self, start: int, end: int) -> list[VMA]:
        """VMAs that intersect [start, end), in address order."""
        i = max(0, bisect_right(self._starts, start) - 1)
        out = []
        vmas = self._vmas
        while i < len(vmas) and vmas[i].start < end:
            if vmas[i].end > start:
                out.append(vmas[i])
            i += 1
        return out

    def insert(self, vma: VMA) -> None:
        i = bisect_right(self._starts, vma.start)
        self._vmas.insert(i, vma)
        self._starts.insert(i, vma.start)

    def remove(self, vma: VMA) -> None:
        i = bisect_right(self._starts, vma.start) - 1
        if i < 0 or self._vmas[i] is not vma:
            raise MachineError(f"vma.remove: no VMA at {vma.start:#x}")
        del self._vmas[i]
        del self._starts[i]

    def split(self, vma: VMA, va: int) -> VMA:
        """Split a listed VMA at va and list the tail; return the tail."""
        tail = vma.split_at(va)
        self.insert(tail)
        return tail

    def merge_around(self, vma: VMA) -> VMA:
        """Merge a listed VMA with mergeable neighbours (vma_merge); return the result.

        The previous VMA is tried first, then the next one against the result,
        so prev and next with different anon_vmas are never joined.
        """
        i = bisect_right(self._starts, vma.start) - 1
        vmas = self._vmas
        if i > 0 and vmas[i - 1].can_merge_after(vma):
            prev = vmas[i - 1]
            prev.end = vma.end
            prev.anon_vma = prev.anon_vma or vma.anon_vma
            del vmas[i]
            del self._starts[i]
            vma, i = prev, i - 1
        if i + 1 < len(vmas) and vma.can_merge_after(vmas[i + 1]):
            nxt = vmas[i + 1]
            vma.end = nxt.end
            vma.anon_vma = vma.anon_vma or nxt.anon_vma
            del vmas[i + 1]
            del self._starts[i + 1]
        return vma

    def check_invariants(self) -> None:
        prev: VMA | None = None
        if self._starts != [v.start for v in self._vmas]:
            raise MachineError("vma.check_invariants: start index out of date")
        for v in self._vmas:
            if v.start % PAGE_SIZE or v.end % PAGE_SIZE or v.start >= v.end:
                raise MachineError(f"vma.check_invariants: bad range [{v.start:#x}, {v.end:#x})")
            if prev is not None:
                if prev.end > v.start:
                    raise MachineError(f"vma.check_invariants: overlap at {v.start:#x}")
                if prev.anonymous and prev.can_merge_after(v):
                    raise MachineError(f"vma.check_invariants: unmerged neighbours at {v.start:#x}")
            prev = v
