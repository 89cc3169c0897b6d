"""The page allocator. Models runtime/mpagealloc.go, runtime/mpagealloc_64bit.go,
the pageAlloc and scavengeIndex parts of runtime/mgcscavenge.go and the
addrRange/addrRanges/atomicOffAddr parts of runtime/mranges.go (go1.24, amd64).
See docs/ARCHITECTURE.md for where it sits; mpallocbits.py holds the bitmaps.

The heap's pages (8 KiB) are tracked by a bitmap, one bit per page, cut into
4 MiB chunks of 512 pages (PallocData). Above the chunks sits a radix tree of
summaries, five levels deep, each level one flat array over the whole 48-bit
address space:

    level  entries  one entry covers  fan-out below
      0    2**14    16 GiB            8
      1    2**17     2 GiB            8
      2    2**20   256 MiB            8
      3    2**23    32 MiB            8
      4    2**26     4 MiB (a chunk)  the chunk's bitmap

A summary (start, max, end) counts free pages at the start, in the longest
run, and at the end of its region. Allocation is address-ordered first fit:
`find` walks down from the root, at each level scanning one block of 8
entries (the whole root level at level 0) for either an entry whose max
fits, to descend into, or a run of free pages crossing entry boundaries, to
return at once. `searchAddr` prunes the walk: every page below it is in use.

Addresses are compared in Go's offset address space (mranges.go offAddr):
an address `a` sorts as (a - arenaBaseOffset) mod 2**64, with
arenaBaseOffset = 0xffff800000000000 on amd64, so the kernel half of the
address space comes first. Values such as `search_addr` hold the virtual
address (Go's offAddr.addr()); `_off` converts for comparisons.

Scavenging (returning free pages to the OS) is driven by the scavengeIndex:
one scavChunkData per chunk (pages in use now and at the last generation
change, the generation, a has-free flag) and two cursors that walk chunks
from the highest address down. `scavenge` asks it for a chunk, finds the
highest free-and-unscavenged run there, marks it in use while it is
released (through the `release` callback), then frees it again as
scavenged. A chunk is left alone by the background scavenger while it is
dense (>= 496 of 512 pages in use) in this generation or the last.
Kept from Go: scavengeOne searches only from the cursor's 64-page word down,
and marks the chunk empty when it finds nothing there, so pages freed above
the background cursor stay unscavenged until the next free into the chunk.

Invariants (check_invariants): every level-l summary is the merge of its 8
children; every leaf is the summary of its chunk's bitmap; no page is both
in use and scavenged; no free page of grown memory lies below searchAddr;
the scavenge index's inUse count of each chunk equals its number of in-use
pages; inUse ranges are sorted, disjoint and coalesced; start/end bound them.

Memory of the process: with an OSMemory, __init__ reserves the five summary
arrays and the scavenge index's chunk array PROT_NONE where the kernel
likes (sysReserve(nil, ...)), and grow maps read/write the page-rounded
parts that cover the new range (sysMap + sysUsed, counted in `sys_stat`,
Go's gcMiscSys), and sysAllocs the 1 MiB second level of the chunk map
when a new 32 GiB slice of the address space is touched. The summaries,
bitmaps and index themselves are kept in Python dicts, not in those pages.

Simplified: no mheap lock (the model is single-threaded), so scavengeOne's
unlock/relock and the atomics of the index are plain steps; findMappedAddr
always consults inUse (Go first checks mheap_.arenas outside tests);
scavenge's accounting (heapReleased, heapFree, heapStats, the releasedBg/
releasedEager counters) is the caller's, through `release`; addrRanges'
backing store (persistentalloc) is a list. The summary arrays are dicts, so
find's scan of the 16384 root entries visits only the non-empty ones (a
missing entry breaks a run exactly as a zero entry does in Go).
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .mem_linux import PHYS_PAGE_SIZE, OSMemory, RuntimeThrow, SysMemStat
from .mpallocbits import (
    _ALL_MAX_BIT,
    _FIELD_MASK,
    FREE_CHUNK_SUM,
    LOG_MAX_PACKED_VALUE,
    LOG_PALLOC_CHUNK_PAGES,
    MAX_PACKED_VALUE,
    NOT_FOUND,
    PALLOC_CHUNK_BYTES,
    PALLOC_CHUNK_PAGES,
    SUMMARY_LEVEL_BITS,
    SUMMARY_LEVELS,
    PallocData,
    pack_palloc_sum,
    palloc_sum_max,
    unpack_palloc_sum,
)
from .msize import PAGE_SIZE

if TYPE_CHECKING:
    from .mpagecache import PageCache

HEAP_ADDR_BITS = 48  # heapAddrBits on linux/amd64
ARENA_BASE_OFFSET = 0xFFFF800000000000  # arenaBaseOffset on amd64
UINTPTR_MASK = (1 << 64) - 1

LOG_PALLOC_CHUNK_BYTES = LOG_PALLOC_CHUNK_PAGES + 13  # 22: a chunk is 4 MiB
# summaryL0Bits + (summaryLevels-1)*summaryLevelBits + logPallocChunkBytes = heapAddrBits
SUMMARY_L0_BITS = (  # 14
    HEAP_ADDR_BITS - LOG_PALLOC_CHUNK_BYTES - (SUMMARY_LEVELS - 1) * SUMMARY_LEVEL_BITS
)
LEVEL_BITS = (SUMMARY_L0_BITS,) + (SUMMARY_LEVEL_BITS,) * (SUMMARY_LEVELS - 1)  # (14, 3, 3, 3, 3)
LEVEL_SHIFT = tuple(  # (34, 31, 28, 25, 22): address bits below each level's index
    HEAP_ADDR_BITS - SUMMARY_L0_BITS - k * SUMMARY_LEVEL_BITS for k in range(SUMMARY_LEVELS)
)
LEVEL_LOG_PAGES = tuple(  # (21, 18, 15, 12, 9): log2 pages one entry covers
    LOG_PALLOC_CHUNK_PAGES + (SUMMARY_LEVELS - 1 - k) * SUMMARY_LEVEL_BITS
    for k in range(SUMMARY_LEVELS)
)
PALLOC_SUM_BYTES = 8  # unsafe.Sizeof(pallocSum(0))

# The chunk map is two-level (pageAlloc.chunks): 2**13 L1 slots, each an
# sysAlloc'd array of 2**13 pallocData (64 + 64 bytes each) = 1 MiB.
PALLOC_CHUNKS_L1_BITS = 13
PALLOC_CHUNKS_L2_BITS = HEAP_ADDR_BITS - LOG_PALLOC_CHUNK_BYTES - PALLOC_CHUNKS_L1_BITS
PALLOC_DATA_BYTES = 2 * PALLOC_CHUNK_PAGES // 8
CHUNKS_L2_BYTES = (1 << PALLOC_CHUNKS_L2_BITS) * PALLOC_DATA_BYTES

SCAV_CHUNK_DATA_BYTES = 8  # unsafe.Sizeof(atomicScavChunkData{})

MIN_OFF_ADDR = ARENA_BASE_OFFSET  # minOffAddr, as a virtual address
MAX_OFF_ADDR = (((1 << HEAP_ADDR_BITS) - 1) + ARENA_BASE_OFFSET) & UINTPTR_MASK  # 0x7fffffffffff
MAX_SEARCH_ADDR = MAX_OFF_ADDR  # maxSearchAddr(): "the heap has no free space"

# scavChunkData (mgcscavenge.go)
LOG_SCAV_CHUNK_IN_USE_MAX = LOG_PALLOC_CHUNK_PAGES + 1
SCAV_CHUNK_IN_USE_MASK = (1 << LOG_SCAV_CHUNK_IN_USE_MAX) - 1
SCAV_CHUNK_HAS_FREE = 1  # scavChunkHasFree; its absence is "empty"
SCAV_CHUNK_MAX_FLAGS = 6
SCAV_CHUNK_FLAGS_MASK = (1 << SCAV_CHUNK_MAX_FLAGS) - 1
SCAV_CHUNK_HI_OCC_PAGES = int(0.96875 * PALLOC_CHUNK_PAGES)  # 496: a "dense" chunk


def _off(a: int) -> int:
    """An address's position in the offset address space."""
    return (a - ARENA_BASE_OFFSET) & UINTPTR_MASK


def _addr(o: int) -> int:
    """The virtual address at offset o (offAddr.addr())."""
    return (o + ARENA_BASE_OFFSET) & UINTPTR_MASK


def chunk_index(p: int) -> int:
    """chunkIndex: the global index of the chunk holding address p."""
    return ((p - ARENA_BASE_OFFSET) & UINTPTR_MASK) >> LOG_PALLOC_CHUNK_BYTES


def chunk_base(ci: int) -> int:
    """chunkBase: the first address of chunk ci."""
    return ((ci << LOG_PALLOC_CHUNK_BYTES) + ARENA_BASE_OFFSET) & UINTPTR_MASK


def chunk_page_index(p: int) -> int:
    """chunkPageIndex: the page of p within its chunk."""
    return (p % PALLOC_CHUNK_BYTES) // PAGE_SIZE


def addrs_to_summary_range(level: int, base: int, limit: int) -> tuple[int, int]:
    """addrsToSummaryRange: summary indices [lo, hi) at `level` covering [base, limit)."""
    shift = LEVEL_SHIFT[level]
    lo = _off(base) >> shift
    hi = (_off(limit - 1) >> shift) + 1
    return lo, hi


def block_align_summary_range(level: int, lo: int, hi: int) -> tuple[int, int]:
    """blockAlignSummaryRange: widen [lo, hi) to whole blocks of the level."""
    e = 1 << LEVEL_BITS[level]
    return lo // e * e, -(-hi // e) * e


def merge_summaries(sums: list[int], log_max_pages_per_sum: int) -> int:
    """mergeSummaries: the summary of consecutive regions of 2**log pages each."""
    # Hot path (every update walks it 4 times): unpacking inlined; a zero
    # child (nothing free) can only cut the running end, so it is skipped early.
    full = 1 << log_max_pages_per_sum
    start, most, end = unpack_palloc_sum(sums[0])
    pos = full  # pages covered so far: start == pos means all of them are free
    for k in range(1, len(sums)):
        s = sums[k]
        if not s:
            end = 0
            pos += full
            continue
        if s & _ALL_MAX_BIT:
            si = mi = ei = MAX_PACKED_VALUE
        else:
            si = s & _FIELD_MASK
            mi = (s >> LOG_MAX_PACKED_VALUE) & _FIELD_MASK
            ei = (s >> (2 * LOG_MAX_PACKED_VALUE)) & _FIELD_MASK
        if start == pos:
            start += si
        if end + si > most:  # a run across the boundary
            most = end + si
        if mi > most:
            most = mi
        end = end + full if ei == full else ei
        pos += full
    return pack_palloc_sum(start, most, end)


def _align_down(n: int, a: int) -> int:
    return n // a * a


def _align_up(n: int, a: int) -> int:
    return -(-n // a) * a


# -- mranges.go ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddrRange:
    """addrRange: [base, limit) in the offset address space (virtual addresses held)."""

    base: int
    limit: int

    def size(self) -> int:
        if _off(self.base) >= _off(self.limit):
            return 0
        return (self.limit - self.base) & UINTPTR_MASK

    def contains(self, addr: int) -> bool:
        return _off(self.base) <= _off(addr) < _off(self.limit)

    def subtract(self, b: AddrRange) -> AddrRange:
        """The part of self outside b; b must not split self in two."""
        ab, al, bb, bl = _off(self.base), _off(self.limit), _off(b.base), _off(b.limit)
        if bb <= ab and al <= bl:
            return AddrRange(0, 0)
        if ab < bb and bl < al:
            raise RuntimeThrow("addrRange.subtract: bad prune")
        if bl < al and ab < bl:
            return AddrRange(b.limit, self.limit)
        if ab < bb < al:
            return AddrRange(self.base, b.base)
        return self


def make_addr_range(base: int, limit: int) -> AddrRange:
    """makeAddrRange: throws if base and limit lie on either side of the offset's wrap."""
    if ((base - ARENA_BASE_OFFSET) & UINTPTR_MASK >= base) != (
        (limit - ARENA_BASE_OFFSET) & UINTPTR_MASK >= limit
    ):
        raise RuntimeThrow("addr range base and limit are not in the same memory segment")
    return AddrRange(base, limit)


@dataclass(slots=True)
class AddrRanges:
    """addrRanges: sorted, disjoint, eagerly coalesced address ranges."""

    ranges: list[AddrRange] = field(default_factory=list)  # sorted by base; written by add
    total_bytes: int = 0  # sum of the ranges' sizes

    def find_succ(self, addr: int) -> int:
        """The first index whose range's base is above addr."""
        return bisect_right(self.ranges, _off(addr), key=lambda r: _off(r.base))

    def find_addr_greater_equal(self, addr: int) -> tuple[int, bool]:
        """The smallest address held that is >= addr, and whether there is one."""
        i = self.find_succ(addr)
        if i == 0:
            return self.ranges[0].base, True
        if self.ranges[i - 1].contains(addr):
            return addr, True
        if i < len(self.ranges):
            return self.ranges[i].base, True
        return 0, False

    def contains(self, addr: int) -> bool:
        i = self.find_succ(addr)
        return i > 0 and self.ranges[i - 1].contains(addr)

    def add(self, r: AddrRange) -> None:
        """Insert r, which must not overlap any range held, merging with neighbours."""
        if r.size() == 0:
            raise RuntimeThrow(
                f"addrRanges.add: attempted to add zero-sized address range "
                f"{{{r.base:#x}, {r.limit:#x}}}"
            )
        i = self.find_succ(r.base)
        down = i > 0 and self.ranges[i - 1].limit == r.base
        up = i < len(self.ranges) and r.limit == self.ranges[i].base
        if down and up:
            self.ranges[i - 1] = AddrRange(self.ranges[i - 1].base, self.ranges[i].limit)
            del self.ranges[i]
        elif down:
            self.ranges[i - 1] = AddrRange(self.ranges[i - 1].base, r.limit)
        elif up:
            self.ranges[i] = AddrRange(r.base, self.ranges[i].limit)
        else:
            self.ranges.insert(i, r)
        self.total_bytes += r.size()


@dataclass(slots=True)
class AtomicOffAddr:
    """atomicOffAddr: an offset address that may be "marked" (stored negated)
    so that a decreasing cursor cannot overwrite an increase it has not seen."""

    a: int = 0  # offset address; negative when marked; 0 is minOffAddr (cleared)

    def clear(self) -> None:
        """Store minOffAddr, unless the value is marked."""
        if self.a >= 0:
            self.a = 0

    def store_min(self, addr: int) -> None:
        """Store addr if it is lower than the value (a marked value is negative, so it stays)."""
        new = _off(addr)
        if self.a >= new:
            self.a = new

    def store_unmark(self, marked_addr: int, new_addr: int) -> None:
        """Replace marked_addr (as loaded, marked) with new_addr, unmarked."""
        if self.a == -_off(marked_addr):
            self.a = _off(new_addr)

    def store_marked(self, addr: int) -> None:
        self.a = -_off(addr)

    def load(self) -> tuple[int, bool]:
        """(virtual address, was it marked)."""
        v = self.a
        return _addr(-v if v < 0 else v), v < 0


# -- the scavenge index (mgcscavenge.go) ------------------------------------------


@dataclass(slots=True)
class ScavChunkData:
    """scavChunkData: what the scavenger knows about one chunk.
    The zero value is a freshly grown chunk (all scavenged, so nothing to do)."""

    in_use: int = 0  # pages in use now; 0 <= in_use <= 512
    last_in_use: int = 0  # pages in use when `gen` last moved forward
    gen: int = 0  # the index's generation at the last update (uint32)
    flags: int = 0  # SCAV_CHUNK_HAS_FREE or not

    def pack(self) -> int:
        return (
            self.in_use
            | (self.last_in_use << 16)
            | (self.flags << (16 + LOG_SCAV_CHUNK_IN_USE_MAX))
            | (self.gen << 32)
        )

    @classmethod
    def unpack(cls, sc: int) -> ScavChunkData:
        return cls(
            in_use=sc & 0xFFFF,
            last_in_use=(sc >> 16) & SCAV_CHUNK_IN_USE_MASK,
            gen=(sc >> 32) & 0xFFFFFFFF,
            flags=((sc >> (16 + LOG_SCAV_CHUNK_IN_USE_MAX)) & 0xFF) & SCAV_CHUNK_FLAGS_MASK,
        )

    def is_empty(self) -> bool:
        return not self.flags & SCAV_CHUNK_HAS_FREE

    def set_empty(self) -> None:
        self.flags &= ~SCAV_CHUNK_HAS_FREE

    def set_non_empty(self) -> None:
        self.flags |= SCAV_CHUNK_HAS_FREE

    def should_scavenge(self, curr_gen: int, force: bool) -> bool:
        """Whether the scavenger should look in this chunk now."""
        if self.is_empty():
            return False
        if force:
            return True
        if self.gen == curr_gen:
            # Dense now or at the last generation change: leave it be.
            return max(self.in_use, self.last_in_use) < SCAV_CHUNK_HI_OCC_PAGES
        return self.in_use < SCAV_CHUNK_HI_OCC_PAGES

    def alloc(self, npages: int, new_gen: int) -> None:
        if self.in_use + npages > PALLOC_CHUNK_PAGES:
            raise RuntimeThrow(
                f"scavChunkData.alloc: too many pages allocated in chunk? "
                f"inUse={self.in_use} npages={npages}"
            )
        if self.gen != new_gen:
            self.last_in_use = self.in_use
            self.gen = new_gen
        self.in_use += npages
        if self.in_use == PALLOC_CHUNK_PAGES:
            self.set_empty()  # nothing left for the scavenger

    def free(self, npages: int, new_gen: int) -> None:
        if self.in_use < npages:
            raise RuntimeThrow(
                f"scavChunkData.free: allocated pages below zero? "
                f"inUse={self.in_use} npages={npages}"
            )
        if self.gen != new_gen:
            self.last_in_use = self.in_use
            self.gen = new_gen
        self.in_use -= npages
        self.set_non_empty()


@dataclass(slots=True)
class ScavengeIndex:
    """scavengeIndex: which chunks may have pages to scavenge.

    The two cursors hold the highest address worth looking at: search_addr_bg
    for the background and heap-growth scavenger (raised only by next_gen to
    the highest address freed in the last generation), search_addr_force for
    forced scavenging (raised by every free). find lowers them as it finds
    nothing above.
    """

    chunks: dict[int, ScavChunkData] = field(default_factory=dict)  # by chunk index
    # [min, max): chunk indices whose entries are mapped (page-rounded);
    # min_heap_idx: the lowest chunk ever grown. Written by grow/sys_grow.
    min: int = 0
    max: int = 0
    min_heap_idx: int = 0
    search_addr_bg: AtomicOffAddr = field(default_factory=AtomicOffAddr)
    search_addr_force: AtomicOffAddr = field(default_factory=AtomicOffAddr)
    free_hwm: int = MIN_OFF_ADDR  # highest address freed this generation (offAddr)
    gen: int = 0  # generation counter (uint32), advanced by next_gen once per GC
    test: bool = False
    os: OSMemory | None = None
    chunks_base: int = 0  # address of the reserved chunk array; 0 without an OS
    _indices: list[int] = field(default_factory=list)  # sorted keys of `chunks`

    def init(self, test: bool, os: OSMemory | None, sys_stat: SysMemStat) -> int:
        """scavengeIndex.init; returns the bytes added to sys_stat (none)."""
        self.search_addr_bg.clear()
        self.search_addr_force.clear()
        self.free_hwm = MIN_OFF_ADDR
        self.test = test
        self.os = os
        return self.sys_init(test, sys_stat)

    def sys_init(self, test: bool, sys_stat: SysMemStat) -> int:
        """Reserve one 8-byte entry per chunk of the address space: 2**26 * 8 = 512 MiB."""
        del test, sys_stat
        n = (1 << HEAP_ADDR_BITS) // PALLOC_CHUNK_BYTES
        if self.os is not None:
            self.chunks_base = self.os.sys_reserve(0, n * SCAV_CHUNK_DATA_BYTES)
            if self.chunks_base == 0:
                raise RuntimeThrow("scavengeIndex.sysInit: failed to reserve the chunk index")
        return 0  # all of it is only Reserved

    def grow(self, base: int, limit: int, sys_stat: SysMemStat) -> int:
        """scavengeIndex.grow: note the new lowest chunk, then map entries."""
        base_idx = chunk_index(base)
        if self.min_heap_idx == 0 or base_idx < self.min_heap_idx:
            self.min_heap_idx = base_idx
        return self.sys_grow(base, limit, sys_stat)

    def sys_grow(self, base: int, limit: int, sys_stat: SysMemStat) -> int:
        """Map the entries for [base, limit), keeping [min, max) one contiguous,
        page-rounded range. Returns the bytes newly mapped."""
        if base % PALLOC_CHUNK_BYTES or limit % PALLOC_CHUNK_BYTES:
            raise RuntimeThrow(
                f"scavengeIndex.sysGrow: bounds not aligned to pallocChunkBytes: "
                f"base = {base:#x}, limit = {limit:#x}"
            )
        per_page = PHYS_PAGE_SIZE // SCAV_CHUNK_DATA_BYTES
        have_min, have_max = self.min, self.max
        need_min = _align_down(chunk_index(base), per_page)
        need_max = _align_up(chunk_index(limit), per_page)
        if need_max < have_min:
            need_max = have_min
        if have_max != 0 and need_min > have_max:
            need_min = have_max
        b = self.chunks_base
        have = AddrRange(b + have_min * SCAV_CHUNK_DATA_BYTES, b + have_max * SCAV_CHUNK_DATA_BYTES)
        need = AddrRange(b + need_min * SCAV_CHUNK_DATA_BYTES, b + need_max * SCAV_CHUNK_DATA_BYTES)
        need = need.subtract(have)  # never remap: that would zero live entries
        size = need.size()
        if size:
            if self.os is not None:
                self.os.sys_map(need.base, size, sys_stat)
                self.os.sys_used(need.base, size, size)
            if have_max == 0 or need_min < have_min:
                self.min = need_min
            if need_max > have_max:
                self.max = need_max
        return size

    def _entry(self, ci: int) -> ScavChunkData:
        sc = self.chunks.get(ci)
        if sc is None:
            sc = self.chunks[ci] = ScavChunkData()
            insort(self._indices, ci)
        return sc

    def find(self, force: bool) -> tuple[int, int]:
        """The highest chunk that may hold pages to scavenge and the page to
        search down from; (0, 0) when there is none."""
        cursor = self.search_addr_force if force else self.search_addr_bg
        search_addr, marked = cursor.load()
        if search_addr == MIN_OFF_ADDR:
            return 0, 0
        gen = self.gen
        start = chunk_index(search_addr)
        # Go walks every index from start down to minHeapIdx; chunks without
        # an entry are zero, hence empty, hence skipped, so visit only entries.
        idx = self._indices
        k = bisect_right(idx, start) - 1
        while k >= 0 and idx[k] >= self.min_heap_idx:
            i = idx[k]
            k -= 1
            if not self.chunks[i].should_scavenge(gen, force):
                continue
            if i == start:
                return i, chunk_page_index(search_addr)
            new_search_addr = chunk_base(i) + PALLOC_CHUNK_BYTES - PAGE_SIZE
            if marked:
                cursor.store_unmark(search_addr, new_search_addr)
            else:
                cursor.store_min(new_search_addr)
            return i, PALLOC_CHUNK_PAGES - 1
        cursor.clear()  # the heap is exhausted for now
        return 0, 0

    def alloc(self, ci: int, npages: int) -> None:
        """npages of chunk ci were allocated."""
        self._entry(ci).alloc(npages, self.gen)

    def free(self, ci: int, page: int, npages: int) -> None:
        """npages of chunk ci from `page` on were freed: raise the force cursor and
        this generation's high-water mark (next_gen hands that to the background)."""
        self._entry(ci).free(npages, self.gen)
        addr = chunk_base(ci) + (page + npages - 1) * PAGE_SIZE
        if _off(self.free_hwm) < _off(addr):
            self.free_hwm = addr
        search_addr, _ = self.search_addr_force.load()
        if _off(search_addr) < _off(addr):
            self.search_addr_force.store_marked(addr)

    def next_gen(self) -> None:
        """Advance one generation (once per GC cycle, or more to release more)."""
        self.gen = (self.gen + 1) & 0xFFFFFFFF
        search_addr, _ = self.search_addr_bg.load()
        if _off(search_addr) < _off(self.free_hwm):
            self.search_addr_bg.store_marked(self.free_hwm)
        self.free_hwm = MIN_OFF_ADDR

    def set_empty(self, ci: int) -> None:
        """The scavenger is done with chunk ci for now."""
        self._entry(ci).set_empty()


# -- pageAlloc -------------------------------------------------------------------


class PageAlloc:
    """pageAlloc: the page heap's free-page index (embedded in mheap as `pages`)."""

    __slots__ = (
        "os",
        "sys_stat",
        "release",
        "test",
        "_summary",
        "summary_base",
        "_chunks",
        "_chunks_l2",
        "search_addr",
        "start",
        "end",
        "in_use",
        "scav_index",
        "summary_mapped_ready",
        "chunk_huge_pages",
    )

    def __init__(
        self,
        os: OSMemory | None = None,
        sys_stat: SysMemStat | None = None,
        *,
        release: Callable[[int, int], None] | None = None,
        test: bool = False,
    ) -> None:
        """pageAlloc.init. `os`: where to reserve and map the metadata (None:
        nothing is mapped). `sys_stat`: the statistic that mapping feeds (Go
        passes memstats.gcMiscSys). `release(addr, nbytes)`: called for each
        run the scavenger returns to the OS, unless `test`."""
        if LEVEL_LOG_PAGES[0] > LOG_MAX_PACKED_VALUE:
            raise RuntimeThrow("pageAlloc.init: root level max pages doesn't fit in summary")
        self.os = os
        self.sys_stat = sys_stat if sys_stat is not None else SysMemStat("GCSys")
        self.release = release
        self.test = test  # like Go's test flag: no sysUnused, no huge-page advice
        # One dict per level: summary index -> packed pallocSum; absent = 0 (no free pages).
        self._summary: list[dict[int, int]] = [{} for _ in range(SUMMARY_LEVELS)]
        # Address of each level's reserved array (0 without an OS).
        self.summary_base: tuple[int, ...] = (0,) * SUMMARY_LEVELS
        self._chunks: dict[int, PallocData] = {}  # chunk index -> bitmaps, grown chunks only
        self._chunks_l2: dict[int, int] = {}  # L1 index -> address of its 1 MiB L2 block
        # All pages below searchAddr (in offset order) are in use; it lies in
        # in_use or is MAX_SEARCH_ADDR. Written by alloc, free, grow, find's callers.
        self.search_addr = MAX_SEARCH_ADDR
        self.start = 0  # chunk indices [start, end) known to the allocator; set by grow
        self.end = 0
        self.in_use = AddrRanges()  # everything ever passed to grow
        self.scav_index = ScavengeIndex()
        self.summary_mapped_ready = 0  # bytes of metadata mapped Ready (summaries + index)
        self.chunk_huge_pages = False  # back new chunk L2 blocks with huge pages?
        self.sys_init(test)
        self.summary_mapped_ready += self.scav_index.init(test, os, self.sys_stat)

    # -- mpagealloc_64bit.go ------------------------------------------------------

    def sys_init(self, test: bool) -> None:
        """Reserve each summary level's whole array: 2**14 .. 2**26 entries of 8 bytes
        (128 KiB, 1 MiB, 8 MiB, 64 MiB, 512 MiB), PROT_NONE, where the kernel likes."""
        del test
        if self.os is None:
            return
        bases = []
        for shift in LEVEL_SHIFT:
            entries = 1 << (HEAP_ADDR_BITS - shift)
            b = _align_up(entries * PALLOC_SUM_BYTES, PHYS_PAGE_SIZE)
            r = self.os.sys_reserve(0, b)
            if r == 0:
                raise RuntimeThrow("pageAlloc.sysInit: failed to reserve page summary memory")
            bases.append(r)
        self.summary_base = tuple(bases)

    def _sum_addr_range(self, level: int, r: AddrRange) -> AddrRange:
        """The page-rounded part of level's array holding the summaries for r."""
        lo, hi = addrs_to_summary_range(level, r.base, r.limit)
        lo, hi = block_align_summary_range(level, lo, hi)
        base = self.summary_base[level]
        return AddrRange(
            base + _align_down(lo * PALLOC_SUM_BYTES, PHYS_PAGE_SIZE),
            base + _align_up(hi * PALLOC_SUM_BYTES, PHYS_PAGE_SIZE),
        )

    def sys_grow(self, base: int, limit: int) -> None:
        """Map the summaries for [base, limit) that are not mapped yet; both chunk-aligned."""
        if base % PALLOC_CHUNK_BYTES or limit % PALLOC_CHUNK_BYTES:
            raise RuntimeThrow(
                f"pageAlloc.sysGrow: bounds not aligned to pallocChunkBytes: "
                f"base = {base:#x}, limit = {limit:#x}"
            )
        # Neighbouring ranges may already have mapped the edges of what we need
        # (page rounding); never map twice.
        in_use_index = self.in_use.find_succ(base)
        ranges = self.in_use.ranges
        grown = AddrRange(base, limit)
        for level in range(SUMMARY_LEVELS):
            need = self._sum_addr_range(level, grown)
            if in_use_index > 0:
                need = need.subtract(self._sum_addr_range(level, ranges[in_use_index - 1]))
            if in_use_index < len(ranges):
                need = need.subtract(self._sum_addr_range(level, ranges[in_use_index]))
            size = need.size()
            if size == 0:
                continue
            if self.os is not None:
                self.os.sys_map(need.base, size, self.sys_stat)
                self.os.sys_used(need.base, size, size)
            self.summary_mapped_ready += size
        self.summary_mapped_ready += self.scav_index.sys_grow(base, limit, self.sys_stat)

    # -- mpagealloc.go --------------------------------------------------------------

    def try_chunk(self, ci: int) -> PallocData | None:
        """tryChunkOf, for grown chunks only: their bitmaps, or None."""
        return self._chunks.get(ci)

    def chunk(self, ci: int) -> PallocData:
        """chunkOf: the bitmaps of grown chunk ci."""
        c = self._chunks.get(ci)
        if c is None:
            raise RuntimeThrow(f"pageAlloc.chunk: chunk {ci:#x} was never grown")
        return c

    def summary(self, level: int, index: int) -> tuple[int, int, int]:
        """The (start, max, end) summary at summary[level][index]."""
        return unpack_palloc_sum(self._summary[level].get(index, 0))

    def grow(self, base: int, nbytes: int) -> None:
        """Add [base, base+nbytes) to the heap: free, and counted as scavenged."""
        limit = _align_up(base + nbytes, PALLOC_CHUNK_BYTES)
        base = _align_down(base, PALLOC_CHUNK_BYTES)
        self.sys_grow(base, limit)
        self.summary_mapped_ready += self.scav_index.grow(base, limit, self.sys_stat)

        first_growth = self.start == 0
        start, end = chunk_index(base), chunk_index(limit)
        if first_growth or start < self.start:
            self.start = start
        if end > self.end:
            self.end = end
        self.in_use.add(make_addr_range(base, limit))  # never overlaps: memory is new
        if _off(base) < _off(self.search_addr):
            self.search_addr = base

        for c in range(start, end):
            l1 = c >> PALLOC_CHUNKS_L2_BITS
            if l1 not in self._chunks_l2:
                self._chunks_l2[l1] = self._alloc_chunks_l2()
            data = self._chunks.get(c)
            if data is None:
                data = self._chunks[c] = PallocData()
            data.scavenged.set_range(0, PALLOC_CHUNK_PAGES)
        self.update(base, nbytes // PAGE_SIZE, True, False)

    def _alloc_chunks_l2(self) -> int:
        """sysAlloc one second-level block of the chunk map (1 MiB)."""
        if self.os is None:
            return 0
        r = self.os.sys_alloc(CHUNKS_L2_BYTES, self.sys_stat)
        if r == 0:
            raise RuntimeThrow("pageAlloc: out of memory")
        if not self.test:
            if self.chunk_huge_pages:
                self.os.sys_huge_page(r, CHUNKS_L2_BYTES)
            else:
                self.os.sys_no_huge_page(r, CHUNKS_L2_BYTES)
        return r

    def enable_chunk_huge_pages(self) -> None:
        """enableChunkHugePages: back the chunk map with huge pages from now on.

        Go's loop over existing L2 blocks stops before the L1 index of each
        range's last chunk, so a range within one L2 block advises nothing;
        we do the same.
        """
        if self.chunk_huge_pages:
            return
        self.chunk_huge_pages = True
        if self.os is None:
            return
        for r in self.in_use.ranges:
            first = chunk_index(r.base) >> PALLOC_CHUNKS_L2_BITS
            last = chunk_index(r.limit - 1) >> PALLOC_CHUNKS_L2_BITS
            for i in range(first, last):
                self.os.sys_huge_page(self._chunks_l2[i], CHUNKS_L2_BYTES)

    def update(self, base: int, npages: int, contig: bool, alloc: bool) -> None:
        """Recompute the summaries over [base, base+npages pages) after the bitmaps
        changed there, leaves first, stopping as soon as a level is unchanged.
        contig: the change was one contiguous alloc (alloc=True) or free."""
        limit = base + npages * PAGE_SIZE - 1  # inclusive
        sc, ec = chunk_index(base), chunk_index(limit)
        leaf = self._summary[SUMMARY_LEVELS - 1]
        chunks = self._chunks
        if sc == ec:
            y = chunks[sc].summarize()
            if leaf.get(sc, 0) == y:
                return
            leaf[sc] = y
        elif contig:
            leaf[sc] = chunks[sc].summarize()
            whole = 0 if alloc else FREE_CHUNK_SUM
            for c in range(sc + 1, ec):
                leaf[c] = whole
            leaf[ec] = chunks[ec].summarize()
        else:
            for c in range(sc, ec + 1):
                leaf[c] = chunks[c].summarize()

        off_base, off_last = _off(base), _off(limit)
        for level in range(SUMMARY_LEVELS - 2, -1, -1):
            changed = False
            log_entries = LEVEL_BITS[level + 1]
            log_max_pages = LEVEL_LOG_PAGES[level + 1]
            below = self._summary[level + 1]
            here = self._summary[level]
            shift = LEVEL_SHIFT[level]  # addrs_to_summary_range(level, base, limit + 1)
            for i in range(off_base >> shift, (off_last >> shift) + 1):
                first = i << log_entries
                children = [below.get(k, 0) for k in range(first, first + (1 << log_entries))]
                s = merge_summaries(children, log_max_pages)
                if here.get(i, 0) != s:
                    changed = True
                    here[i] = s
            if not changed:
                break

    def alloc_range(self, base: int, npages: int) -> int:
        """Mark [base, base+npages pages) in use; returns the scavenged bytes in it."""
        limit = base + npages * PAGE_SIZE - 1
        sc, ec = chunk_index(base), chunk_index(limit)
        si, ei = chunk_page_index(base), chunk_page_index(limit)
        chunks = self._chunks
        index = self.scav_index
        if sc == ec:
            chunk = chunks[sc]
            scav = chunk.scavenged.popcnt_range(si, ei + 1 - si)
            chunk.alloc_range(si, ei + 1 - si)
            index.alloc(sc, ei + 1 - si)
        else:
            chunk = chunks[sc]
            scav = chunk.scavenged.popcnt_range(si, PALLOC_CHUNK_PAGES - si)
            chunk.alloc_range(si, PALLOC_CHUNK_PAGES - si)
            index.alloc(sc, PALLOC_CHUNK_PAGES - si)
            for c in range(sc + 1, ec):
                chunk = chunks[c]
                scav += chunk.scavenged.popcnt_range(0, PALLOC_CHUNK_PAGES)
                chunk.alloc_all()
                index.alloc(c, PALLOC_CHUNK_PAGES)
            chunk = chunks[ec]
            scav += chunk.scavenged.popcnt_range(0, ei + 1)
            chunk.alloc_range(0, ei + 1)
            index.alloc(ec, ei + 1)
        self.update(base, npages, True, True)
        return scav * PAGE_SIZE

    def find_mapped_addr(self, addr: int) -> int:
        """The lowest grown address >= addr (offset order), or MAX_OFF_ADDR."""
        v, ok = self.in_use.find_addr_greater_equal(addr)
        return v if ok else MAX_OFF_ADDR

    def find(self, npages: int) -> tuple[int, int]:
        """Slow path: the first-fit address for npages (0 if none) and a
        candidate searchAddr (meaningless when the address is 0)."""
        # [ff_base, ff_bound]: offsets of the narrowest known window holding the
        # heap's first free page; narrowed as the walk descends.
        ff_base, ff_bound = 0, _off(MAX_OFF_ADDR)

        def found_free(a: int, size: int) -> None:
            nonlocal ff_base, ff_bound
            top = a + size - 1
            if ff_base <= a and top <= ff_bound:
                ff_base, ff_bound = a, top
            elif not (top < ff_base or ff_bound < a):
                raise RuntimeThrow(
                    f"pageAlloc.find: range partially overlaps: addr = {_addr(a):#x}, "
                    f"size = {size}, base = {_addr(ff_base):#x}, bound = {_addr(ff_bound):#x}"
                )

        search_off = _off(self.search_addr)
        i = 0
        last_sum, last_sum_idx = 0, -1
        for level in range(SUMMARY_LEVELS):
            entries_per_block = 1 << LEVEL_BITS[level]
            log_max_pages = LEVEL_LOG_PAGES[level]
            i <<= LEVEL_BITS[level]
            j0 = 0
            search_idx = search_off >> LEVEL_SHIFT[level]
            if search_idx & ~(entries_per_block - 1) == i:
                j0 = search_idx & (entries_per_block - 1)

            entries = self._summary[level]
            if level == 0:
                # 16384 root entries, nearly all zero: visit only those present.
                # A zero entry only breaks the current run, so a gap does too.
                js: list[int] | range = sorted(j for j in entries if j >= j0)
            else:
                js = range(j0, entries_per_block)
            base = size = 0
            prev = j0 - 1
            descend = False
            for j in js:
                if j != prev + 1:
                    size = 0
                prev = j
                s = entries.get(i + j, 0)
                if s == 0:
                    size = 0  # a full entry breaks any run
                    continue
                found_free((i + j) << LEVEL_SHIFT[level], (1 << log_max_pages) * PAGE_SIZE)
                start, most, end = unpack_palloc_sum(s)
                if size + start >= npages:
                    if size == 0:
                        base = j << log_max_pages
                    size += start
                    break
                if most >= npages:
                    # The run is inside this entry: go down into it.
                    i += j
                    last_sum_idx, last_sum = i, s
                    descend = True
                    break
                if size == 0 or start < 1 << log_max_pages:
                    # Start a new run at this entry's free tail.
                    size = end
                    base = ((j + 1) << log_max_pages) - size
                    continue
                size += 1 << log_max_pages  # wholly free: the run goes on
            if descend:
                continue
            if size >= npages:
                # A run across entry boundaries: it starts `base` pages into block i.
                addr = _addr((i << LEVEL_SHIFT[level]) + base * PAGE_SIZE)
                return addr, self.find_mapped_addr(_addr(ff_base))
            if level == 0:
                return 0, MAX_SEARCH_ADDR  # the heap has no such run
            ls, lm, le = unpack_palloc_sum(last_sum)
            raise RuntimeThrow(
                f"pageAlloc.find: bad summary data: summary[{level - 1}][{last_sum_idx}] = "
                f"({ls}, {lm}, {le}), level = {level}, npages = {npages}, j0 = {j0}, "
                f"searchAddr = {self.search_addr:#x}, i = {i}"
            )

        # Every level was descended: i is a chunk whose max fits npages.
        ci = i
        j, search_idx = self._chunks[ci].find(npages, 0)
        if j == NOT_FOUND:
            raise RuntimeThrow(
                f"pageAlloc.find: bad summary data: summary[{SUMMARY_LEVELS - 1}][{ci}] = "
                f"{self.summary(SUMMARY_LEVELS - 1, ci)}, npages = {npages}"
            )
        addr = chunk_base(ci) + j * PAGE_SIZE
        search_addr = chunk_base(ci) + search_idx * PAGE_SIZE
        found_free(_off(search_addr), chunk_base(ci + 1) - search_addr)
        return addr, self.find_mapped_addr(_addr(ff_base))

    def alloc(self, npages: int) -> tuple[int, int]:
        """Allocate npages contiguous pages: (address, scavenged bytes in them),
        or (0, 0) if the heap has no such run (the heap then grows)."""
        sa = self.search_addr
        i = chunk_index(sa)
        if i >= self.end:
            return 0, 0  # searchAddr is above every chunk: out of memory
        pi = chunk_page_index(sa)
        # Fast path: search the chunk at searchAddr if the run could fit there.
        if PALLOC_CHUNK_PAGES - pi >= npages:
            mx = palloc_sum_max(self._summary[SUMMARY_LEVELS - 1].get(i, 0))
            if mx >= npages:
                j, search_idx = self._chunks[i].find(npages, pi)
                if j == NOT_FOUND:
                    raise RuntimeThrow(
                        f"pageAlloc.alloc: bad summary data: max = {mx}, npages = {npages}, "
                        f"searchIdx = {pi}, searchAddr = {sa:#x}"
                    )
                cb = chunk_base(i)
                addr = cb + j * PAGE_SIZE
                scav = self.alloc_range(addr, npages)
                new_search = cb + search_idx * PAGE_SIZE
                if _off(self.search_addr) < _off(new_search):
                    self.search_addr = new_search
                return addr, scav
        addr, new_search = self.find(npages)
        if addr == 0:
            if npages == 1:
                # Not even one page: the heap is exhausted.
                self.search_addr = MAX_SEARCH_ADDR
            return 0, 0
        scav = self.alloc_range(addr, npages)
        if _off(self.search_addr) < _off(new_search):
            self.search_addr = new_search
        return addr, scav

    def free(self, base: int, npages: int) -> None:
        """Return npages pages at base to the heap."""
        if _off(base) < _off(self.search_addr):
            self.search_addr = base
        limit = base + npages * PAGE_SIZE - 1
        index = self.scav_index
        if npages == 1:
            i = chunk_index(base)
            pi = chunk_page_index(base)
            self._chunks[i].free1(pi)
            index.free(i, pi, 1)
        else:
            sc, ec = chunk_index(base), chunk_index(limit)
            si, ei = chunk_page_index(base), chunk_page_index(limit)
            chunks = self._chunks
            if sc == ec:
                chunks[sc].free(si, ei + 1 - si)
                index.free(sc, si, ei + 1 - si)
            else:
                chunks[sc].free(si, PALLOC_CHUNK_PAGES - si)
                index.free(sc, si, PALLOC_CHUNK_PAGES - si)
                for c in range(sc + 1, ec):
                    chunks[c].free_all()
                    index.free(c, 0, PALLOC_CHUNK_PAGES)
                chunks[ec].free(0, ei + 1)
                index.free(ec, 0, ei + 1)
        self.update(base, npages, True, False)

    def is_free_range(self, base: int, npages: int) -> bool:
        """Whether every page of [base, base+npages pages) is free (not a Go
        function: a check for the heap's invariants). Pages must be grown."""
        limit = base + npages * PAGE_SIZE - 1
        for ci in range(chunk_index(base), chunk_index(limit) + 1):
            lo = chunk_page_index(base) if ci == chunk_index(base) else 0
            hi = chunk_page_index(limit) + 1 if ci == chunk_index(limit) else PALLOC_CHUNK_PAGES
            if self.chunk(ci).popcnt_range(lo, hi - lo):
                return False
        return True

    def alloc_to_cache(self) -> PageCache:
        """allocToCache (mpagecache.go): hand a 64-page block to a P's cache."""
        from .mpagecache import alloc_to_cache

        return alloc_to_cache(self)

    # -- mgcscavenge.go -------------------------------------------------------------

    def scavenge(
        self, nbytes: int, force: bool = False, *, should_stop: Callable[[], bool] | None = None
    ) -> int:
        """Release at least nbytes of free pages to the OS, highest address first,
        unless the index runs out; returns the bytes released. force: ignore
        the density heuristics (debug.FreeOSMemory, the memory limit)."""
        released = 0
        while released < nbytes:
            ci, page_idx = self.scav_index.find(force)
            if ci == 0:
                break
            released += self.scavenge_one(ci, page_idx, nbytes - released)
            if should_stop is not None and should_stop():
                break
        return released

    def scavenge_one(self, ci: int, search_idx: int, max_bytes: int) -> int:
        """Release one run of free, unscavenged pages in chunk ci at or below
        search_idx (about max_bytes; more to keep a huge page whole). Returns
        the bytes released; 0 marks the chunk empty for the index."""
        max_pages = max_bytes // PAGE_SIZE + (1 if max_bytes % PAGE_SIZE else 0)
        # Only whole OS pages can be released: 4 KiB < 8 KiB, so one page will do.
        min_pages = max(PHYS_PAGE_SIZE // PAGE_SIZE, 1)
        leaf = self._summary[SUMMARY_LEVELS - 1]
        if palloc_sum_max(leaf.get(ci, 0)) >= min_pages:
            chunk = self._chunks[ci]
            base, npages = chunk.find_scavenge_candidate(search_idx, min_pages, max_pages)
            if npages:
                addr = chunk_base(ci) + base * PAGE_SIZE
                # Hold the run as allocated while it is released, so no
                # allocation takes it meanwhile (the index is not told).
                chunk.alloc_range(base, npages)
                self.update(addr, npages, True, True)
                if not self.test and self.release is not None:
                    self.release(addr, npages * PAGE_SIZE)
                if _off(addr) < _off(self.search_addr):
                    self.search_addr = addr
                chunk.free(base, npages)
                self.update(addr, npages, True, False)
                chunk.scavenged.set_range(base, npages)
                return npages * PAGE_SIZE
        self.scav_index.set_empty(ci)
        return 0

    # -- invariants -----------------------------------------------------------------

    def check_invariants(self) -> None:
        """Raise RuntimeThrow naming the broken invariant."""
        name = "pageAlloc.check_invariants"
        ranges = self.in_use.ranges
        total = 0
        for k, r in enumerate(ranges):
            if r.base % PALLOC_CHUNK_BYTES or r.limit % PALLOC_CHUNK_BYTES or r.size() == 0:
                raise RuntimeThrow(f"{name}: inUse range {k} [{r.base:#x}, {r.limit:#x}) is bad")
            if k and _off(ranges[k - 1].limit) >= _off(r.base):
                raise RuntimeThrow(f"{name}: inUse ranges {k - 1} and {k} overlap or touch")
            total += r.size()
        if total != self.in_use.total_bytes:
            raise RuntimeThrow(f"{name}: inUse totalBytes {self.in_use.total_bytes} != {total}")
        grown = [c for r in ranges for c in range(chunk_index(r.base), chunk_index(r.limit))]
        if sorted(grown) != sorted(self._chunks):
            raise RuntimeThrow(f"{name}: chunks with bitmaps differ from the chunks in inUse")
        if grown and (self.start != min(grown) or self.end != max(grown) + 1):
            raise RuntimeThrow(f"{name}: start/end {self.start}/{self.end} do not bound inUse")

        # Leaves: each chunk's summary is its bitmap's; scavenged pages are free.
        leaf = self._summary[SUMMARY_LEVELS - 1]
        for ci, data in self._chunks.items():
            if leaf.get(ci, 0) != data.summarize():
                raise RuntimeThrow(
                    f"{name}: leaf summary of chunk {ci:#x} is "
                    f"{self.summary(SUMMARY_LEVELS - 1, ci)}, "
                    f"bitmap says {unpack_palloc_sum(data.summarize())}"
                )
            if data.scavenged.bits & data.bits:
                raise RuntimeThrow(f"{name}: chunk {ci:#x} has pages both in use and scavenged")
            sc = self.scav_index.chunks.get(ci, ScavChunkData())
            if sc.in_use != data.bits.bit_count():
                raise RuntimeThrow(
                    f"{name}: scavenge index says chunk {ci:#x} has {sc.in_use} pages in use, "
                    f"bitmap has {data.bits.bit_count()}"
                )
        for ci, s in leaf.items():
            if s and ci not in self._chunks:
                raise RuntimeThrow(f"{name}: chunk {ci:#x} was never grown but has free pages")

        # Inner levels: each entry is the merge of its 8 children.
        for level in range(SUMMARY_LEVELS - 2, -1, -1):
            below, here = self._summary[level + 1], self._summary[level]
            bits = LEVEL_BITS[level + 1]
            parents = set(here) | {k >> bits for k in below}
            for i in parents:
                children = [below.get(k, 0) for k in range(i << bits, (i + 1) << bits)]
                want = merge_summaries(children, LEVEL_LOG_PAGES[level + 1])
                if here.get(i, 0) != want:
                    raise RuntimeThrow(
                        f"{name}: summary[{level}][{i}] = {self.summary(level, i)}, "
                        f"its children merge to {unpack_palloc_sum(want)}"
                    )

        # searchAddr: in inUse (or the maximum), and no free page below it.
        sa = self.search_addr
        if sa != MAX_SEARCH_ADDR and not self.in_use.contains(sa):
            raise RuntimeThrow(f"{name}: searchAddr {sa:#x} is outside inUse")
        sa_chunk, sa_page = chunk_index(sa), chunk_page_index(sa)
        for ci, data in self._chunks.items():
            if ci < sa_chunk:
                below_mask = (1 << PALLOC_CHUNK_PAGES) - 1
            elif ci == sa_chunk:
                below_mask = (1 << sa_page) - 1
            else:
                continue
            if (data.bits & below_mask) != below_mask:
                raise RuntimeThrow(
                    f"{name}: a free page in chunk {ci:#x} lies below searchAddr {sa:#x}"
                )
