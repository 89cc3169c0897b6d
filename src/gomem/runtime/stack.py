"""Goroutine stacks. Models runtime/stack.go (go1.24): stackalloc, stackfree,
the global stack pool and the per-P stack caches, large stack spans,
copystack, newstack's doubling (morestack) and shrinkstack. See
docs/ARCHITECTURE.md.

A goroutine's stack is heap memory, not the process's [stack]: it comes
from mheap spans of state MANUAL, counted in StackInuse (the [stack]
mapping is only the system stack of the main thread, g0 of m0).

Sizes are powers of two from 2 KiB (fixedStack). Small stacks -- orders
0..3, i.e. 2, 4, 8 and 16 KiB -- are carved out of 32 KiB stack spans
(_StackCacheSize) kept in the global pool per order; each P's mcache
keeps a cache of up to 32 KiB of free stacks per order, refilled with
half of that from the pool and released back down to half when it
overflows. As in Go, the free lists live in the free stacks themselves:
the first word of each free stack holds the address of the next one, so
carving a span writes into (and faults in) its pages. Larger stacks get
a dedicated span; freed ones go back to the heap (or, during a GC, to
the stackLarge free lists for reuse).

The stack grows down from hi. A goroutine's guard is lo + stackGuard
(928 bytes on linux/amd64: stackNosplit 800 + StackSmall 128): a call
whose frame would take sp below it first calls morestack, which
allocates a stack twice the size (more if the frame needs it), copies
the used part, adjusts every pointer into the old stack found through
the frames' stack maps, and frees the old one. shrinkstack halves a stack
whose used part (plus stackNosplit) is under a quarter of it.

Simplified: no stackFromSystem/efence debugging modes, no stack barriers
for channels (sudogs), defers or panics to adjust.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gomem.runtime.mem_linux import RuntimeThrow
from gomem.runtime.mheap import PAGE_SHIFT, MHeap, MSpan, SpanAllocType, SpanState

if TYPE_CHECKING:
    from gomem.runtime.mcache import MCache

FIXED_STACK = 2048  # fixedStack: the smallest stack, and the size a goroutine starts with
NUM_STACK_ORDERS = 4  # _NumStackOrders on linux: 2, 4, 8 and 16 KiB
STACK_CACHE_SIZE = 32 << 10  # _StackCacheSize: a pool span, and a cache's capacity per order
STACK_NOSPLIT = 800  # stackNosplit = abi.StackNosplitBase * StackGuardMultiplier
STACK_SMALL = 128  # abi.StackSmall
STACK_GUARD = STACK_NOSPLIT + STACK_SMALL  # stackGuard: 928 bytes


@dataclass(slots=True)
class Stack:
    """stack: the bounds [lo, hi) of a goroutine stack."""

    lo: int
    hi: int

    @property
    def size(self) -> int:
        return self.hi - self.lo


@dataclass(slots=True)
class StackFreeList:
    """stackfreelist: an mcache's free stacks of one order (linked through memory)."""

    list: int = 0  # address of the first free stack; its first word links the next
    size: int = 0  # total bytes of the stacks in the list


def stack_order(n: int) -> int:
    order = 0
    while n > FIXED_STACK:
        order += 1
        n >>= 1
    return order


class StackAllocator:
    """The global stack pool (stackpool) and large-stack free lists (stackLarge)."""

    def __init__(self, heap: MHeap) -> None:
        self.heap = heap
        self.store64 = heap.os.process.store64
        self.load64 = heap.os.process.load64
        # stackpool[order]: spans with at least one free stack of that order.
        self.pool: list[dict[MSpan, None]] = [{} for _ in range(NUM_STACK_ORDERS)]
        # stackLarge.free[log2npages]: freed large stack spans (only filled during a GC).
        self.large_free: dict[int, list[MSpan]] = {}
        self.gc_running = False  # gcphase != _GCoff; the collector sets it

    # -- small stacks --------------------------------------------------------

    def _pool_alloc(self, order: int) -> int:
        """stackpoolalloc: one stack of the order from the pool, carving a new span if needed."""
        spans = self.pool[order]
        s = next(iter(spans), None)
        if s is None:
            s = self.heap.alloc_manual(STACK_CACHE_SIZE >> PAGE_SHIFT, SpanAllocType.STACK)
            if s is None:
                raise RuntimeThrow("out of memory")
            s.elemsize = FIXED_STACK << order
            s.manual_free_list = 0
            for i in range(0, STACK_CACHE_SIZE, s.elemsize):
                x = s.start_addr + i
                self.store64(x, s.manual_free_list)  # the link lives in the free stack
                s.manual_free_list = x
            spans[s] = None
        x = s.manual_free_list
        if x == 0:
            raise RuntimeThrow("span has no free stacks")
        s.manual_free_list = self.load64(x)
        s.alloc_count += 1
        if s.manual_free_list == 0:
            del spans[s]
        return x

    def _pool_free(self, x: int, order: int) -> None:
        """stackpoolfree: give one stack back to its span; free the span when empty."""
        s = self.heap.span_of(x)
        if s is None or s.state != SpanState.MANUAL:
            raise RuntimeThrow("stackpoolfree: freeing stack not in a stack span")
        if s.manual_free_list == 0:
            self.pool[order][s] = None  # it has a free stack again
        self.store64(x, s.manual_free_list)
        s.manual_free_list = x
        s.alloc_count -= 1
        if not self.gc_running and s.alloc_count == 0:
            # Every stack of the span is free: return it to the heap.
            del self.pool[order][s]
            s.manual_free_list = 0
            self.heap.free_manual(s, SpanAllocType.STACK)

    def _cache_refill(self, c: MCache, order: int) -> None:
        """stackcacherefill: move half a cache's worth of stacks from the pool."""
        lst, size = 0, 0
        while size < STACK_CACHE_SIZE // 2:
            x = self._pool_alloc(order)
            self.store64(x, lst)
            lst = x
            size += FIXED_STACK << order
        c.stackcache[order].list = lst
        c.stackcache[order].size = size

    def _cache_release(self, c: MCache, order: int) -> None:
        """stackcacherelease: give stacks back to the pool down to half a cache."""
        cache = c.stackcache[order]
        x, size = cache.list, cache.size
        while size > STACK_CACHE_SIZE // 2:
            y = self.load64(x)
            self._pool_free(x, order)
            x = y
            size -= FIXED_STACK << order
        cache.list, cache.size = x, size

    def cache_release_all(self, c: MCache) -> None:
        """stackcache_clear: empty an mcache's stack caches (the GC does it)."""
        for order in range(NUM_STACK_ORDERS):
            x = c.stackcache[order].list
            while x:
                y = self.load64(x)
                self._pool_free(x, order)
                x = y
            c.stackcache[order] = StackFreeList()

    # -- stackalloc / stackfree ----------------------------------------------

    def alloc(self, n: int, c: MCache | None) -> Stack:
        """stackalloc: a stack of n bytes (a power of two), from P's cache if it has one."""
        if n & (n - 1) or n < FIXED_STACK:
            raise RuntimeThrow(f"stack size {n} is not a power of 2 of at least {FIXED_STACK}")
        if n < FIXED_STACK << NUM_STACK_ORDERS and n < STACK_CACHE_SIZE:
            order = stack_order(n)
            if c is None:
                v = self._pool_alloc(order)
            else:
                cache = c.stackcache[order]
                if cache.list == 0:
                    self._cache_refill(c, order)
                v = cache.list
                cache.list = self.load64(v)
                cache.size -= n
        else:
            npage = n >> PAGE_SHIFT
            log2 = npage.bit_length() - 1
            free = self.large_free.get(log2)
            if free:
                s = free.pop(0)
            else:
                s2 = self.heap.alloc_manual(npage, SpanAllocType.STACK)
                if s2 is None:
                    raise RuntimeThrow("out of memory")
                s = s2
                s.elemsize = n
            v = s.start_addr
        return Stack(v, v + n)

    def free(self, stk: Stack, c: MCache | None) -> None:
        """stackfree: return a stack to the cache, the pool or the heap."""
        n = stk.size
        if n & (n - 1):
            raise RuntimeThrow("stack not a power of 2")
        if n < FIXED_STACK << NUM_STACK_ORDERS and n < STACK_CACHE_SIZE:
            order = stack_order(n)
            x = stk.lo
            if c is None:
                self._pool_free(x, order)
            else:
                cache = c.stackcache[order]
                if cache.size >= STACK_CACHE_SIZE:
                    self._cache_release(c, order)
                self.store64(x, cache.list)
                cache.list = x
                cache.size += n
        else:
            s = self.heap.span_of(stk.lo)
            if s is None or s.state != SpanState.MANUAL:
                raise RuntimeThrow("stackfree: bad span state")
            if not self.gc_running:
                self.heap.free_manual(s, SpanAllocType.STACK)
            else:
                self.large_free.setdefault(s.npages.bit_length() - 1, []).append(s)


@dataclass(frozen=True, slots=True)
class FuncInfo:
    """What the compiler records for a function: its frame and stack map (funcdata)."""

    name: str
    frame_size: int  # bytes of locals, a multiple of 8 (the return address is extra)
    ptrmask: int  # stack map: bit i set <=> frame word i holds a pointer (locals and args)


@dataclass(slots=True)
class Frame:
    """An active call: its function and where its frame sits.

    depth is the frame's distance below stack.hi, so it survives a stack copy
    (which moves every frame by the same delta); the frame's words are at
    [hi - depth, hi - depth + frame_size). base caches hi - depth; copystack
    moves it.
    """

    func: FuncInfo
    depth: int
    base: int = 0  # == stack.hi - depth, kept by copystack


class GStack(Protocol):
    """The stack part of a g (proc.G): bounds, guard, stack pointer and frames."""

    stack: Stack
    stackguard0: int  # stack.lo + STACK_GUARD: a call must keep sp above it
    sched_sp: int  # the goroutine's simulated %rsp
    frames: list[Frame]


def copystack(
    alloc: StackAllocator,
    gp: GStack,
    newsize: int,
    c: MCache | None,
    *,
    on_copy: Callable[[Stack, Stack], None] | None = None,
) -> int:
    """copystack: move gp to a new stack of newsize bytes; returns bytes copied.

    The used part [sp, hi) is copied to the top of the new stack; every
    pointer slot (by the frames' stack maps) that points into the old stack
    is moved by the same delta, as adjustframe does.
    """
    old = gp.stack
    used = old.hi - gp.sched_sp
    new = alloc.alloc(newsize, c)
    delta = new.hi - old.hi
    process = alloc.heap.os.process
    if used:
        process.write(new.hi - used, process.read(old.hi - used, used))
    load64, store64 = process.load64, process.store64
    for fr in gp.frames:
        base = fr.base = new.hi - fr.depth
        mask, w = fr.func.ptrmask, 0
        while mask:
            if mask & 1:
                a = base + 8 * w
                v = load64(a)
                if old.lo <= v < old.hi:
                    store64(a, v + delta)
            mask >>= 1
            w += 1
    gp.stack = new
    gp.stackguard0 = new.lo + STACK_GUARD
    gp.sched_sp = new.hi - used
    alloc.free(old, c)
    if on_copy is not None:
        on_copy(old, new)
    return used


def newstack_size(gp: GStack, needed: int) -> int:
    """newstack: the new size when a frame of `needed` bytes does not fit: double, or more."""
    oldsize = gp.stack.size
    newsize = oldsize * 2
    used = gp.stack.hi - gp.sched_sp
    # Go: "Make sure we grow at least as much as needed to fit the new frame."
    while newsize - used < needed + STACK_GUARD:
        newsize *= 2
    return newsize


def shrink_target(gp: GStack) -> int:
    """shrinkstack's decision: the halved size, or 0 to keep the stack."""
    oldsize = gp.stack.size
    newsize = oldsize // 2
    if newsize < FIXED_STACK:
        return 0
    used = gp.stack.hi - gp.sched_sp + STACK_NOSPLIT
    if used >= oldsize // 4:
        return 0
    return newsize
