"""The page heap: arenas, spans and the span map. Models runtime/mheap.go
and the arena parts of runtime/malloc.go (mallocinit's hints, sysAlloc)
(go1.24). See docs/ARCHITECTURE.md for the allocator's overview.

Address space. The heap lives in 64 MiB *arenas*. At start-up the runtime
records hints 0x00c0<<32, 0x01c0<<32, ... 0x3fc0<<32 (one per TiB); the
first growth reserves (PROT_NONE) the arena at the first hint that the
kernel grants, 0xc000000000 in a fresh process, and later growth keeps
going up from there. Growth is in whole 4 MiB page-allocator chunks, each
mapped read/write when it is handed to the page allocator (Reserved ->
Prepared): so a real Go process shows `c000000000-c000400000 rw-p` followed
by `c000400000-c004000000 ---p`, and no `[heap]` at all.

Arena map. arena_index(p) = (p - arenaBaseOffset) / 64 MiB with the offset
0xffff800000000000, so that the whole 48-bit address space, both halves,
indexes one array of 2^22 entries (arenaL1Bits = 0 on linux/amd64). Go
maps that array (32 MiB, untouched but for the entries it sets) with the
first arena; we do the same mmap and keep the entries in a dict. Each
arena's heapArena holds the span of each of its 8192 pages (span_of), the
pageInUse bitmap and zeroedBase, the high-water mark below which pages
have been used before and need zeroing when reused.

Spans. An MSpan is a run of pages with one job. Its state is DEAD (in the
page heap's free pages, not a span any more), IN_USE (holds heap objects)
or MANUAL (stacks and other manually managed memory, later). A heap
span's span class says its size class and whether its objects are
pointer-free: span_class = size_class << 1 | noscan. Its sweepgen, like
Go's, is relative to MHeap.sweepgen (h), which grows by 2 per GC:

    s.sweepgen == h - 2   the span needs sweeping
    s.sweepgen == h - 1   the span is being swept
    s.sweepgen == h       the span is swept and ready to use
    s.sweepgen == h + 1   cached by an mcache since before the sweep began
    s.sweepgen == h + 3   swept, then cached by an mcache, still cached

Statistics move with every transition, as in Go: allocating a span moves
its bytes from heap_free/heap_released (scavenged pages are made Ready
again) to heap_in_use; freeing moves them back to heap_free.

Simplified: no user arenas, no locks (one thread of control), no
physPageAlignedStacks; the reclaim pass before allocation (sweeping to
free pages) arrives with the collector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

from gomem.runtime.mem_linux import OSMemory, RuntimeThrow, SysMemStat
from gomem.runtime.mfixalloc import FixAlloc, PersistentAlloc
from gomem.runtime.mgcpacer import MAX_UINT64, GCControllerState
from gomem.runtime.mpagealloc import PageAlloc
from gomem.runtime.sizeclasses import (
    CLASS_TO_DIVMAGIC,
    CLASS_TO_SIZE,
    NUM_SIZE_CLASSES,
    PAGE_SHIFT,
)

if TYPE_CHECKING:
    from gomem.runtime.mcache import MCache
    from gomem.runtime.mcentral import MCentral
    from gomem.runtime.mstats import MStats
    from gomem.runtime.type import Type

PAGE_SIZE = 1 << PAGE_SHIFT  # Go's page: 8 KiB
PAGE_MASK = PAGE_SIZE - 1
PTR_SIZE = 8
LOG_HEAP_ARENA_BYTES = 26
HEAP_ARENA_BYTES = 1 << LOG_HEAP_ARENA_BYTES  # 64 MiB on linux/amd64
PAGES_PER_ARENA = HEAP_ARENA_BYTES // PAGE_SIZE  # 8192
HEAP_ADDR_BITS = 48
ARENA_BITS = HEAP_ADDR_BITS - LOG_HEAP_ARENA_BYTES  # 22; arenaL1Bits = 0, arenaL2Bits = 22
ARENA_BASE_OFFSET = 0xFFFF_8000_0000_0000  # arenaBaseOffset on amd64
MASK64 = (1 << 64) - 1
PALLOC_CHUNK_PAGES = 512  # a page-allocator chunk: the unit of heap growth
NUM_SPAN_CLASSES = NUM_SIZE_CLASSES << 1  # 136
TINY_SPAN_CLASS = 2 << 1 | 1  # size class 2 (16 B), noscan
MIN_SIZE_FOR_MALLOC_HEADER = 512  # heap bits live in the span up to this size
GC_BITS_CHUNK_BYTES = 64 << 10  # gcBitsChunkBytes
GC_BITS_HEADER_BYTES = 16  # gcBitsHeader: free and next

# Sizes of Go's metadata records on amd64, from the field lists in go1.24.
SIZEOF_MSPAN = 160  # mheap.go mspan: 20 words + 4 halfwords, 2 uint32, 4 bytes, padding
SIZEOF_MCACHE = 1208  # mcache.go: 6 words, alloc [136]*mspan, stackcache [4]{2 words}, uint32
SIZEOF_HEAP_ARENA = 68624  # spans [8192]*mspan, 3 x [1024]uint8 bitmaps, 2 words
SIZEOF_ARENA_L2 = (1 << ARENA_BITS) * PTR_SIZE  # the arena map: 32 MiB


def arena_index(p: int) -> int:
    """arenaIndex: which 64 MiB arena slot holds address p."""
    return ((p - ARENA_BASE_OFFSET) & MASK64) >> LOG_HEAP_ARENA_BYTES


def arena_base(i: int) -> int:
    """arenaBase: the first address of arena slot i."""
    return ((i << LOG_HEAP_ARENA_BYTES) + ARENA_BASE_OFFSET) & MASK64


def make_span_class(size_class: int, noscan: bool) -> int:
    return size_class << 1 | noscan


class SpanState(IntEnum):
    """mSpanState."""

    DEAD = 0  # mSpanDead: not a span (its pages are free in the page heap)
    IN_USE = 1  # mSpanInUse: a heap span, allocated by the heap
    MANUAL = 2  # mSpanManual: stacks and other manually managed memory


class SpanAllocType(IntEnum):
    """spanAllocType: what a span is for, which decides where its bytes are counted."""

    HEAP = 0  # heap objects: HeapInuse
    STACK = 1  # goroutine stacks: StackInuse
    PTR_SCALAR_BITS = 2  # unrolled GC programs: GCSys
    WORK_BUF = 3  # GC work buffers: GCSys


@dataclass(slots=True, eq=False)
class MSpan:
    """mspan: a run of pages. Written by the heap (init), the mcache and mcentral
    (allocation, caching) and the sweeper (here: free_object)."""

    start_addr: int = 0  # address of the first byte; page aligned
    npages: int = 0  # number of 8 KiB pages
    addr: int = 0  # where Go's mspan record would be (from MHeap.spanalloc)
    state: SpanState = SpanState.DEAD
    spanclass: int = 0  # size_class << 1 | noscan; 0 or 1 for a large object
    elemsize: int = 0  # bytes per object (class size, or npages * 8 KiB when large)
    nelems: int = 0  # objects in the span; fewer when heap bits take the span's tail
    limit: int = 0  # end of the span's data; start_addr + elemsize * nelems at most
    div_mul: int = 0  # class_to_divmagic: object index = (offset * div_mul) >> 32
    # Allocation state. Slot i is allocated iff i < freeindex or alloc_bits bit i.
    freeindex: int = 0  # no free slot below this; nextFreeIndex scans up from here
    free_index_for_scan: int = 0  # freeindex as the collector may see it
    alloc_cache: int = 0  # ~alloc_bits from the 64-aligned word at freeindex, shifted
    alloc_bits: int = 0  # bit i: slot i held an object at the last sweep
    gcmark_bits: int = 0  # bit i: slot i marked by the collector (the next alloc_bits)
    alloc_count: int = 0  # allocated slots; alloc_count <= nelems
    alloc_count_before_cache: int = 0  # alloc_count when an mcache took the span
    sweepgen: int = 0  # see the table in the module docstring
    needzero: int = 0  # 1: the span's memory may be dirty and is zeroed on allocation
    large_type: Type | None = None  # the type of a large pointerful object (largeType)
    manual_free_list: int = 0  # MANUAL stack spans: first free stack (links live in memory)
    freed: int = 0  # our addition: slots freed by free_object, applied when the span is swept
    in_set: object = field(default=None, repr=False)  # the span set holding it, if any

    @property
    def base(self) -> int:
        return self.start_addr

    @property
    def size_class(self) -> int:
        return self.spanclass >> 1

    @property
    def noscan(self) -> bool:
        return bool(self.spanclass & 1)

    def object_index(self, p: int) -> int:
        """objIndex: the slot that p points into (divMul, as Go's divideByElemSize)."""
        if self.size_class == 0:
            return 0
        return ((p - self.start_addr) * self.div_mul) >> 32

    def is_allocated(self, i: int) -> bool:
        return i < self.freeindex or bool(self.alloc_bits >> i & 1)

    def allocated_slots(self) -> int:
        """Bitmask of the allocated slots (freeindex prefix | alloc_bits)."""
        return (self.alloc_bits | ((1 << self.freeindex) - 1)) & ((1 << self.nelems) - 1)

    def refill_alloc_cache(self, which_byte: int) -> None:
        """refillAllocCache: the complement of the 64 alloc bits from byte which_byte."""
        self.alloc_cache = ~(self.alloc_bits >> (which_byte * 8)) & MASK64

    def next_free_index(self) -> int:
        """nextFreeIndex: the first free slot at or after freeindex (nelems if none)."""
        sfreeindex = self.freeindex
        nelems = self.nelems
        if sfreeindex == nelems:
            return sfreeindex
        cache = self.alloc_cache
        while cache == 0:
            sfreeindex = (sfreeindex + 64) & ~63
            if sfreeindex >= nelems:
                self.freeindex = nelems
                return nelems
            self.refill_alloc_cache(sfreeindex // 8)
            cache = self.alloc_cache
        bit = (cache & -cache).bit_length() - 1
        result = sfreeindex + bit
        if result >= nelems:
            self.freeindex = nelems
            return nelems
        self.alloc_cache = cache >> (bit + 1)
        sfreeindex = result + 1
        if sfreeindex % 64 == 0 and sfreeindex != nelems:
            self.refill_alloc_cache(sfreeindex // 8)
        self.freeindex = sfreeindex
        return result

    def heap_bits_addr(self) -> int:
        """Where a small scan span keeps its heap bits: its last 1/64th."""
        nbytes = self.npages * PAGE_SIZE
        return self.start_addr + nbytes - nbytes // PTR_SIZE // 8


@dataclass(slots=True, eq=False)
class HeapArena:
    """heapArena: metadata of one 64 MiB arena (Go keeps it off-heap)."""

    base: int  # first address of the arena
    addr: int  # where Go's heapArena record is (persistentalloc, GCSys)
    spans: list[MSpan | None]  # the span of each page; set for every page of in-use spans
    page_in_use: int = 0  # bit i: page i is the first page of an IN_USE span
    page_marks: int = 0  # bit i: the span starting at page i has a marked object this cycle
    zeroed_base: int = 0  # bytes from base ever handed out; above it memory is still zero


@dataclass(slots=True)
class ArenaHint:
    """arenaHint: where to try to reserve the next arena."""

    addr: int
    down: bool = False  # grow downwards from addr (hints made after a collision)


class GCBits:
    """gcBitsArenas: where span alloc and mark bitmaps live (64 KiB chunks, GCSys).

    Our bitmaps are Python ints; this keeps the chunks' mappings and their
    accounting. Chunks are recycled per GC cycle in Go; before the collector
    exists they only accumulate.
    """

    def __init__(self, os: OSMemory, stat: SysMemStat) -> None:
        self.os = os
        self.stat = stat  # memstats.gcMiscSys
        self.chunks: list[int] = []  # addresses of the chunks, newest last
        self.free = 0  # bytes used in the newest chunk (after its header)

    def alloc(self, nelems: int) -> None:
        """newMarkBits/newAllocBits: room for nelems bits, in 8-byte blocks."""
        need = (nelems + 63) // 64 * 8
        if not self.chunks or self.free + need > GC_BITS_CHUNK_BYTES - GC_BITS_HEADER_BYTES:
            v = self.os.sys_alloc(GC_BITS_CHUNK_BYTES, self.stat)
            if v == 0:
                raise RuntimeThrow("runtime: cannot allocate memory")
            self.chunks.append(v)
            self.free = 0
        self.free += need


class MHeap:
    """mheap: the page heap of one simulated Go process (Go's mheap_)."""

    def __init__(
        self,
        os: OSMemory,
        memstats: MStats,
        gc_controller: GCControllerState,
    ) -> None:
        self.os = os
        self.memstats = memstats
        self.gc_controller = gc_controller
        self.persistent = PersistentAlloc(os, memstats.other_sys)
        self.spanalloc = FixAlloc(SIZEOF_MSPAN, self.persistent, memstats.mspan_sys)
        self.cachealloc = FixAlloc(SIZEOF_MCACHE, self.persistent, memstats.mcache_sys)
        self.gc_bits = GCBits(os, memstats.gc_misc_sys)
        self.pages = PageAlloc(os, memstats.gc_misc_sys, release=self._released)
        self.arenas: dict[int, HeapArena] = {}  # arena index -> metadata; Go's arenas[0][i]
        self.arena_l2_addr = 0  # the mapped 2^22-entry arena map, once the first arena exists
        self.all_arenas: list[int] = []  # arena indices in order of creation (allArenas)
        self.all_arenas_cap = 0  # capacity of Go's allArenas array (persistentalloc'd)
        self.cur_arena_base = 0  # curArena: reserved, not yet mapped arena space
        self.cur_arena_end = 0
        self.sweepgen = 0  # +2 per GC; written during STW
        self.pages_in_use = 0  # pages of IN_USE spans
        self.central: list[MCentral] = []  # one per span class; set by the runtime
        self.reclaim: Callable[[int], None] | None = None  # the collector's mheap.reclaim
        self.cpu_limiting: Callable[[], bool] = lambda: False  # gcCPULimiter.limiting
        # Proportional sweep (gcPaceSweeper sets the rate at mark termination).
        self.pages_swept = 0  # pagesSwept: pages swept this cycle
        self.pages_swept_basis = 0  # pagesSwept when the rate was set
        self.sweep_pages_per_byte = 0.0  # pages to sweep per byte allocated; 0: done or off
        self.sweep_heap_live_basis = 0  # heapLive when the rate was set
        # deductSweepCredit(span bytes, pages the caller sweeps itself): the collector's
        self.sweep_credit: Callable[[int, int], None] | None = None
        # mallocinit: hints for i = 0..0x3f, lowest first (0x40..0x7f are for user arenas).
        self.arena_hints = [ArenaHint((i << 40) | (0x00C0 << 32)) for i in range(0x40)]

    # -- arenas --------------------------------------------------------------

    def sys_alloc(self, n: int) -> tuple[int, int]:
        """sysAlloc: reserve at least n bytes of new arena space; (0, 0) if impossible.

        The space is Reserved; each arena it covers gets its heapArena and is
        entered in the arena map.
        """
        n = -(-n // HEAP_ARENA_BYTES) * HEAP_ARENA_BYTES
        v = size = 0
        while self.arena_hints:
            hint = self.arena_hints[0]
            p = hint.addr - n if hint.down else hint.addr
            if p + n <= 1 << 64 and arena_index(p + n - 1) < 1 << ARENA_BITS:
                v = self.os.sys_reserve(p, n)
            else:
                v = 0
            if p == v:
                hint.addr = p if hint.down else p + n
                size = n
                break
            if v:  # the kernel put it elsewhere: not ours to use
                self.os.process.munmap(v, n)
            self.arena_hints.pop(0)
        if size == 0:
            # Every hint collided: take any aligned space and hint around it.
            v, size = self._sys_reserve_aligned(n)
            if v == 0:
                return 0, 0
            self.arena_hints[0:0] = [ArenaHint(v + size), ArenaHint(v, down=True)]
        if v % HEAP_ARENA_BYTES:
            raise RuntimeThrow("misrounded allocation in sysAlloc")
        for ri in range(arena_index(v), arena_index(v + size - 1) + 1):
            if self.arena_l2_addr == 0:
                # sysAllocOS: mapped, but counted in no statistic (Go's arenas[0]).
                self.arena_l2_addr = self.os.sys_alloc_os(SIZEOF_ARENA_L2)
                if self.arena_l2_addr == 0:
                    raise RuntimeThrow("out of memory allocating heap arena map")
                self.os.sys_no_huge_page(self.arena_l2_addr, SIZEOF_ARENA_L2)
            if ri in self.arenas:
                raise RuntimeThrow("arena already initialized")
            addr = self.persistent.alloc(SIZEOF_HEAP_ARENA, PTR_SIZE, self.memstats.gc_misc_sys)
            if len(self.all_arenas) == self.all_arenas_cap:
                nbytes = 2 * self.all_arenas_cap * PTR_SIZE or 4096
                self.persistent.alloc(nbytes, PTR_SIZE, self.memstats.gc_misc_sys)
                self.all_arenas_cap = nbytes // PTR_SIZE
            self.all_arenas.append(ri)
            self.arenas[ri] = HeapArena(arena_base(ri), addr, [None] * PAGES_PER_ARENA)
        return v, size

    def _sys_reserve_aligned(self, n: int) -> tuple[int, int]:
        """sysReserveAligned: over-reserve by an arena, keep the aligned middle."""
        p = self.os.sys_reserve(0, n + HEAP_ARENA_BYTES)
        if p == 0:
            return 0, 0
        aligned = -(-p // HEAP_ARENA_BYTES) * HEAP_ARENA_BYTES
        if aligned > p:
            self.os.process.munmap(p, aligned - p)
        end = p + n + HEAP_ARENA_BYTES
        if end > aligned + n:
            self.os.process.munmap(aligned + n, end - (aligned + n))
        return aligned, n

    def grow(self, npage: int) -> tuple[int, bool]:
        """mheap.grow: add at least npage pages to the page allocator, in whole chunks."""
        ask = -(-npage // PALLOC_CHUNK_PAGES) * PALLOC_CHUNK_PAGES * PAGE_SIZE
        total = 0
        end = self.cur_arena_base + ask
        n_base = end  # ask is a multiple of 4 MiB, already physical-page aligned
        if n_base > self.cur_arena_end:
            av, asize = self.sys_alloc(ask)
            if av == 0:
                return 0, False
            if av == self.cur_arena_end:
                self.cur_arena_end = av + asize
            else:
                if size := self.cur_arena_end - self.cur_arena_base:
                    # Hand what is left of the old space to the page allocator.
                    self._add_space(self.cur_arena_base, size)
                    total += size
                self.cur_arena_base, self.cur_arena_end = av, av + asize
            n_base = self.cur_arena_base + ask
        v = self.cur_arena_base
        self.cur_arena_base = n_base
        self._add_space(v, n_base - v)
        return total + n_base - v, True

    def _add_space(self, v: int, size: int) -> None:
        """Reserved -> Prepared, counted as released, and given to the page allocator."""
        self.os.sys_map(v, size, self.gc_controller.heap_released)
        self.memstats.heap_stats.released += size
        self.pages.grow(v, size)

    def in_arena(self, p: int) -> bool:
        """Is p inside one of the heap's arenas (not a global, a text or an OS address)?"""
        return arena_index(p) in self.arenas

    def span_of(self, p: int) -> MSpan | None:
        """spanOf: the span holding address p, or None outside the heap arenas."""
        ha = self.arenas.get(arena_index(p))
        if ha is None:
            return None
        return ha.spans[(p >> PAGE_SHIFT) % PAGES_PER_ARENA]

    def span_of_heap(self, p: int) -> MSpan | None:
        """spanOfHeap: the IN_USE span whose data holds p, else None."""
        s = self.span_of(p)
        if s is None or s.state != SpanState.IN_USE or not s.start_addr <= p < s.limit:
            return None
        return s

    def _set_spans(self, base: int, npage: int, s: MSpan | None) -> None:
        p = base >> PAGE_SHIFT
        for n in range(npage):
            ai = arena_index(base + n * PAGE_SIZE)
            self.arenas[ai].spans[(p + n) % PAGES_PER_ARENA] = s

    def alloc_needs_zero(self, base: int, npage: int) -> bool:
        """allocNeedsZero: has any of these pages been handed out before?

        Moves each arena's zeroed_base past the range, as Go does.
        """
        need = False
        while npage > 0:
            ha = self.arenas[arena_index(base)]
            off = base % HEAP_ARENA_BYTES
            if off < ha.zeroed_base:
                need = True
            limit = min(off + npage * PAGE_SIZE, HEAP_ARENA_BYTES)
            if limit > ha.zeroed_base:
                ha.zeroed_base = limit
            base += limit - off
            npage -= (limit - off) // PAGE_SIZE
        return need

    # -- spans ---------------------------------------------------------------

    def alloc(self, npages: int, spanclass: int, pp: MCache | None = None) -> MSpan | None:
        """mheap.alloc: a new IN_USE span of npages for span class spanclass.

        While the last cycle's sweep is unfinished, first reclaim at least npages
        by sweeping (the collector's reclaim hook).
        """
        if self.reclaim is not None:
            self.reclaim(npages)
        return self.alloc_span(npages, SpanAllocType.HEAP, spanclass, pp)

    def alloc_manual(self, npages: int, typ: SpanAllocType) -> MSpan | None:
        """allocManual: a MANUAL span (stacks, work buffers); its bytes are not HeapInuse."""
        return self.alloc_span(npages, typ, 0, None)

    def alloc_span(
        self, npages: int, typ: SpanAllocType, spanclass: int, pp: MCache | None
    ) -> MSpan | None:
        """allocSpan: find pages (per-P page cache, page allocator, heap growth),
        scavenge if the limits ask for it, and initialise the span.

        pp holds the page cache of the P allocating (pp.pcache); until Ps
        exist the mcache stands in for its P.
        """
        base = scav = growth = 0
        if pp is not None and npages < 16:  # pageCachePages/4
            if pp.pcache.empty():
                pp.pcache = self.pages.alloc_to_cache()
            base, scav = pp.pcache.alloc(npages)
        if base == 0:
            base, scav = self.pages.alloc(npages)
            if base == 0:
                growth, ok = self.grow(npages)
                if not ok:
                    return None
                base, scav = self.pages.alloc(npages)
                if base == 0:
                    raise RuntimeThrow("grew heap, but no adequate free space found")
        gc = self.gc_controller
        to_scavenge, force = 0, False
        inuse = self.os.mapped_ready
        if scav + inuse > gc.memory_limit and not self.cpu_limiting():
            to_scavenge, force = scav + inuse - gc.memory_limit, True
        goal = gc.scavenge_gc_percent_goal
        if goal != MAX_UINT64 and growth > 0:
            retained = gc.heap_in_use.nbytes + gc.heap_free.nbytes
            if retained + growth > goal:
                to_scavenge = max(to_scavenge, min(growth, retained + growth - goal))
        if to_scavenge > 0:
            self.pages.scavenge(to_scavenge, force=force)
        s = MSpan(addr=self.spanalloc.alloc())
        self.init_span(s, typ, spanclass, base, npages)
        nbytes = npages * PAGE_SIZE
        if scav:
            self.os.sys_used(base, nbytes, scav)
            gc.heap_released.add(-scav)
        gc.heap_free.add(-(nbytes - scav))
        hs = self.memstats.heap_stats
        hs.committed += scav
        hs.released -= scav
        if typ == SpanAllocType.HEAP:
            gc.heap_in_use.add(nbytes)
            hs.in_heap += nbytes
        elif typ == SpanAllocType.STACK:
            hs.in_stacks += nbytes
        elif typ == SpanAllocType.PTR_SCALAR_BITS:
            hs.in_ptr_scalar_bits += nbytes
        else:
            hs.in_work_bufs += nbytes
        return s

    def init_span(
        self, s: MSpan, typ: SpanAllocType, spanclass: int, base: int, npages: int
    ) -> None:
        """initSpan: fill in a fresh span and enter it in the span map."""
        s.start_addr, s.npages = base, npages
        s.needzero = 1 if self.alloc_needs_zero(base, npages) else 0
        nbytes = npages * PAGE_SIZE
        if typ != SpanAllocType.HEAP:
            s.nelems = 0
            s.limit = base + nbytes
            s.state = SpanState.MANUAL
        else:
            s.spanclass = spanclass
            size_class = spanclass >> 1
            if size_class == 0:
                s.elemsize, s.nelems, s.div_mul = nbytes, 1, 0
            else:
                s.elemsize = CLASS_TO_SIZE[size_class]
                if not spanclass & 1 and s.elemsize <= MIN_SIZE_FOR_MALLOC_HEADER:
                    # The span's last nbytes/64 bytes hold its heap bits.
                    s.nelems = (nbytes - nbytes // PTR_SIZE // 8) // s.elemsize
                else:
                    s.nelems = nbytes // s.elemsize
                s.div_mul = CLASS_TO_DIVMAGIC[size_class]
            s.freeindex = s.free_index_for_scan = 0
            s.alloc_cache = MASK64
            self.gc_bits.alloc(s.nelems)  # gcmarkBits
            self.gc_bits.alloc(s.nelems)  # allocBits
            s.alloc_bits = s.gcmark_bits = 0
            s.sweepgen = self.sweepgen
            s.state = SpanState.IN_USE
        self._set_spans(base, npages, s)
        if typ == SpanAllocType.HEAP:
            ha = self.arenas[arena_index(base)]
            ha.page_in_use |= 1 << ((base >> PAGE_SHIFT) % PAGES_PER_ARENA)
            self.pages_in_use += npages

    def free_span(self, s: MSpan) -> None:
        """freeSpan: give a swept, empty heap span's pages back to the page allocator."""
        self._free_span_locked(s, SpanAllocType.HEAP)

    def free_manual(self, s: MSpan, typ: SpanAllocType) -> None:
        self._free_span_locked(s, typ)

    def _free_span_locked(self, s: MSpan, typ: SpanAllocType) -> None:
        if s.state == SpanState.MANUAL:
            if s.alloc_count != 0:
                raise RuntimeThrow("mheap.free_span: manual span has allocations")
        elif s.state == SpanState.IN_USE:
            if s.alloc_count != 0 or s.sweepgen != self.sweepgen:
                raise RuntimeThrow(
                    f"mheap.free_span: span {s.start_addr:#x} has {s.alloc_count} objects"
                    f" or is not swept (sweepgen {s.sweepgen} != {self.sweepgen})"
                )
            self.pages_in_use -= s.npages
            ha = self.arenas[arena_index(s.start_addr)]
            ha.page_in_use &= ~(1 << ((s.start_addr >> PAGE_SHIFT) % PAGES_PER_ARENA))
        else:
            raise RuntimeThrow(f"mheap.free_span: bad span state {s.state.name}")
        nbytes = s.npages * PAGE_SIZE
        gc = self.gc_controller
        gc.heap_free.add(nbytes)
        hs = self.memstats.heap_stats
        if typ == SpanAllocType.HEAP:
            gc.heap_in_use.add(-nbytes)
            hs.in_heap -= nbytes
        elif typ == SpanAllocType.STACK:
            hs.in_stacks -= nbytes
        elif typ == SpanAllocType.PTR_SCALAR_BITS:
            hs.in_ptr_scalar_bits -= nbytes
        else:
            hs.in_work_bufs -= nbytes
        self.pages.free(s.start_addr, s.npages)
        self._set_spans(s.start_addr, s.npages, None)
        s.state = SpanState.DEAD
        self.spanalloc.free(s.addr)

    # -- scavenging ----------------------------------------------------------

    def _released(self, addr: int, nbytes: int) -> None:
        """The page allocator scavenged [addr, addr+nbytes): return it to the OS."""
        self.os.sys_unused(addr, nbytes)
        gc = self.gc_controller
        gc.heap_released.add(nbytes)
        gc.heap_free.add(-nbytes)
        self.memstats.heap_stats.committed -= nbytes
        self.memstats.heap_stats.released += nbytes

    # -- checks --------------------------------------------------------------

    def spans(self) -> list[MSpan]:
        """Every span in the span map, in address order (each once)."""
        out: list[MSpan] = []
        for ai in sorted(self.arenas):
            last = None
            for s in self.arenas[ai].spans:
                if s is not None and s is not last:
                    if not out or out[-1] is not s:
                        out.append(s)
                    last = s
        return out

    def check_invariants(self) -> None:
        """Spans tile their pages; counts and bitmaps agree. Raises RuntimeThrow."""

        def fail(msg: str) -> None:
            raise RuntimeThrow(f"mheap.check_invariants: {msg}")

        in_use_pages = 0
        spans = self.spans()
        for s in spans:
            if s.state == SpanState.DEAD:
                fail(f"dead span {s.start_addr:#x} in the span map")
            for n in range(s.npages):
                if self.span_of(s.start_addr + n * PAGE_SIZE) is not s:
                    fail(f"page {n} of span {s.start_addr:#x} maps elsewhere")
            ha = self.arenas[arena_index(s.start_addr)]
            first = bool(ha.page_in_use >> ((s.start_addr >> PAGE_SHIFT) % PAGES_PER_ARENA) & 1)
            if first != (s.state == SpanState.IN_USE):
                fail(f"pageInUse bit of span {s.start_addr:#x} is {first}")
            if s.state == SpanState.IN_USE:
                in_use_pages += s.npages
                allocated = s.allocated_slots().bit_count()
                if s.alloc_count != allocated:
                    fail(
                        f"span {s.start_addr:#x}: alloc_count {s.alloc_count} != {allocated}"
                        " slots below freeindex or in alloc_bits"
                    )
                if not 0 <= s.alloc_count <= s.nelems or s.freeindex > s.nelems:
                    fail(f"span {s.start_addr:#x}: counts out of range")
                if s.start_addr + s.nelems * s.elemsize > s.start_addr + s.npages * PAGE_SIZE:
                    fail(f"span {s.start_addr:#x}: objects overrun the span")
        for a, b in zip(spans, spans[1:], strict=False):
            if a.start_addr + a.npages * PAGE_SIZE > b.start_addr:
                fail(f"spans {a.start_addr:#x} and {b.start_addr:#x} overlap")
            if self.pages.is_free_range(a.start_addr, a.npages):
                fail(f"span {a.start_addr:#x} is free in the page allocator")
        if in_use_pages != self.pages_in_use:
            fail(f"pages_in_use {self.pages_in_use} != {in_use_pages} pages in IN_USE spans")
        heap_spans = sum(
            s.npages * PAGE_SIZE
            for s in spans
            if s.state == SpanState.IN_USE  # MANUAL spans are not HeapInuse
        )
        if heap_spans != self.gc_controller.heap_in_use.nbytes:
            fail(f"HeapInuse {self.gc_controller.heap_in_use.nbytes} != {heap_spans} in spans")
        self.pages.check_invariants()


__all__ = [
    "ARENA_BASE_OFFSET",
    "HEAP_ARENA_BYTES",
    "NUM_SPAN_CLASSES",
    "PAGE_SIZE",
    "TINY_SPAN_CLASS",
    "ArenaHint",
    "HeapArena",
    "MHeap",
    "MSpan",
    "SpanAllocType",
    "SpanState",
    "arena_base",
    "arena_index",
    "make_span_class",
]
