"""Boundary-tag allocators: implicit, explicit and segregated free lists.

Models the dynamic memory allocators of CS:APP 3e section 9.9 (and OSTEP
ch. 17) on a heap grown with sbrk on the simulated machine. Everything an
allocator in C keeps in the heap is kept in the heap here, as words written
through the page tables:

    lo                                                            hi (brk)
    | pad | prologue hdr | prologue ftr | blocks ...       | epilogue hdr |

    block:  | header: size|a | payload (aligned)        ... | footer: size|a |
    free block of an explicit or segregated list:
            | header | pred offset | succ offset | ...       | footer |

A header and footer hold the block size (a multiple of the alignment, so
its low 3 bits are free) with bit 0 set when the block is allocated. The
prologue is an allocated block of two words and the epilogue an allocated
header of size 0, so coalescing never looks past either end. Free-list
links are word-sized offsets from the heap's start (0 means none). The list
heads are the allocator's globals and live in Python, as a C allocator's
would live in .bss.

Organisations: `implicit` walks every block; `explicit` keeps one doubly
linked list of free blocks; `segregated` keeps one such list per size class
(upper bounds of block sizes). Free blocks go to the front of their list
(`lifo`) or into address order (`address`). Placement: `first`, `next`
(resume where the last search stopped), `best` (smallest block that fits;
for segregated lists, the best in the first class that has a fit) and
`worst` (the largest free block). A block is split when the rest is at
least the minimum block size. Coalescing is `immediate` (the four
boundary-tag cases on every free) or `deferred` (adjacent free blocks are
merged in one sweep when a request finds no fit). realloc shrinks in place,
grows into a free next block, or moves (`inplace`), or always moves
(`copy`, as the CS:APP allocator does).

Invariants (check):
    every block's payload address is a multiple of `align`
    header == footer for every block; sizes are multiples of `align`
    no two adjacent free blocks when coalescing is immediate
    the blocks on the free lists are exactly the free blocks of the heap
    each listed block is in its size class; links agree both ways

Simplified: no boundary-tag elimination (the footer is kept on allocated
blocks, as in the textbook's basic design); the heap never shrinks.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field

from gomem.machine import MachineError, Process

from .heap import Heap

ORGANIZATIONS = ("implicit", "explicit", "segregated")
POLICIES = ("first", "next", "best", "worst")


class HeapCorruption(MachineError):
    """The heap checker found a broken invariant; the message names it and where."""


def round_up(n: int, a: int) -> int:
    return (n + a - 1) // a * a


@dataclass(frozen=True, slots=True)
class Config:
    """How a boundary-tag allocator is built. Invalid combinations raise ValueError."""

    organization: str = "explicit"  # "implicit", "explicit" or "segregated"
    policy: str = "first"  # "first", "next", "best" or "worst"
    word: int = 8  # bytes in a header, footer or link word: 4 or 8
    align: int = 16  # payload alignment: 8 or 16 bytes
    chunk: int = 4096  # the heap grows by at least this much (CHUNKSIZE)
    insertion: str = "lifo"  # where a free block enters its list: "lifo" or "address"
    coalesce: str = "immediate"  # "immediate" or "deferred"
    realloc: str = "inplace"  # "inplace" or "copy"
    classes: tuple[int, ...] = field(default=())  # segregated: upper bounds of block sizes

    def __post_init__(self) -> None:
        choices = {
            "organization": ORGANIZATIONS,
            "policy": POLICIES,
            "insertion": ("lifo", "address"),
            "coalesce": ("immediate", "deferred"),
            "realloc": ("inplace", "copy"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        if self.word not in (4, 8):
            raise ValueError(f"word must be 4 or 8 bytes, got {self.word}")
        if self.align not in (8, 16) or self.align < self.word:
            raise ValueError(f"align must be 8 or 16 bytes and >= word, got {self.align}")
        if self.chunk <= 0:
            raise ValueError(f"chunk must be positive, got {self.chunk}")
        if self.policy == "next" and self.organization == "segregated":
            raise ValueError("next fit applies to implicit and explicit lists, not segregated")
        if self.classes and (
            self.organization != "segregated"
            or list(self.classes) != sorted(set(self.classes))
            or self.classes[0] <= 0
        ):
            raise ValueError("classes are increasing positive bounds, for segregated lists only")

    @property
    def name(self) -> str:
        return f"{self.organization}-{self.policy}"


# CS:APP 3e section 9.9's allocator, from its description: 4-byte words,
# 8-byte alignment, implicit list, first fit, immediate coalescing, heap
# grown by max(block, 4096) bytes, realloc = malloc + copy + free.
CSAPP = Config(
    organization="implicit",
    policy="first",
    word=4,
    align=8,
    chunk=4096,
    coalesce="immediate",
    realloc="copy",
)


class Allocator:
    """A boundary-tag allocator on a process's brk heap (mm_init runs here)."""

    def __init__(self, process: Process, config: Config | None = None) -> None:
        self.config = c = config or Config()
        self.heap = heap = Heap(process, c.word)
        W, A = c.word, c.align
        if heap.lo % A:
            raise ValueError(f"the heap starts at {heap.lo:#x}, not {A}-byte aligned")
        self._W = W
        self._A = A
        self._lists = c.organization != "implicit"
        # A free block must hold its header, footer and (on a list) two links.
        self.min_block = round_up(4 * W if self._lists else 2 * W + 1, A)
        if c.organization == "segregated":
            bounds = c.classes or tuple(
                1 << k for k in range(self.min_block.bit_length() - 1, 13)
            )  # powers of two from the minimum block to 4096, then one unbounded class
            self.classes: tuple[int, ...] = tuple(b for b in bounds if b >= self.min_block)
        else:
            self.classes = ()
        self.heads = [0] * (len(self.classes) + 1)  # list heads, as offsets from heap.lo
        self.free_bytes = 0  # bytes in free blocks (maintained on every change)
        self.grows = 0  # times the heap had to grow because nothing fit
        # mm_init: padding, prologue header and footer, epilogue header.
        get, put = heap.get, heap.put
        self._get, self._put = get, put
        base = heap.sbrk(4 * W)
        put(base, 0)
        put(base + W, 2 * W | 1)
        put(base + 2 * W, 2 * W | 1)
        put(base + 3 * W, 1)
        self.prologue = base + 2 * W  # heap_listp: the prologue's payload
        self.first = base + 4 * W  # where the first real block starts
        self.rover = self.prologue  # next fit's starting point (implicit list)
        self._list_rover = 0  # next fit's starting point (explicit list), an offset
        self._extend(c.chunk)

    # -- block arithmetic (bp = payload address) ------------------------------

    def block_size(self, bp: int) -> int:
        return self._get(bp - self._W) & ~7

    def is_allocated(self, bp: int) -> bool:
        return bool(self._get(bp - self._W) & 1)

    def _tag(self, bp: int, size: int, alloc: int) -> None:
        """Write header and footer of the block at bp."""
        v = size | alloc
        self._put(bp - self._W, v)
        self._put(bp + size - 2 * self._W, v)

    def asize(self, size: int) -> int:
        """Block size for a request: payload + header + footer, aligned, at least min_block."""
        return max(self.min_block, round_up(size + 2 * self._W, self._A))

    def _class_of(self, size: int) -> int:
        return bisect_left(self.classes, size) if self.classes else 0

    # -- free lists -----------------------------------------------------------

    def _insert(self, bp: int, size: int) -> None:
        self.free_bytes += size
        if not self._lists:
            return
        get, put, W, lo = self._get, self._put, self._W, self.heap.lo
        i = self._class_of(size)
        off = bp - lo
        head = self.heads[i]
        if self.config.insertion == "lifo" or head == 0 or head > off:
            put(bp, 0)
            put(bp + W, head)
            if head:
                put(lo + head, off)
            self.heads[i] = off
            return
        prev = head  # address order: walk to the last node below bp
        nxt = get(lo + prev + W)
        while nxt and nxt < off:
            prev, nxt = nxt, get(lo + nxt + W)
        put(bp, prev)
        put(bp + W, nxt)
        put(lo + prev + W, off)
        if nxt:
            put(lo + nxt, off)

    def _remove(self, bp: int, size: int) -> None:
        self.free_bytes -= size
        if not self._lists:
            return
        get, put, W, lo = self._get, self._put, self._W, self.heap.lo
        pred, succ = get(bp), get(bp + W)
        off = bp - lo
        if self._list_rover == off:
            self._list_rover = succ
        if pred:
            put(lo + pred + W, succ)
        else:
            self.heads[self._class_of(size)] = succ
        if succ:
            put(lo + succ, pred)

    def _list_nodes(self, i: int) -> Iterator[int]:
        """Payload addresses on list i, head first."""
        get, W, lo = self._get, self._W, self.heap.lo
        off = self.heads[i]
        while off:
            yield lo + off
            off = get(lo + off + W)

    # -- placement --------------------------------------------------------------

    def _find_fit(self, asize: int) -> int:
        """A free block of at least asize bytes by the configured policy, or 0."""
        if self._lists:
            return self._find_in_lists(asize)
        get, W, policy = self._get, self._W, self.config.policy
        if policy == "next":
            start = self.rover
            bp = start
            while (h := get(bp - W)) != 1:
                if not h & 1 and h >= asize:
                    self.rover = bp
                    return bp
                bp += h & ~7
            bp = self.first
            while bp < start:
                h = get(bp - W)
                if not h & 1 and h >= asize:
                    self.rover = bp
                    return bp
                bp += h & ~7
            return 0
        best, best_size = 0, 0
        bp = self.first
        while (h := get(bp - W)) != 1:  # the epilogue is size 0, allocated
            if not h & 1 and h >= asize:
                if policy == "first" or h == asize and policy == "best":
                    return bp
                if (
                    not best
                    or (policy == "best" and h < best_size)
                    or (policy == "worst" and h > best_size)
                ):
                    best, best_size = bp, h
            bp += h & ~7
        return best

    def _find_in_lists(self, asize: int) -> int:
        get, W, lo, policy = self._get, self._W, self.heap.lo, self.config.policy
        if policy == "next":  # explicit list only (Config forbids it for segregated)
            start = self._list_rover or self.heads[0]
            off = start
            while off:
                if get(lo + off - W) >= asize:  # free blocks have bit 0 clear
                    self._list_rover = get(lo + off + W)
                    return lo + off
                off = get(lo + off + W)
            off = self.heads[0]
            while off and off != start:
                if get(lo + off - W) >= asize:
                    self._list_rover = get(lo + off + W)
                    return lo + off
                off = get(lo + off + W)
            return 0
        best, best_size = 0, 0
        for i in range(self._class_of(asize), len(self.heads)):
            off = self.heads[i]
            while off:
                size = get(lo + off - W)
                if size >= asize:
                    if policy == "first" or size == asize and policy == "best":
                        return lo + off
                    if (
                        not best
                        or (policy == "best" and size < best_size)
                        or (policy == "worst" and size > best_size)
                    ):
                        best, best_size = lo + off, size
                off = get(lo + off + W)
            if best and policy == "best":
                return best  # the smallest fit of the first class that has one
        return best

    def _place(self, bp: int, asize: int) -> None:
        csize = self.block_size(bp)
        self._remove(bp, csize)
        if csize - asize >= self.min_block:
            self._tag(bp, asize, 1)
            rest = bp + asize
            self._tag(rest, csize - asize, 0)
            self._insert(rest, csize - asize)
        else:
            self._tag(bp, csize, 1)

    def _extend(self, nbytes: int) -> int:
        """Grow the heap by a free block of at least nbytes; return it (coalesced)."""
        size = round_up(nbytes, self._A)
        bp = self.heap.sbrk(size)  # the old epilogue header becomes this block's header
        self._tag(bp, size, 0)
        self._put(bp + size - self._W, 1)  # the new epilogue
        if self.config.coalesce == "immediate":
            return self._coalesce(bp, size)
        self._insert(bp, size)
        return bp

    def _coalesce(self, bp: int, size: int) -> int:
        """Merge a free, unlisted block with free neighbours; list the result."""
        get, W = self._get, self._W
        prev_tag = get(bp - 2 * W)  # the previous block's footer
        next_bp = bp + size
        next_tag = get(next_bp - W)
        if not next_tag & 1:
            self._remove(next_bp, next_tag)
            size += next_tag
        if not prev_tag & 1:
            prev_size = prev_tag & ~7
            bp -= prev_size
            self._remove(bp, prev_size)
            size += prev_size
        self._tag(bp, size, 0)
        self._insert(bp, size)
        if bp < self.rover < bp + size:
            self.rover = bp  # the rover must not point inside the merged block
        return bp

    def _coalesce_all(self) -> None:
        """Deferred coalescing: merge every run of adjacent free blocks."""
        get, W = self._get, self._W
        bp = self.first
        while (h := get(bp - W)) != 1:
            size = h & ~7
            if h & 1:
                bp += size
                continue
            run_end = bp + size
            while not (t := get(run_end - W)) & 1:
                run_end += t & ~7
            if run_end != bp + size:
                b = bp
                while b < run_end:
                    s = self.block_size(b)
                    self._remove(b, s)
                    b += s
                self._tag(bp, run_end - bp, 0)
                self._insert(bp, run_end - bp)
                if bp < self.rover < run_end:
                    self.rover = bp
            bp = run_end

    # -- the API ------------------------------------------------------------------

    def malloc(self, size: int) -> int:
        """Payload address of a new block of at least size bytes; 0 for size 0."""
        if size <= 0:
            return 0
        asize = self.asize(size)
        bp = self._find_fit(asize)
        if not bp and self.config.coalesce == "deferred":
            self._coalesce_all()
            bp = self._find_fit(asize)
        if not bp:
            self.grows += 1
            bp = self._extend(max(asize, self.config.chunk))
        self._place(bp, asize)
        return bp

    def free(self, bp: int) -> None:
        if not bp:
            return
        size = self.block_size(bp)
        self._tag(bp, size, 0)
        if self.config.coalesce == "immediate":
            self._coalesce(bp, size)
        else:
            self._insert(bp, size)

    def realloc(self, bp: int, size: int) -> int:
        """Resize the block at bp, keeping its first min(old, new) payload bytes."""
        if not bp:
            return self.malloc(size)
        if size <= 0:
            self.free(bp)
            return 0
        csize = self.block_size(bp)
        if self.config.realloc == "inplace":
            asize = self.asize(size)
            if asize <= csize:
                self._shrink(bp, csize, asize)
                return bp
            next_tag = self._get(bp + csize - self._W)
            if not next_tag & 1 and csize + next_tag >= asize:
                self._remove(bp + csize, next_tag)
                self._tag(bp, csize + next_tag, 1)
                if bp < self.rover < bp + csize + next_tag:
                    self.rover = bp  # the absorbed block is no block boundary any more
                self._shrink(bp, csize + next_tag, asize)
                return bp
        new = self.malloc(size)
        self.heap.write(new, self.heap.read(bp, min(csize - 2 * self._W, size)))
        self.free(bp)
        return new

    def _shrink(self, bp: int, csize: int, asize: int) -> None:
        """Give the tail of an allocated block back if it can stand as a block."""
        if csize - asize < self.min_block:
            return
        self._tag(bp, asize, 1)
        rest = bp + asize
        self._tag(rest, csize - asize, 0)
        if self.config.coalesce == "immediate":
            self._coalesce(rest, csize - asize)
        else:
            self._insert(rest, csize - asize)

    # -- observation and checking ---------------------------------------------------

    def blocks(self) -> Iterator[tuple[int, int, bool]]:
        """(payload address, block size, allocated) of every block, in address order."""
        get, W = self._get, self._W
        bp = self.first
        while (h := get(bp - W)) != 1:
            yield bp, h & ~7, bool(h & 1)
            bp += h & ~7

    def free_lists(self) -> list[list[int]]:
        """Payload addresses on each free list, head first (empty for implicit)."""
        if not self._lists:
            return []
        return [list(self._list_nodes(i)) for i in range(len(self.heads))]

    def check(self) -> None:
        """Walk the heap and the lists; raise HeapCorruption naming what is broken."""
        get, W, A = self._get, self._W, self._A
        lo, hi = self.heap.lo, self.heap.hi
        if get(self.prologue - W) != 2 * W | 1 or get(self.prologue) != 2 * W | 1:
            raise HeapCorruption("check: prologue damaged")
        if get(hi - W) != 1:
            raise HeapCorruption(f"check: epilogue at {hi - W:#x} damaged")
        free_blocks: set[int] = set()
        free_bytes = 0
        prev_free = False
        bp = self.first
        while bp < hi:
            h = get(bp - W)
            if h == 1:
                break
            size = h & ~7
            if bp % A:
                raise HeapCorruption(f"check: block {bp:#x} is not {A}-byte aligned")
            if size % A or size < self.min_block or bp + size > hi:
                raise HeapCorruption(f"check: block {bp:#x} has a bad size {size}")
            if get(bp + size - 2 * W) != h:
                raise HeapCorruption(f"check: block {bp:#x}: header and footer differ")
            free = not h & 1
            if free and prev_free and self.config.coalesce == "immediate":
                raise HeapCorruption(f"check: free blocks not coalesced at {bp:#x}")
            if free:
                free_blocks.add(bp)
                free_bytes += size
            prev_free = free
            bp += size
        if bp != hi:
            raise HeapCorruption(f"check: the block walk ends at {bp:#x}, the epilogue at {hi:#x}")
        if free_bytes != self.free_bytes:
            raise HeapCorruption(
                f"check: free bytes {free_bytes} but the counter says {self.free_bytes}"
            )
        if not self._lists:
            return
        listed: set[int] = set()
        for i in range(len(self.heads)):
            pred_off = 0
            for node in self._list_nodes(i):
                if node in listed or len(listed) > len(free_blocks):
                    raise HeapCorruption(f"check: list {i} loops at {node:#x}")
                listed.add(node)
                if node not in free_blocks:
                    raise HeapCorruption(f"check: list {i} holds {node:#x}, not a free block")
                if get(node) != pred_off:
                    raise HeapCorruption(f"check: {node:#x}: pred link does not match")
                if self._class_of(self.block_size(node)) != i:
                    raise HeapCorruption(f"check: {node:#x} is on list {i}, not its class")
                if self.config.insertion == "address" and pred_off and lo + pred_off > node:
                    raise HeapCorruption(f"check: list {i} is not in address order at {node:#x}")
                pred_off = node - lo
        if listed != free_blocks:
            missing = sorted(free_blocks - listed)
            raise HeapCorruption(f"check: free blocks missing from the lists: {missing[:4]}")
