"""Physical memory: 4 KiB frames, a frame allocator and the shared zero page.

Models the page allocator's contract as anonymous memory sees it
(mm/page_alloc.c, seen from mm/memory.c): a fault asks for one zeroed frame
and gets it, or the machine is out of memory and the OOM killer runs.

Frames are numbered by pfn. pfn 0 is the shared zero page: always "resident",
all zeroes, never writable, never counted in anyone's RSS. Other frames are
handed out by a bump pointer plus a LIFO free list, so a machine with tens of
GiB costs nothing until frames are used. A frame holds bytes (a bytearray)
only once it is materialised, i.e. first written; an allocated but never
written frame reads as zeroes. Page-table pages are frames too (allocated and
counted here) but never materialised: their entries live in Python lists.

Invariants:
    1 <= pfn < total_frames for every allocated frame
    used_frames == (next_pfn - 1) - len(free_list)
    materialised ⊆ allocated

Simplified: no zones, no buddy orders, no per-cpu lists, no reserves for
the kernel itself; every frame is equally good.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import MachineError
from .stats import PhysicalStatus

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT  # 4096
PAGE_MASK = ~(PAGE_SIZE - 1)
ZERO_PFN = 0  # the shared zero page

# The zero page's bytes. A memoryview of immutable bytes: a store through it
# would raise, which is the point: only the fault handler may replace it.
ZERO_PAGE = memoryview(bytes(PAGE_SIZE))


class NoFreeFrames(MachineError):
    """The frame allocator is empty even after reclaim (the caller OOM-kills)."""


class PhysicalMemory:
    """The machine's RAM as an array of frames."""

    def __init__(self, nbytes: int = 16 << 30) -> None:
        if nbytes < 2 * PAGE_SIZE or nbytes % PAGE_SIZE:
            raise ValueError(
                f"physical memory must be a multiple of 4096 bytes >= 8192, got {nbytes}"
            )
        self.total_frames = nbytes // PAGE_SIZE  # includes the zero page
        self._next_pfn = 1  # bump pointer; pfn 0 is the zero page
        self._free: list[int] = []  # freed pfns, reused last-in first-out
        self._data: dict[int, memoryview] = {}  # pfn -> bytes, for materialised frames
        # Called with a number of frames wanted when the allocator runs dry;
        # each returns how many it freed (MADV_FREE pages are reclaimed so).
        self.reclaimers: list[Callable[[int], int]] = []

    # -- allocation ---------------------------------------------------------

    def alloc(self) -> int:
        """Return the pfn of a free frame that reads as zeroes.

        Raises NoFreeFrames when none is left after asking the reclaimers.
        """
        if self._free:
            return self._free.pop()
        if self._next_pfn < self.total_frames:
            pfn = self._next_pfn
            self._next_pfn += 1
            return pfn
        for reclaim in self.reclaimers:
            if reclaim(1) and self._free:
                return self._free.pop()
        raise NoFreeFrames("physmem.alloc: no free frames")

    def free(self, pfn: int) -> None:
        """Give a frame back; its bytes are dropped, so it reads as zeroes again."""
        if pfn == ZERO_PFN or not 0 < pfn < self._next_pfn:
            raise MachineError(f"physmem.free: bad pfn {pfn}")
        self._data.pop(pfn, None)
        self._free.append(pfn)

    # -- contents -----------------------------------------------------------

    def frame(self, pfn: int) -> memoryview:
        """Writable bytes of an allocated frame, materialising it on first use."""
        mem = self._data.get(pfn)
        if mem is None:
            if pfn == ZERO_PFN:
                raise MachineError("physmem.frame: the zero page is read-only")
            mem = self._data[pfn] = memoryview(bytearray(PAGE_SIZE))
        return mem

    def read_view(self, pfn: int) -> memoryview:
        """Bytes of a frame for reading; a never-written frame reads as the zero page."""
        return self._data.get(pfn, ZERO_PAGE)

    # -- observation --------------------------------------------------------

    @property
    def used_frames(self) -> int:
        return self._next_pfn - 1 - len(self._free)

    @property
    def free_frames(self) -> int:
        return self.total_frames - 1 - self.used_frames

    def statistics(self) -> PhysicalStatus:
        return PhysicalStatus(
            total_frames=self.total_frames,
            used_frames=self.used_frames,
            materialised_frames=len(self._data),
        )

    def check_invariants(self) -> None:
        free = set(self._free)
        if len(free) != len(self._free):
            raise MachineError("physmem.check_invariants: a frame is free twice")
        if any(not 0 < p < self._next_pfn for p in free):
            raise MachineError("physmem.check_invariants: free pfn out of range")
        if any(p in free for p in self._data):
            raise MachineError("physmem.check_invariants: a free frame holds bytes")
        if self._next_pfn > self.total_frames:
            raise MachineError("physmem.check_invariants: bump pointer past the end")
