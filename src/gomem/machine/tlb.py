"""The translation lookaside buffer, and per-page access counters.

Models what Linux must do about the x86 TLB (arch/x86/mm/tlb.c,
flush_tlb_mm_range): translations are cached after a page walk and must be
invalidated when a PTE is removed or loses permissions; a range of more than
`FLUSH_CEILING` pages is flushed whole instead of page by page, as Linux's
tlb_single_page_flush_ceiling (33) decides.

An entry is a `PageAccess`, the per-virtual-page record that also counts
accesses; the TLB caches the frame's bytes in it. There are two maps:
`read` holds every cached translation, `write` the ones that allow stores
and whose PTE already has its dirty bit set, so a store through `write`
needs no walk (the hardware sets D on the first store, which here is the
first store after a fill).

Invariants:
    write.keys() ⊆ read.keys()
    len(read) <= capacity
    an entry's `mem` is valid while the entry is in `read`

Simplified: one fully associative level with first-in first-out
replacement; no PCIDs, no separate instruction TLB, no huge-page entries.
"""

from __future__ import annotations

from .errors import MachineError

FLUSH_CEILING = 33  # Linux's tlb_single_page_flush_ceiling


class PageAccess:
    """Counters for one virtual page, and its cached translation.

    `reads` and `writes` count accesses through the public load/store API
    (a run of words within the page counts once); they persist across
    unmaps, so a layer can show which pages an operation did not touch.
    """

    __slots__ = ("mem", "reads", "writes")

    def __init__(self) -> None:
        self.mem: memoryview | None = None  # the frame's bytes while cached in the TLB
        self.reads = 0
        self.writes = 0


class TLB:
    """A fully associative TLB of `capacity` entries."""

    def __init__(self, capacity: int = 1536) -> None:
        if capacity < 1:
            raise ValueError(f"TLB capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.read: dict[int, PageAccess] = {}  # vpn -> entry; loads may use it
        self.write: dict[int, PageAccess] = {}  # vpn -> entry; stores may use it
        self.misses = 0  # page walks done to fill an entry
        self.full_flushes = 0
        self.page_flushes = 0

    def fill(self, vpn: int, entry: PageAccess, mem: memoryview, writable: bool) -> None:
        """Cache vpn's translation after a walk."""
        self.misses += 1
        read = self.read
        if vpn not in read and len(read) >= self.capacity:
            victim = next(iter(read))  # oldest fill
            del read[victim]
            self.write.pop(victim, None)
        entry.mem = mem
        read[vpn] = entry
        if writable:
            self.write[vpn] = entry
        else:
            self.write.pop(vpn, None)

    def flush_range(self, lo_vpn: int, hi_vpn: int) -> None:
        """Invalidate [lo_vpn, hi_vpn): page by page, or whole past the ceiling."""
        if hi_vpn - lo_vpn > FLUSH_CEILING:
            self.flush_all()
            return
        self.page_flushes += hi_vpn - lo_vpn
        for vpn in range(lo_vpn, hi_vpn):
            self.read.pop(vpn, None)
            self.write.pop(vpn, None)

    def flush_all(self) -> None:
        self.full_flushes += 1
        self.read.clear()
        self.write.clear()

    def check_invariants(self) -> None:
        if not self.write.keys() <= self.read.keys():
            raise MachineError("tlb.check_invariants: writable entry without a readable one")
        if len(self.read) > self.capacity:
            raise MachineError("tlb.check_invariants: over capacity")
