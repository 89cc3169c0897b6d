"""Per-chunk page bitmaps. Models runtime/mpallocbits.go (go1.24), plus the two
pieces of other files that work on a single chunk: the packed summary
`pallocSum` (mpagealloc.go) and `pallocData.findScavengeCandidate` with
`fillAligned` (mgcscavenge.go). See docs/ARCHITECTURE.md; mpagealloc.py
holds the radix tree built on top of these bitmaps.

A palloc chunk is 512 runtime pages (4 MiB). Its bitmap has one bit per page:

    bit i of PallocBits.bits   1 = page i allocated, 0 = free
    bit i of scavenged.bits    1 = page i returned to the OS (and free)

Go stores each bitmap as [8]uint64; bit i lives in word i//64 at position
i%64. We keep the whole bitmap in one Python int with bit i at position i,
so Go's word-at-a-time loops (find1, findSmallN, findLargeN, summarize,
findScavengeCandidate) become a handful of shifts and masks on a 512-bit
int. The results are the ones Go's loops produce, including their
quirks: every search starts at the 64-page word containing its search
index, not at the index itself.

A summary describes a run of pages with three counts (start, max, end):
free pages at the start, the longest free run anywhere, free pages at the
end. It is packed into one uint64 as Go does: 21 bits each, with bit 63
alone standing for "all three are 2**21" (a wholly free 16 GiB root entry).

Invariants: 0 <= bits < 2**512; in a PallocData, scavenged & bits == 0 as
far as the page allocator keeps it (mpagealloc.py checks it).
Simplified: nothing; the bitmaps are Python ints, not memory of the process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .mem_linux import PHYS_HUGE_PAGE_SIZE, PHYS_PAGE_SIZE, RuntimeThrow
from .msize import PAGE_SIZE

LOG_PALLOC_CHUNK_PAGES = 9
PALLOC_CHUNK_PAGES = 1 << LOG_PALLOC_CHUNK_PAGES  # pallocChunkPages: 512 pages per chunk
PALLOC_CHUNK_BYTES = PALLOC_CHUNK_PAGES * PAGE_SIZE  # pallocChunkBytes: 4 MiB

# The radix tree's shape (mpagealloc.go, mpagealloc_64bit.go); needed here
# because the packing of a summary depends on how many pages the root covers.
SUMMARY_LEVELS = 5
SUMMARY_LEVEL_BITS = 3
LOG_MAX_PACKED_VALUE = LOG_PALLOC_CHUNK_PAGES + (SUMMARY_LEVELS - 1) * SUMMARY_LEVEL_BITS  # 21
MAX_PACKED_VALUE = 1 << LOG_MAX_PACKED_VALUE  # 2**21 pages = 16 GiB, one root entry
_FIELD_MASK = MAX_PACKED_VALUE - 1
_ALL_MAX_BIT = 1 << 63  # the packed form of (MAX, MAX, MAX)

NOT_FOUND = -1  # Go's ^uint(0): "no such page index"

MASK64 = (1 << 64) - 1
_FULL = (1 << PALLOC_CHUNK_PAGES) - 1  # every page of a chunk

# maxPhysPageSize / pageSize (mheap.go): the largest `minimum` a scavenge
# candidate search may ask for.
MAX_PAGES_PER_PHYS_PAGE = (512 << 10) // PAGE_SIZE


# -- pallocSum (mpagealloc.go) -------------------------------------------------


def pack_palloc_sum(start: int, most: int, end: int) -> int:
    """packPallocSum: three counts in one uint64."""
    if most == MAX_PACKED_VALUE:
        return _ALL_MAX_BIT
    return (
        (start & _FIELD_MASK)
        | ((most & _FIELD_MASK) << LOG_MAX_PACKED_VALUE)
        | ((end & _FIELD_MASK) << (2 * LOG_MAX_PACKED_VALUE))
    )


def unpack_palloc_sum(s: int) -> tuple[int, int, int]:
    """pallocSum.unpack: (start, max, end)."""
    if s & _ALL_MAX_BIT:
        return MAX_PACKED_VALUE, MAX_PACKED_VALUE, MAX_PACKED_VALUE
    return (
        s & _FIELD_MASK,
        (s >> LOG_MAX_PACKED_VALUE) & _FIELD_MASK,
        (s >> (2 * LOG_MAX_PACKED_VALUE)) & _FIELD_MASK,
    )


def palloc_sum_max(s: int) -> int:
    """pallocSum.max alone (the allocator's fast path reads only this)."""
    if s & _ALL_MAX_BIT:
        return MAX_PACKED_VALUE
    return (s >> LOG_MAX_PACKED_VALUE) & _FIELD_MASK


FREE_CHUNK_SUM = pack_palloc_sum(PALLOC_CHUNK_PAGES, PALLOC_CHUNK_PAGES, PALLOC_CHUNK_PAGES)


# -- bit tricks on ints ----------------------------------------------------------


def _runs_of(x: int, n: int) -> int:
    """Bit i of the result is set iff bits i..i+n-1 of x are all set (n >= 1).

    The shrinking trick of findBitRange64, on any width: after each step bit i
    says "the `cover` bits from i up are all ones"; `cover` at least doubles.
    """
    cover = 1
    while cover < n and x:
        step = min(cover, n - cover)
        x &= x >> step
        cover += step
    return x


def _longest_run(x: int) -> int:
    """Length of the longest run of one bits in x (0 if x == 0).

    Binary lifting: powers[k] marks where 2**k ones start; then the length is
    assembled from the top power down, keeping a step if any run survives.
    """
    if not x:
        return 0
    powers = [x]
    k = 1
    while True:
        nxt = powers[-1] & (powers[-1] >> k)
        if not nxt:
            break
        powers.append(nxt)
        k <<= 1
    cur, length = powers[-1], k
    for i in range(len(powers) - 2, -1, -1):
        cand = cur & (powers[i] >> length)
        if cand:
            cur = cand
            length += 1 << i
    return length


def find_bit_range64(c: int, n: int) -> int:
    """findBitRange64: index of the first run of n one bits in the uint64 c,
    or a number >= 64 if there is none. n must be > 0."""
    r = _runs_of(c & MASK64, n)
    if not r:
        return 64
    return (r & -r).bit_length() - 1


# -- pageBits and pallocBits -----------------------------------------------------


@dataclass(slots=True)
class PageBits:
    """pageBits: one bit per page of a chunk (Go's [8]uint64, here one int)."""

    bits: int = 0  # bit i = page i; 0 <= bits < 2**512

    def get(self, i: int) -> int:
        return (self.bits >> i) & 1

    def block64(self, i: int) -> int:
        """The 64-page aligned block holding page i, as a uint64."""
        return (self.bits >> (i & ~63)) & MASK64

    def set(self, i: int) -> None:
        self.bits |= 1 << i

    def set_range(self, i: int, n: int) -> None:
        """Set bits [i, i+n)."""
        if i < 0 or i + n > PALLOC_CHUNK_PAGES:
            raise RuntimeThrow(f"pageBits.setRange: [{i}, {i + n}) outside the chunk")
        self.bits |= ((1 << n) - 1) << i

    def set_all(self) -> None:
        self.bits = _FULL

    def set_block64(self, i: int, v: int) -> None:
        """OR v into the 64-page aligned block holding page i."""
        self.bits |= (v & MASK64) << (i & ~63)

    def clear(self, i: int) -> None:
        self.bits &= ~(1 << i)

    def clear_range(self, i: int, n: int) -> None:
        """Clear bits [i, i+n)."""
        if i < 0 or i + n > PALLOC_CHUNK_PAGES:
            raise RuntimeThrow(f"pageBits.clearRange: [{i}, {i + n}) outside the chunk")
        self.bits &= ~(((1 << n) - 1) << i)

    def clear_all(self) -> None:
        self.bits = 0

    def clear_block64(self, i: int, v: int) -> None:
        """Clear, in the 64-page aligned block holding page i, the bits set in v."""
        self.bits &= ~((v & MASK64) << (i & ~63))

    def popcnt_range(self, i: int, n: int) -> int:
        """Number of set bits in [i, i+n)."""
        return ((self.bits >> i) & ((1 << n) - 1)).bit_count()


@dataclass(slots=True)
class PallocBits(PageBits):
    """pallocBits: the allocation bitmap of one chunk (1 = in use)."""

    def summarize(self) -> int:
        """The packed (start, max, end) summary of the free pages."""
        b = self.bits
        if not b:
            return FREE_CHUNK_SUM
        start = (b & -b).bit_length() - 1
        end = PALLOC_CHUNK_PAGES - b.bit_length()
        return pack_palloc_sum(start, _longest_run(~b & _FULL), end)

    def find(self, npages: int, search_idx: int) -> tuple[int, int]:
        """First fit for npages free pages, searching from the 64-page word that
        holds search_idx. Returns (index, new search index): the run's first
        page and the first free page seen, or (NOT_FOUND, ...) with the second
        value to be ignored. For npages == 1 the two are equal."""
        if npages == 1:
            a = self.find1(search_idx)
            return a, a
        if npages <= 64:
            return self.find_small_n(npages, search_idx)
        return self.find_large_n(npages, search_idx)

    def _free_from(self, search_idx: int) -> int:
        """Free pages at or above the start of search_idx's 64-page word."""
        lo = search_idx & ~63
        return ((~self.bits & _FULL) >> lo) << lo

    def find1(self, search_idx: int) -> int:
        """The first free page from search_idx's word on, or NOT_FOUND."""
        free = self._free_from(search_idx)
        if not free:
            return NOT_FOUND
        return (free & -free).bit_length() - 1

    def find_small_n(self, npages: int, search_idx: int) -> tuple[int, int]:
        """find for 2 <= npages <= 64. Go walks the words with findBitRange64
        and a carry of free pages from the word below; the first fit and the
        first free page it reports are the ones computed here directly."""
        return self._find_run(npages, search_idx)

    def find_large_n(self, npages: int, search_idx: int) -> tuple[int, int]:
        """find for npages > 64: such a run always spans a word boundary; Go
        extends runs word by word. Same result as _find_run."""
        return self._find_run(npages, search_idx)

    def _find_run(self, npages: int, search_idx: int) -> tuple[int, int]:
        free = self._free_from(search_idx)
        if not free:
            return NOT_FOUND, NOT_FOUND
        first = (free & -free).bit_length() - 1
        runs = _runs_of(free, npages)
        if not runs:
            return NOT_FOUND, first
        return (runs & -runs).bit_length() - 1, first

    def alloc_range(self, i: int, n: int) -> None:
        self.set_range(i, n)

    def alloc_all(self) -> None:
        self.bits = _FULL

    def free1(self, i: int) -> None:
        self.bits &= ~(1 << i)

    def free(self, i: int, n: int) -> None:
        self.clear_range(i, n)

    def free_all(self) -> None:
        self.bits = 0

    def pages64(self, i: int) -> int:
        """The in-use bits of the 64-page aligned block holding page i."""
        return self.block64(i)

    def alloc_pages64(self, i: int, alloc: int) -> None:
        """Mark in use, in the block holding page i, the pages set in alloc."""
        self.set_block64(i, alloc)


# -- fillAligned and pallocData (mgcscavenge.go, mpallocbits.go) -----------------


def _repeat(word: int, nbits: int) -> int:
    out = 0
    for k in range(0, nbits, 64):
        out |= word << k
    return out


# The per-group constants of fillAligned, for one word and for a whole chunk.
_FILL_C64 = {
    2: 0x5555555555555555,
    4: 0x7777777777777777,
    8: 0x7F7F7F7F7F7F7F7F,
    16: 0x7FFF7FFF7FFF7FFF,
    32: 0x7FFFFFFF7FFFFFFF,
    64: 0x7FFFFFFFFFFFFFFF,
}
_FILL_C512 = {m: _repeat(c, PALLOC_CHUNK_PAGES) for m, c in _FILL_C64.items()}


def _fill(x: int, m: int, c: int, full: int) -> int:
    # A 1 lands on top of each all-zero group of m bits (the "zero byte"
    # trick generalised); then each such top bit is widened to its group and
    # the whole result inverted, so that any group with a one becomes all ones.
    # Groups never carry or borrow into each other, so the width is free.
    x = full ^ ((((x & c) + c) | x) | c)
    return full ^ ((x - (x >> (m - 1))) | x)


def fill_aligned(x: int, m: int) -> int:
    """fillAligned: x with every m-aligned group of m bits that holds any one
    bit filled with ones. m is a power of two <= 64; m == 1 is the identity."""
    if m == 1:
        return x
    c = _FILL_C64.get(m)
    if c is None:
        raise RuntimeThrow("fillAligned: bad m value")
    return _fill(x, m, c, MASK64)


def _fill_aligned_chunk(x: int, m: int) -> int:
    """fill_aligned over a whole 512-bit chunk bitmap (groups never straddle words)."""
    if m == 1:
        return x
    return _fill(x, m, _FILL_C512[m], _FULL)


@dataclass(slots=True)
class PallocData(PallocBits):
    """pallocData: a chunk's allocation bits plus its scavenged bits."""

    scavenged: PageBits = field(default_factory=PageBits)  # 1 = released to the OS

    def alloc_range(self, i: int, n: int) -> None:
        """Mark [i, i+n) in use; in-use pages are never counted as scavenged."""
        if i < 0 or i + n > PALLOC_CHUNK_PAGES:
            raise RuntimeThrow(f"pallocData.allocRange: [{i}, {i + n}) outside the chunk")
        mask = ((1 << n) - 1) << i
        self.bits |= mask
        self.scavenged.bits &= ~mask

    def alloc_all(self) -> None:
        self.bits = _FULL
        self.scavenged.bits = 0

    def find_scavenge_candidate(
        self, search_idx: int, minimum: int, max_pages: int
    ) -> tuple[int, int]:
        """findScavengeCandidate: (start, size) of the highest run of free,
        unscavenged pages at or below search_idx's 64-page word, in whole
        `minimum`-aligned groups; size 0 if there is none.

        max_pages caps the size (rounded up to `minimum`; 0 means `minimum`),
        except that a cut which would split a free-and-unscavenged huge page
        is moved down to the huge page's start instead.
        """
        if minimum <= 0 or minimum & (minimum - 1):
            raise RuntimeThrow(
                f"findScavengeCandidate: min = {minimum}: must be a non-zero power of 2"
            )
        if minimum > MAX_PAGES_PER_PHYS_PAGE:
            raise RuntimeThrow(f"findScavengeCandidate: min = {minimum}: too large")
        # Round max up to whole groups, so a cut never leaves a partial group.
        max_pages = minimum if max_pages == 0 else -(-max_pages // minimum) * minimum

        # 1 = scavenged or in use (in whole groups); 0 = a candidate page.
        taken = _fill_aligned_chunk(self.scavenged.bits | self.bits, minimum)
        limit = ((search_idx >> 6) + 1) << 6  # Go starts at the top of search_idx's word
        avail = ~taken & ((1 << limit) - 1)
        if not avail:
            return 0, 0
        end = avail.bit_length()  # one past the highest candidate page
        run = end - (taken & ((1 << end) - 1)).bit_length()

        size = min(run, max_pages)
        start = end - size

        if PHYS_HUGE_PAGE_SIZE > PAGE_SIZE and PHYS_HUGE_PAGE_SIZE > PHYS_PAGE_SIZE:
            # Don't break a huge page that lies wholly in the run: if the cut
            # falls inside one, start the region at that huge page's base.
            pages_per_huge_page = PHYS_HUGE_PAGE_SIZE // PAGE_SIZE
            huge_page_above = -(-start // pages_per_huge_page) * pages_per_huge_page
            if huge_page_above <= end:
                huge_page_below = start // pages_per_huge_page * pages_per_huge_page
                if huge_page_below >= end - run:
                    size += start - huge_page_below
                    start = huge_page_below
        return start, size
