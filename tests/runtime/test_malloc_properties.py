"""Properties of mallocgc under random use (runtime/malloc.go, go1.24).

Random sequences of allocations on random Ps (tiny, small noscan, small scan
<= 512 B, with a malloc header > 512 B, large; random pointer shapes), explicit
frees, mcache flushes, scavenging and writes, checked against what must hold
in any Go heap whatever the sequence:

* the runtime's own invariants (Runtime.check_invariants);
* live objects never overlap, each lies in an in-use span in an allocated
  slot, and each is aligned for its type;
* what a program wrote into a live object is still there (no allocation,
  free, flush or scavenge clobbers it), and a new object reads as zero;
* the collector's view of an object's pointer words follows its type alone;
* MemStats agree with the objects the test holds (counted Go's way, see
  check_mem_stats), and freeing everything empties the heap.

Expected figures come from the type (Type.pointer_offsets) and Go's size
class table (msize.explain), never from the allocator under test.
"""

from __future__ import annotations

import functools
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from gomem.runtime.mheap import PAGE_SIZE, SpanState
from gomem.runtime.msize import TINY_SIZE_CLASS, explain
from gomem.runtime.runtime import Runtime
from gomem.runtime.type import (
    BOOL,
    COMPLEX128,
    FLOAT64,
    INT,
    INT16,
    INT32,
    INTERFACE,
    STRING,
    UINT8,
    UNSAFE_POINTER,
    Type,
    array_of,
    func_type,
    map_of,
    pointer,
    slice_of,
    struct_of,
)

MAX_REQUEST = 70_000  # bytes: up to large objects of 9 pages
TINY_BLOCK = 16  # maxTinySize: tiny objects share 16-byte blocks
MAX_PROCS = 4
MiB = 1 << 20
BURST_BYTES = 256 << 10  # a burst of allocations stops after about this many bytes
# How many times a burst repeats its request: often once, sometimes enough to fill
# a span of small objects (up to 1024 of 8 bytes).
BURSTS = st.one_of(st.just(1), st.integers(1, 8), st.integers(1, 1100))

# Request sizes of pointer-free objects, weighted towards Go's boundaries: tiny
# (< 16), the size_to_class8/128 switch (1016/1024), the malloc-header cut-off
# (512), the largest small request (32760) and the large-object pages.
NOSCAN_SIZES = st.one_of(
    st.sampled_from(
        [0, 1, 2, 3, 4, 7, 8, 12, 15, 16, 17, 24, 512, 513, 1016, 1017, 1024, 8192]
        + [32760, 32761, 32768, 32769, 40000, 65536, MAX_REQUEST]
    ),
    st.integers(1, 15),
    st.integers(16, 1024),
    st.integers(1025, 32760),
    st.integers(32761, MAX_REQUEST),
)

_LEAVES = [BOOL, UINT8, INT16, INT32, INT, FLOAT64, COMPLEX128]  # pointer-free
_LEAVES += [pointer(INT), UNSAFE_POINTER, STRING, INTERFACE, slice_of(UINT8)]
_LEAVES += [map_of(STRING, INT), func_type()]


def _struct(fields: list[Type]) -> Type:
    return struct_of(*((f"f{i}", t) for i, t in enumerate(fields)))


# Random pointer shapes: structs and arrays of scalars and pointer-holding words,
# including empty structs and zero-length arrays (size 0).
TYPES = st.recursive(
    st.sampled_from(_LEAVES),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5).map(_struct),
        st.builds(array_of, inner, st.integers(0, 5)),
    ),
    max_leaves=8,
).filter(lambda t: t.size <= 4096)


@st.composite
def typed_requests(draw: st.DrawFn) -> tuple[Type, int, str]:
    """(element type, element count, entry point) for a typed allocation."""
    typ = draw(TYPES)
    limit = MAX_REQUEST // typ.size if typ.size else 4
    n = draw(st.one_of(st.just(1), st.integers(0, 8), st.integers(1, limit)))
    how = draw(st.sampled_from(["new", "new_array", "mallocgc"]))
    return typ, n, how


@dataclass(slots=True)
class Obj:
    """A live object as the test sees it."""

    addr: int  # what mallocgc returned (after the malloc header, if any)
    size: int  # bytes requested
    typ: Type | None  # the object holds size // typ.size of these; None: raw pointer-free
    serial: int  # distinct per object: seeds its byte pattern
    version: int = 0  # bumped by every rewrite

    @property
    def pointers(self) -> bool:
        return self.typ is not None and self.typ.ptr_bytes > 0

    @property
    def tiny(self) -> bool:
        return not self.pointers and 0 < self.size < TINY_BLOCK

    def _unit(self) -> bytes:
        """8 bytes, none zero, distinct per object and version: the pattern repeats it."""
        k = self.serial * 7 + self.version
        return bytes(
            [k % 251 + 1, k // 251 % 251 + 1, 0xA5, self.version % 255 + 1]
            + [0x5A, (k * 13) % 251 + 1, 0xC3, self.serial % 253 + 1]
        )

    def pattern(self) -> bytes:
        """What the test last wrote into the object: its whole contents."""
        return (self._unit() * (self.size // 8 + 1))[: self.size]

    def pattern_ends(self) -> tuple[bytes, bytes]:
        """The pattern's first and last 8 bytes (size >= 8)."""
        unit = self._unit()
        r = (self.size - 8) % 8
        return unit, (unit + unit)[r : r + 8]


def allocate(
    rt: Runtime, typ: Type | None, n: int, how: str, p: int
) -> tuple[int, int, Type | None]:
    """Allocate through the entry point `how`; (address, size, element type)."""
    if typ is None:
        return rt.mallocgc(n, p=p), n, None
    if how == "new":
        whole = array_of(typ, n) if n != 1 else typ
        return rt.new(whole, p=p), whole.size, whole
    if how == "new_array":
        return rt.new_array(typ, n, p=p), typ.size * n, typ
    return rt.mallocgc(typ.size * n, typ, p=p), typ.size * n, typ


def expected_pointer_words(obj: Obj) -> list[int]:
    """The addresses of the pointer words the collector must find in obj."""
    if obj.typ is None:
        return []
    return [obj.addr + off for off in _pointer_offsets(obj.typ, obj.size)]


@functools.lru_cache(maxsize=1024)
def _pointer_offsets(typ: Type, size: int) -> tuple[int, ...]:
    """Offsets of the pointer words in a size-byte object of typ, from the type alone.

    Small objects without a header have heap bits for their own words only
    (writeHeapBitsSmall repeats the type over dataSize). An object with a
    malloc header, or a large one, is described by its type alone, and Go's
    scanobject walks it up to the end of its slot (n = s.elemsize), the type
    repeated over the slot's tail (typePointers.next), which holds zeros.
    """
    if typ.ptr_bytes == 0:
        return ()
    req = explain(size, pointers=True)
    end = size if req.kind == "small" and req.header == 0 else req.elem_size - req.header
    offsets = typ.pointer_offsets()
    return tuple(e + off for e in range(0, end, typ.size) for off in offsets if e + off < end)


def tiny_align(size: int) -> int:
    """mallocgcTiny's alignment of a tiny object in its block."""
    return 8 if size % 8 == 0 else 4 if size % 4 == 0 else 2 if size % 2 == 0 else 1


def check_new_object(rt: Runtime, obj: Obj) -> None:
    """A fresh object is zeroed, aligned, and in a slot of the span class Go's table gives."""
    if obj.size == 0:
        assert obj.addr == rt.zerobase
        return
    assert rt.process.read(obj.addr, obj.size) == bytes(obj.size), "new object is not zeroed"
    req = explain(obj.size, obj.pointers)
    align = obj.typ.align if obj.typ is not None else 1
    slot = obj.addr - req.header
    if obj.tiny:
        align = max(align, tiny_align(obj.size))
        slot = obj.addr & ~(TINY_BLOCK - 1)
    assert obj.addr % align == 0
    s = rt.heap.span_of(obj.addr)
    assert s is not None
    assert (s.spanclass, s.elemsize) == (req.size_class << 1 | (not obj.pointers), req.elem_size)
    assert (slot - s.start_addr) % s.elemsize == 0


def check_placement(rt: Runtime, live: list[Obj]) -> None:
    """Live objects are disjoint, and each lies in an allocated slot of an in-use span."""
    spans = sorted((o.addr, o.addr + o.size) for o in live if o.size)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert end <= start, f"live objects overlap at {start:#x}"
    for o in live:
        if o.size == 0:
            continue
        s = rt.heap.span_of(o.addr)
        assert s is not None and s.state == SpanState.IN_USE
        assert s.start_addr <= o.addr and o.addr + o.size <= s.limit
        assert s.limit <= s.start_addr + s.npages * PAGE_SIZE
        idx = s.object_index(o.addr)
        assert s.is_allocated(idx) and not s.freed >> idx & 1


def check_contents(rt: Runtime, live: list[Obj]) -> None:
    for o in live:
        assert rt.process.read(o.addr, o.size) == o.pattern(), f"object {o.addr:#x} clobbered"


def check_ends(rt: Runtime, live: list[Obj]) -> None:
    """check_contents on each object's first and last 8 bytes (cheap enough for every step)."""
    read = rt.process.read
    for o in live:
        if o.size <= 16:
            assert read(o.addr, o.size) == o.pattern(), f"object {o.addr:#x} clobbered"
        else:
            head, tail = o.pattern_ends()
            assert read(o.addr, 8) == head, f"object {o.addr:#x} clobbered at its start"
            assert read(o.addr + o.size - 8, 8) == tail, f"object {o.addr:#x} clobbered at its end"


def check_pointer_words(rt: Runtime, live: list[Obj]) -> None:
    for o in live:
        if o.size and o.typ is not None:
            assert rt.pointer_words(o.addr) == expected_pointer_words(o)


def check_mem_stats(rt: Runtime, live: list[Obj], nmallocs: int) -> None:
    """MemStats against the live objects; flushes the mcaches, as ReadMemStats does.

    Go counts a tiny object that fits an existing block in Mallocs *and* Frees
    at once (tinyAllocCount, readmemstats_m: "for historical reasons"); the
    16-byte block itself is an ordinary class-2 object, freed when every tiny
    object in it is dead and no mcache is filling it (the model's free_object
    defers it likewise). So Mallocs counts every non-zero-size allocation one
    by one, but a freed tiny object reaches Frees only through its block, and
    HeapObjects = Mallocs - Frees counts live blocks, not live tiny objects.
    After the flush no mcache holds a tiny block, so the live blocks are the
    blocks of the live tiny objects.
    """
    ms = rt.read_mem_stats()
    blocks = {o.addr & ~(TINY_BLOCK - 1) for o in live if o.tiny}
    others = [o for o in live if o.size and not o.tiny]
    assert ms.Mallocs == nmallocs
    assert ms.HeapObjects == ms.Mallocs - ms.Frees == len(others) + len(blocks)
    in_slots = sum(explain(o.size, o.pointers).elem_size for o in others)
    assert ms.HeapAlloc == ms.Alloc == in_slots + TINY_BLOCK * len(blocks)
    per_class = [0] * len(ms.BySize)
    per_class[TINY_SIZE_CLASS] = len(blocks)
    for o in others:
        c = explain(o.size, o.pointers).size_class
        if 0 < c < len(per_class):
            per_class[c] += 1
    assert [r.Mallocs - r.Frees for r in ms.BySize[1:]] == per_class[1:]
    assert ms.HeapAlloc <= ms.HeapInuse
    assert ms.HeapSys == ms.HeapInuse + ms.HeapIdle
    assert ms.HeapIdle >= ms.HeapReleased
    assert ms.TotalAlloc >= ms.HeapAlloc
    m = rt.read_metrics()
    assert m["/gc/heap/objects:objects"] == ms.HeapObjects
    assert m["/memory/classes/heap/objects:bytes"] == ms.HeapAlloc
    assert m["/memory/classes/heap/unused:bytes"] == ms.HeapInuse - ms.HeapAlloc
    assert m["/memory/classes/heap/free:bytes"] == ms.HeapIdle - ms.HeapReleased
    assert m["/memory/classes/total:bytes"] == ms.Sys


def free_everything(rt: Runtime, live: list[Obj], *, whole: bool = True) -> None:
    """Free every live object (checking its contents first, whole or its ends) and
    flush: the heap is empty."""
    for o in live:
        if o.size:
            if whole:
                assert rt.process.read(o.addr, o.size) == o.pattern()
            else:
                check_ends(rt, [o])
            rt.free_object(o.addr)
    rt.flush_mcaches()
    rt.check_invariants()
    ms = rt.read_mem_stats()
    assert (ms.HeapAlloc, ms.HeapInuse, ms.HeapObjects) == (0, 0, 0)
    assert ms.Mallocs == ms.Frees
    assert rt.heap.pages_in_use == 0
    assert all(s.state != SpanState.IN_USE for s in rt.heap.spans())
    rss = rt.process.statistics().vm_rss_kb
    rt.free_os_memory()
    ms = rt.read_mem_stats()
    # debug.FreeOSMemory with no page cache holding pages: all the idle heap is released.
    assert ms.HeapReleased == ms.HeapIdle == ms.HeapSys
    assert rt.process.statistics().vm_rss_kb <= rss
    rt.check_invariants()


class MallocMachine(RuleBasedStateMachine):
    """A Go program's allocations, frees and writes, run on a fresh Runtime.

    Allocations come in bursts of one request repeated, as a loop would make
    them, so spans fill and mcaches refill; frees of every k-th object leave
    partly used spans behind for later bursts to fill again.
    """

    def __init__(self) -> None:
        super().__init__()
        self.rt = Runtime()
        self.live: dict[int, Obj] = {}  # serial -> live object, in allocation order
        self.serial = 0
        self.nmallocs = 0  # non-zero-size allocations: what Go's Mallocs counts
        self.requests: list[tuple[Type | None, int, str]] = []  # every burst's request

    @initialize(gomaxprocs=st.integers(1, MAX_PROCS))
    def start(self, gomaxprocs: int) -> None:
        self.rt = Runtime(gomaxprocs=gomaxprocs)

    def _burst(self, typ: Type | None, n: int, how: str, count: int, p: int) -> None:
        rt = self.rt
        self.requests.append((typ, n, how))
        obj = None
        size = n if typ is None else typ.size * n
        for _ in range(min(count, BURST_BYTES // max(size, 1) + 1)):
            addr, size, whole = allocate(rt, typ, n, how, p % rt.gomaxprocs)
            self.serial += 1
            obj = Obj(addr, size, whole, self.serial)
            check_new_object(rt, obj)
            if size:
                self.nmallocs += 1
                rt.process.write(addr, obj.pattern())
                self.live[obj.serial] = obj
        if obj is not None and obj.size and typ is not None:
            assert rt.pointer_words(obj.addr) == expected_pointer_words(obj)

    @rule(size=NOSCAN_SIZES, count=BURSTS, p=st.integers(0, MAX_PROCS - 1))
    def malloc_noscan(self, size: int, count: int, p: int) -> None:
        self._burst(None, size, "mallocgc", count, p)

    @rule(req=typed_requests(), count=BURSTS, p=st.integers(0, MAX_PROCS - 1))
    def malloc_typed(self, req: tuple[Type, int, str], count: int, p: int) -> None:
        self._burst(*req, count, p)

    @precondition(lambda self: self.requests)
    @rule(i=st.integers(0, 1 << 16), count=BURSTS, p=st.integers(0, MAX_PROCS - 1))
    def malloc_again(self, i: int, count: int, p: int) -> None:
        """An earlier request again: its size class's freed slots get reused (dirty)."""
        self._burst(*self.requests[i % len(self.requests)], count, p)

    def _free(self, obj: Obj) -> None:
        assert self.rt.process.read(obj.addr, obj.size) == obj.pattern()
        self.rt.free_object(obj.addr)
        del self.live[obj.serial]

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 1 << 16))
    def free_one(self, i: int) -> None:
        self._free(list(self.live.values())[i % len(self.live)])

    @precondition(lambda self: self.live)
    @rule(stride=st.integers(1, 4), first=st.integers(0, 3))
    def free_every_kth(self, stride: int, first: int) -> None:
        for obj in list(self.live.values())[first::stride]:
            self._free(obj)

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 1 << 16))
    def rewrite(self, i: int) -> None:
        obj = list(self.live.values())[i % len(self.live)]
        obj.version += 1
        self.rt.process.write(obj.addr, obj.pattern())

    @rule()
    def flush_mcaches(self) -> None:
        self.rt.flush_mcaches()

    def _release(self, release: Callable[[], int]) -> None:
        """Scavenging returns what it says to the OS, and RSS does not grow."""
        rt = self.rt
        released = "/memory/classes/heap/released:bytes"
        before, rss = rt.read_metrics()[released], rt.process.statistics().vm_rss_kb
        nbytes = release()
        assert nbytes >= 0 and nbytes % PAGE_SIZE == 0
        assert rt.read_metrics()[released] - before == nbytes
        assert rt.process.statistics().vm_rss_kb <= rss

    @rule(nbytes=st.sampled_from([1, PAGE_SIZE, 10 * PAGE_SIZE, 1 << 20, 1 << 62]))
    def scavenge(self, nbytes: int) -> None:
        self._release(lambda: self.rt.scavenge(nbytes))

    @rule()
    def free_os_memory(self) -> None:
        self._release(self.rt.free_os_memory)

    @rule()
    def read_mem_stats(self) -> None:
        check_mem_stats(self.rt, list(self.live.values()), self.nmallocs)

    @invariant()
    def heap_is_consistent(self) -> None:
        self.rt.check_invariants()
        live = list(self.live.values())
        check_placement(self.rt, live)
        check_ends(self.rt, live)

    def teardown(self) -> None:
        if sys.exc_info()[0] is not None:
            return  # a step failed (or Hypothesis stopped the run): report only that
        live = list(self.live.values())
        check_contents(self.rt, live)
        check_pointer_words(self.rt, live)
        check_mem_stats(self.rt, live, self.nmallocs)
        free_everything(self.rt, live)


TestMallocMachine = MallocMachine.TestCase


@given(
    reqs=st.lists(
        st.one_of(
            NOSCAN_SIZES.map(lambda n: (None, n, "mallocgc")),
            typed_requests(),
        ),
        max_size=60,
    ),
    order=st.randoms(use_true_random=False),
)
def test_objects_freed_in_any_order_leave_an_empty_heap(
    reqs: list[tuple[Type | None, int, str]], order: random.Random
) -> None:
    rt = Runtime()
    live = []
    for i, (typ, n, how) in enumerate(reqs):
        addr, size, typ2 = allocate(rt, typ, n, how, 0)
        obj = Obj(addr, size, typ2, i)
        check_new_object(rt, obj)
        rt.process.write(addr, obj.pattern())
        live.append(obj)
    check_placement(rt, live)
    check_contents(rt, live)
    check_mem_stats(rt, live, sum(1 for o in live if o.size))
    order.shuffle(live)
    free_everything(rt, live)


@given(first=typed_requests(), second=typed_requests())
def test_pointer_words_of_a_reused_slot_follow_the_new_type(
    first: tuple[Type, int, str], second: tuple[Type, int, str]
) -> None:
    # The second object often lands in the first's slot, whose heap bits or
    # header still describe the first: the allocator must overwrite them all.
    rt = Runtime()
    a, size_a, typ_a = allocate(rt, *first, 0)
    if size_a:
        rt.process.write(a, b"\xff" * size_a)
        rt.free_object(a)
        rt.flush_mcaches()
    b, size_b, typ_b = allocate(rt, *second, 0)
    obj = Obj(b, size_b, typ_b, 1)
    check_new_object(rt, obj)
    if size_b:
        assert rt.pointer_words(b) == expected_pointer_words(obj)
    rt.check_invariants()


HUGE_SIZES = st.one_of(
    st.integers(32761, 1 << 20),
    st.integers(4 * MiB - PAGE_SIZE, 4 * MiB + PAGE_SIZE),  # a palloc chunk
    st.integers(1 << 20, 24 * MiB),
    st.integers(64 * MiB - PAGE_SIZE, 64 * MiB + PAGE_SIZE),  # a heap arena
)


@pytest.mark.slow
@settings(max_examples=25)
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("malloc"), HUGE_SIZES, st.booleans()),
            st.tuples(st.just("malloc"), HUGE_SIZES, st.just(False)),
            st.tuples(st.just("free"), st.integers(0, 1 << 16), st.just(False)),
            st.tuples(st.sampled_from(["flush", "free_os_memory"]), st.just(0), st.just(False)),
        ),
        min_size=5,
        max_size=40,
    )
)
def test_large_objects_across_chunks_and_arenas(ops: list[tuple[str, int, bool]]) -> None:
    # Large objects of up to 64 MiB: the heap grows by several 4 MiB chunks at a
    # time and into further 64 MiB arenas; spans may straddle both. Only each
    # object's ends are written: filling hundreds of MiB would take minutes.
    rt = Runtime()
    live: list[Obj] = []
    for serial, (op, arg, pointers) in enumerate(ops):
        if op == "malloc":
            if pointers:  # cleared on allocation, so keep it small enough to be quick
                n = min(arg, 2 * MiB) // 8
                obj = Obj(rt.new_array(pointer(INT), n), 8 * n, pointer(INT), serial)
            else:
                obj = Obj(rt.mallocgc(arg), arg, None, serial)
            s = rt.heap.span_of(obj.addr)
            assert (
                s is not None and s.start_addr == obj.addr and s.npages == -(-obj.size // PAGE_SIZE)
            )
            head, tail = obj.pattern_ends()
            rt.process.write(obj.addr, head)
            rt.process.write(obj.addr + obj.size - 8, tail)
            live.append(obj)
        elif op == "free" and live:
            obj = live.pop(arg % len(live))
            check_ends(rt, [obj])
            rt.free_object(obj.addr)
        elif op == "flush":
            rt.flush_mcaches()
        elif op == "free_os_memory":
            rt.free_os_memory()
        rt.check_invariants()
        check_placement(rt, live)
        check_ends(rt, live)
    check_pointer_words(rt, live)
    check_mem_stats(rt, live, sum(1 for op, _, _ in ops if op == "malloc"))
    free_everything(rt, live, whole=False)
