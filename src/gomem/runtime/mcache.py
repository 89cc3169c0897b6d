"""Per-P span caches. Models runtime/mcache.go (go1.24). See
docs/ARCHITECTURE.md for the allocator's overview.

Each P owns an mcache: one cached span per span class (136 of them; an
unused class holds the shared, always-full EMPTY_MSPAN), plus the tiny
allocator's current 16-byte block. Allocation from the cached span needs
no lock in Go; when the span is full, refill returns it to its mcentral
and takes another. Statistics are counted at that moment, not per object:
the slots used while the span was cached (alloc_count -
alloc_count_before_cache) are added to the size class's allocation count
and TotalAlloc, and heapLive grows by the span's free space when it is
cached. release_all returns every span (Go does it before a GC and when
ReadMemStats flushes the caches) and forgets the tiny block.

Simplified: no heap profiling samples (nextSample), no stack cache yet
(it arrives with goroutine stacks); the mcache stands in for its P's page
cache (`pcache`) until Ps exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gomem.runtime.mem_linux import RuntimeThrow
from gomem.runtime.mheap import (
    NUM_SPAN_CLASSES,
    PAGE_SHIFT,
    PAGE_SIZE,
    TINY_SPAN_CLASS,
    MHeap,
    MSpan,
    SpanState,
    make_span_class,
)
from gomem.runtime.mpagecache import PageCache
from gomem.runtime.stack import NUM_STACK_ORDERS, StackFreeList

if TYPE_CHECKING:
    from gomem.runtime.mcentral import MCentral

# emptymspan: a span with no free slot, so the first allocation of any class refills.
EMPTY_MSPAN = MSpan(state=SpanState.DEAD)


class MCache:
    """mcache: the allocation cache of one P."""

    def __init__(self, heap: MHeap, central: list[MCentral], addr: int) -> None:
        self.heap = heap
        self.central = central
        self.addr = addr  # where Go's mcache record is (mheap.cachealloc)
        self.alloc: list[MSpan] = [EMPTY_MSPAN] * NUM_SPAN_CLASSES  # span per span class
        self.tiny = 0  # current tiny block (16 B), 0 if none
        self.tiny_offset = 0  # bytes of the tiny block used
        self.tiny_allocs = 0  # tiny allocations not yet counted in heap_stats
        self.scan_alloc = 0  # bytes of scannable heap allocated, not yet reported
        self.pcache = PageCache()  # the P's page cache (pp.pcache), empty at first
        self.stackcache = [StackFreeList() for _ in range(NUM_STACK_ORDERS)]  # free stacks

    def refill(self, spc: int) -> None:
        """refill: swap the full span of class spc for one with a free slot."""
        heap = self.heap
        s = self.alloc[spc]
        if s.alloc_count != s.nelems:
            raise RuntimeThrow("mcache.refill: refill of span with free space remaining")
        if s is not EMPTY_MSPAN:
            if s.sweepgen != heap.sweepgen + 3:
                raise RuntimeThrow("mcache.refill: bad sweepgen in refill")
            self._count(s, spc)
            self.central[spc].uncache_span(s)
            if spc == TINY_SPAN_CLASS:
                heap.memstats.heap_stats.tiny_alloc_count += self.tiny_allocs
                self.tiny_allocs = 0
        s2 = self.central[spc].cache_span(self)
        if s2 is None:
            raise RuntimeThrow("out of memory")
        if s2.alloc_count == s2.nelems:
            raise RuntimeThrow("mcache.refill: span has no free space")
        s2.sweepgen = heap.sweepgen + 3  # swept, cached
        s2.alloc_count_before_cache = s2.alloc_count
        used = s2.alloc_count * s2.elemsize
        heap.gc_controller.update(s2.npages * PAGE_SIZE - used, self.scan_alloc)
        self.scan_alloc = 0
        self.alloc[spc] = s2

    def _count(self, s: MSpan, spc: int) -> None:
        """Count the slots used while s was cached (Go does this in refill and releaseAll)."""
        used = s.alloc_count - s.alloc_count_before_cache
        s.alloc_count_before_cache = 0
        self.heap.memstats.heap_stats.small_alloc_count[spc >> 1] += used
        self.heap.gc_controller.total_alloc += used * s.elemsize

    def next_free(self, spc: int) -> tuple[int, MSpan, bool]:
        """nextFree: the next free slot of class spc, refilling if the span is full.

        Returns (address, span, whether a GC trigger check is due)."""
        s = self.alloc[spc]
        check = False
        free = s.next_free_index()
        if free == s.nelems:
            if s.alloc_count != s.nelems:
                raise RuntimeThrow("s.allocCount != s.nelems && freeIndex == s.nelems")
            self.refill(spc)
            check = True
            s = self.alloc[spc]
            free = s.next_free_index()
        if free >= s.nelems:
            raise RuntimeThrow("freeIndex is not valid")
        s.alloc_count += 1
        if s.alloc_count > s.nelems:
            raise RuntimeThrow("s.allocCount > s.nelems")
        return free * s.elemsize + s.start_addr, s, check

    def alloc_large(self, size: int, noscan: bool) -> MSpan:
        """allocLarge: a span of its own for an object of size bytes (> 32 KiB)."""
        npages = -(-size // PAGE_SIZE)
        spc = make_span_class(0, noscan)
        if self.heap.sweep_credit is not None:
            self.heap.sweep_credit(npages << PAGE_SHIFT, npages)
        s = self.heap.alloc(npages, spc, self)
        if s is None:
            raise RuntimeThrow(f"out of memory: cannot allocate {size}-byte block")
        heap = self.heap
        stats = heap.memstats.heap_stats
        stats.large_alloc += npages << PAGE_SHIFT
        stats.large_alloc_count += 1
        heap.gc_controller.total_alloc += npages << PAGE_SHIFT
        heap.gc_controller.update(s.npages * PAGE_SIZE, 0)
        self.central[spc].full_swept(heap.sweepgen).push(s)
        s.limit = s.start_addr + size
        return s

    def release_all(self) -> None:
        """releaseAll: give every cached span back and forget the tiny block."""
        heap = self.heap
        scan = self.scan_alloc
        self.scan_alloc = 0
        sg = heap.sweepgen
        d_heap_live = 0
        for spc, s in enumerate(self.alloc):
            if s is EMPTY_MSPAN:
                continue
            self._count(s, spc)
            if s.sweepgen != sg + 1:
                # Free slots of a span cached since this cycle were counted live; undo it.
                d_heap_live -= (s.nelems - s.alloc_count) * s.elemsize
            self.central[spc].uncache_span(s)
            self.alloc[spc] = EMPTY_MSPAN
        self.tiny = self.tiny_offset = 0
        heap.memstats.heap_stats.tiny_alloc_count += self.tiny_allocs
        self.tiny_allocs = 0
        heap.gc_controller.update(d_heap_live, scan)
