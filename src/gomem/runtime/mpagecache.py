"""Per-P page caches. Models runtime/mpagecache.go (go1.24). See
docs/ARCHITECTURE.md; the page allocator itself is mpagealloc.py.

A P takes a 64-page aligned block of the page heap at a time (allocToCache:
every free page in the block becomes the cache's and is marked in use in the
page allocator) and then allocates small spans from it without the heap
lock. The cache is two uint64 bitmaps over the block:

    bit i of cache   1 = page base + i*8 KiB is free for this P to hand out
    bit i of scav    1 = that page is scavenged (its memory was released)

For a cache made by allocToCache, scav & ~cache == 0 (pages in use are never
scavenged, and alloc clears both bits together); Go's tests also build
caches without it, so it is not checked.
flush gives the remaining free pages back to the page allocator.
Simplified: nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .mem_linux import RuntimeThrow
from .mpagealloc import (
    MAX_SEARCH_ADDR,
    SUMMARY_LEVELS,
    _off,
    chunk_base,
    chunk_index,
    chunk_page_index,
)
from .mpallocbits import MASK64, NOT_FOUND, PallocData, find_bit_range64
from .msize import PAGE_SIZE

if TYPE_CHECKING:
    from .mpagealloc import PageAlloc

PAGE_CACHE_PAGES = 64  # pageCachePages: 8 * sizeof(pageCache.cache)


@dataclass(slots=True)
class PageCache:
    """pageCache: a P's private 64-page block of the heap."""

    base: int = 0  # address of the block (64-page aligned); 0 when empty
    cache: int = 0  # uint64: 1 = free page owned by this cache
    scav: int = 0  # uint64: 1 = scavenged page; subset of cache

    def empty(self) -> bool:
        return self.cache == 0

    def alloc(self, npages: int) -> tuple[int, int]:
        """Allocate npages contiguous pages: (address, scavenged bytes among
        them), or (0, 0) if the cache has no such run."""
        if self.cache == 0:
            return 0, 0
        if npages == 1:
            low = self.cache & -self.cache
            i = low.bit_length() - 1
            scav = (self.scav >> i) & 1
            self.cache &= ~low
            self.scav &= ~low
            return self.base + i * PAGE_SIZE, scav * PAGE_SIZE
        return self.alloc_n(npages)

    def alloc_n(self, npages: int) -> tuple[int, int]:
        """allocN: the general case of alloc, a first fit in the 64 bits."""
        i = find_bit_range64(self.cache, npages)
        if i >= 64:
            return 0, 0
        mask = ((1 << npages) - 1) << i
        scav = (self.scav & mask).bit_count()
        self.cache &= ~mask
        self.scav &= ~mask
        return self.base + i * PAGE_SIZE, scav * PAGE_SIZE

    def flush(self, p: PageAlloc) -> None:
        """Give every page still in the cache back to p, then empty the cache."""
        if self.empty():
            return
        ci = chunk_index(self.base)
        pi = chunk_page_index(self.base)
        chunk = p.chunk(ci)
        # Go visits all 64 bits one by one; visiting only the set ones in the
        # same order leaves the same state.
        cache, scav = self.cache, self.scav
        while cache:
            low = cache & -cache
            i = low.bit_length() - 1
            cache ^= low
            chunk.free1(pi + i)
            p.scav_index.free(ci, pi + i, 1)
        while scav:
            low = scav & -scav
            i = low.bit_length() - 1
            scav ^= low
            chunk.scavenged.set_range(pi + i, 1)
        # Like a free: the search may have to start lower now.
        if _off(self.base) < _off(p.search_addr):
            p.search_addr = self.base
        p.update(self.base, PAGE_CACHE_PAGES, False, False)
        self.base = self.cache = self.scav = 0


def alloc_to_cache(p: PageAlloc) -> PageCache:
    """allocToCache: take the 64-page aligned block holding p's first free
    page; all its free pages go to the returned cache (empty on failure)."""
    if chunk_index(p.search_addr) >= p.end:
        return PageCache()  # searchAddr is above every chunk: out of memory
    ci = chunk_index(p.search_addr)
    chunk: PallocData
    if p.summary(SUMMARY_LEVELS - 1, ci) != (0, 0, 0):
        # Fast path: free pages at or near searchAddr.
        chunk = p.chunk(ci)
        j, _ = chunk.find(1, chunk_page_index(p.search_addr))
        if j == NOT_FOUND:
            raise RuntimeThrow("pageAlloc.allocToCache: bad summary data")
        c = PageCache(
            base=chunk_base(ci) + (j & ~63) * PAGE_SIZE,
            cache=~chunk.pages64(j) & MASK64,
            scav=chunk.scavenged.block64(j),
        )
    else:
        # Slow path: nothing at searchAddr, so search the whole tree.
        addr, _ = p.find(1)
        if addr == 0:
            p.search_addr = MAX_SEARCH_ADDR
            return PageCache()
        ci = chunk_index(addr)
        chunk = p.chunk(ci)
        c = PageCache(
            base=addr // (64 * PAGE_SIZE) * (64 * PAGE_SIZE),
            cache=~chunk.pages64(chunk_page_index(addr)) & MASK64,
            scav=chunk.scavenged.block64(chunk_page_index(addr)),
        )

    # The free pages become in use; the scavenged bits of those pages move to
    # the cache, the others (of pages already in use) stay as they were.
    cpi = chunk_page_index(c.base)
    chunk.alloc_pages64(cpi, c.cache)
    chunk.scavenged.clear_block64(cpi, c.cache & c.scav)
    p.update(c.base, PAGE_CACHE_PAGES, False, True)  # not one contiguous run
    p.scav_index.alloc(ci, c.cache.bit_count())
    # Everything up to the block's end is now in use; searchAddr must stay
    # inside grown memory, so it points at the block's last page.
    p.search_addr = c.base + PAGE_SIZE * (PAGE_CACHE_PAGES - 1)
    return c
