"""The page heap, spans and central lists (runtime/mheap.go, mcentral.go, mcache.go).

Expected values come from Go's source: arenaIndex's offset 0xffff800000000000 and
64 MiB arenas, mallocinit's hint list, initSpan's nelems for scan spans, the
sweepgen set roles, sizeof(mspan) = 160 on amd64, and mstats.go/metrics.go's
definitions.
"""

from __future__ import annotations

import pytest

from gomem.runtime.mem_linux import RuntimeThrow
from gomem.runtime.mheap import (
    HEAP_ARENA_BYTES,
    SpanState,
    arena_base,
    arena_index,
    make_span_class,
)
from gomem.runtime.runtime import Runtime


@pytest.mark.parametrize(
    ("addr", "index"),
    [
        (0xC000000000, (0x800000000000 + 0xC000000000) >> 26),  # 0x203000
        (0x0, 0x800000000000 >> 26),  # 0x200000: the low half starts mid-array
        (0x7FFFFFFFFFFF, (1 << 22) - 1),  # the last arena of the low half
        (0xFFFF800000000000, 0),  # the high half's first arena is index 0
    ],
    ids=["first-hint", "zero", "top-of-low-half", "bottom-of-high-half"],
)
def test_arena_index_offsets_the_address_space(addr: int, index: int) -> None:
    assert arena_index(addr) == index
    assert arena_base(index) == addr - addr % HEAP_ARENA_BYTES


def test_hints_are_one_per_tib_from_0xc000000000() -> None:
    rt = Runtime()
    hints = [h.addr for h in rt.heap.arena_hints]
    assert hints[:3] == [0x00C000000000, 0x01C000000000, 0x02C000000000]
    assert len(hints) == 0x40 and hints[-1] == 0x3FC000000000


def test_a_taken_hint_is_skipped_like_go_does() -> None:
    rt = Runtime()
    # Something else already sits at the first hint: Linux places the reservation elsewhere,
    # sysAlloc gives it back and tries the next hint, 1 TiB up.
    rt.process.mmap(4096, 0, 0x22, 0xC000000000)  # PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS
    x = rt.mallocgc(64)
    assert 0x01C000000000 <= x < 0x01C004000000


def test_growth_beyond_an_arena_continues_contiguously() -> None:
    rt = Runtime()
    a = rt.mallocgc(40 << 20)  # 40 MiB: 5120 pages -> 10 chunks of the first arena
    b = rt.mallocgc(40 << 20)  # does not fit in the 24 MiB left: the next arena, contiguous
    assert a == 0xC000000000
    assert b == a + (40 << 20)
    assert sorted(rt.heap.arenas) == [arena_index(0xC000000000), arena_index(0xC004000000)]
    rt.check_invariants()


def test_span_of_maps_every_page_of_a_span() -> None:
    rt = Runtime()
    x = rt.mallocgc(100_000)  # 13 pages
    s = rt.heap.span_of(x)
    assert s is not None and s.npages == 13
    assert all(rt.heap.span_of(x + i * 8192) is s for i in range(13))
    assert rt.heap.span_of(x + 13 * 8192) is not s
    assert rt.heap.span_of(0x1000) is None


def test_scan_span_nelems_leave_room_for_heap_bits() -> None:
    rt = Runtime()
    from gomem.runtime.type import INT, pointer, struct_of

    x = rt.new(struct_of(("p", pointer(INT)), ("n", INT)))  # 16 B scan
    s = rt.heap.span_of(x)
    assert s is not None
    assert (s.spanclass, s.elemsize, s.nelems) == (make_span_class(2, False), 16, 504)
    # (8192 - 8192/8/8) / 16 = (8192 - 128) / 16 = 504, where noscan fits 512.


def test_full_span_goes_to_full_swept_and_partial_after_a_free() -> None:
    rt = Runtime()
    xs = [rt.mallocgc(4096) for _ in range(2)]  # class 4096: 2 per 8 KiB span
    rt.flush_mcaches()
    central = rt.heap.central[make_span_class(44, True)]  # class 44 = 4096 B
    sg = rt.heap.sweepgen
    s = rt.heap.span_of(xs[0])
    assert s is not None and s in central.full_swept(sg).spans
    rt.free_object(xs[0])
    assert s in central.partial_swept(sg).spans and s.alloc_count == 1
    rt.free_object(xs[1])  # empty: back to the page heap
    assert s.state == SpanState.DEAD and rt.heap.span_of(xs[0]) is None


def test_sweepgen_flip_swaps_the_roles_of_the_sets() -> None:
    rt = Runtime()
    central = rt.heap.central[make_span_class(20, True)]
    assert central.partial_swept(0) is central.partial[0]
    assert central.partial_swept(2) is central.partial_unswept(0) is central.partial[1]
    assert central.full_swept(4) is central.full[0]


def test_cached_span_is_marked_sweepgen_plus_3() -> None:
    rt = Runtime()
    x = rt.mallocgc(300)
    s = rt.heap.span_of(x)
    assert s is not None and s.sweepgen == rt.heap.sweepgen + 3
    rt.flush_mcaches()
    assert s.sweepgen == rt.heap.sweepgen


def test_free_in_a_cached_span_waits_for_the_mcache() -> None:
    rt = Runtime()
    x = rt.mallocgc(300)
    rt.mallocgc(300)
    rt.free_object(x)
    s = rt.heap.span_of(x)
    assert s is not None and s.alloc_count == 2  # not swept while cached
    rt.flush_mcaches()
    assert s.alloc_count == 1
    assert rt.read_mem_stats().Frees == 1


def test_free_span_of_a_span_with_objects_throws() -> None:
    rt = Runtime()
    x = rt.mallocgc(300)
    rt.flush_mcaches()
    s = rt.heap.span_of(x)
    assert s is not None
    with pytest.raises(RuntimeThrow, match="free_span"):
        rt.heap.free_span(s)


def test_mspan_metadata_is_160_bytes_each() -> None:
    rt = Runtime()
    for size in (8, 32, 300, 4096, 100_000):  # five span classes (16 B would share 8 B's)
        rt.mallocgc(size)
    stats = rt.read_mem_stats()
    spans = [s for s in rt.heap.spans() if s.state == SpanState.IN_USE]
    assert len(spans) == 5
    assert stats.MSpanInuse == 160 * 5
    assert stats.MSpanSys == 16 << 10  # one fixalloc chunk


def test_metrics_agree_with_memstats() -> None:
    rt = Runtime()
    xs = [rt.mallocgc(n) for n in (5, 7, 100, 300, 2000, 50_000)]
    rt.free_object(xs[3])
    ms = rt.read_mem_stats()  # flushes the mcaches, so the metrics see every object too
    m = rt.read_metrics()
    assert m["/gc/heap/allocs:bytes"] == ms.TotalAlloc
    assert m["/memory/classes/heap/objects:bytes"] == ms.HeapAlloc
    assert m["/gc/heap/objects:objects"] == ms.HeapObjects
    assert m["/gc/heap/tiny/allocs:objects"] == 1  # 7 B fitted in 5 B's block
    assert m["/memory/classes/heap/released:bytes"] == ms.HeapReleased
    assert (
        m["/memory/classes/heap/objects:bytes"] + m["/memory/classes/heap/unused:bytes"]
        == ms.HeapInuse
    )
    assert m["/memory/classes/total:bytes"] == ms.Sys
