"""mallocgc's paths on the simulated machine (runtime/malloc.go, go1.24).

Expected figures are Go facts: the size-class table (class 20 = 320 B),
malloc.go's tiny-allocator alignment rules, mbitmap.go's heap-bit and
header layouts, mheap.go's arena hint 0xc000000000 and its 4 MiB growth
chunks, and Linux's demand paging.
"""

from __future__ import annotations

import pytest

from gomem.runtime.mem_linux import RuntimeThrow
from gomem.runtime.runtime import Runtime
from gomem.runtime.type import INT, UINT8, array_of, pointer, struct_of

KiB, MiB = 1 << 10, 1 << 20
NODE = struct_of(("next", pointer(INT)), ("n", INT), ("prev", pointer(INT)))  # 24 B, words 0, 2


@pytest.fixture
def rt() -> Runtime:
    return Runtime()


def test_first_allocation_maps_the_first_arena_at_0xc000000000(rt: Runtime) -> None:
    assert "c000000000" not in rt.process.maps()
    x = rt.mallocgc(64)
    maps = rt.process.maps()
    # mheap.grow maps one 4 MiB palloc chunk read/write; the rest of the 64 MiB
    # arena stays reserved PROT_NONE. Like a real Go process, no [heap] line.
    assert "c000000000-c000400000 rw-p" in maps
    assert "c000400000-c004000000 ---p" in maps
    assert "[heap]" not in maps
    assert 0xC000000000 <= x < 0xC000400000


def test_small_noscan_objects_are_consecutive_slots_of_their_class(rt: Runtime) -> None:
    a, b, c = (rt.mallocgc(300) for _ in range(3))
    assert (b - a, c - b) == (320, 320)  # class 20: 320-byte slots


def test_tiny_objects_share_a_16_byte_block(rt: Runtime) -> None:
    a = rt.mallocgc(8)
    b = rt.mallocgc(8)
    assert b == a + 8 and a % 16 == 0
    c = rt.mallocgc(8)  # block full: a new one
    assert c % 16 == 0 and c != a


@pytest.mark.parametrize(
    ("first", "second", "offset"),
    [(1, 1, 1), (1, 2, 2), (1, 4, 4), (1, 8, 8), (3, 3, 3), (2, 6, 2)],
    ids=["byte-byte", "byte-even", "byte-4", "byte-8", "odd-odd", "even-even"],
)
def test_tiny_alignment_rules(rt: Runtime, first: int, second: int, offset: int) -> None:
    # mallocgcTiny: align to 8 if size%8==0, else 4 if size%4==0, else 2 if even.
    a = rt.mallocgc(first)
    b = rt.mallocgc(second)
    assert b - a == offset


def test_tiny_object_that_does_not_fit_keeps_the_fuller_block(rt: Runtime) -> None:
    a = rt.mallocgc(4)  # block A, offset 4
    b = rt.mallocgc(14)  # does not fit; new block B, which has 2 bytes left (< 12)
    assert b % 16 == 0 and b != a - (a % 16)
    c = rt.mallocgc(4)  # still fits in A: A stayed the current block
    assert c == a + 4


def test_pointerful_small_object_bits_are_in_the_span(rt: Runtime) -> None:
    x = rt.new(NODE)  # 24 B -> class 3, a scan span with heap bits in its last 128 B
    assert rt.pointer_words(x) == [x, x + 16]
    s = rt.heap.span_of(x)
    assert s is not None and s.nelems == (8192 - 128) // 24


def test_pointer_array_with_header(rt: Runtime) -> None:
    typ = array_of(pointer(INT), 100)  # 800 B with pointers: 8-byte header + 800 -> class 896
    x = rt.new(typ)
    s = rt.heap.span_of(x)
    assert s is not None and s.elemsize == 896
    slot = x - 8
    assert (slot - s.start_addr) % 896 == 0
    assert rt.process.load64(slot) == rt.type_addr(typ)  # the header is the type pointer
    words = rt.pointer_words(x)
    assert words[:100] == [x + 8 * i for i in range(100)]


def test_large_object_has_its_own_span_and_type(rt: Runtime) -> None:
    typ = array_of(pointer(INT), 5000)  # 40,000 B: large, 5 pages
    x = rt.new(typ)
    s = rt.heap.span_of(x)
    assert s is not None and (s.start_addr, s.npages, s.spanclass) == (x, 5, 0)
    assert s.large_type == typ
    assert rt.pointer_words(x)[:3] == [x, x + 8, x + 16]


def test_large_noscan_is_not_touched_but_large_scan_is_cleared(rt: Runtime) -> None:
    before = rt.process.statistics().vm_rss_kb
    rt.mallocgc(40000)  # fresh pages, noscan: no memclr, no page faults
    assert rt.process.statistics().vm_rss_kb == before
    rt.new(array_of(pointer(INT), 5000))  # pointerful large: always cleared (40 KiB written)
    assert rt.process.statistics().vm_rss_kb - before == 40


def test_zero_size_allocations_share_zerobase(rt: Runtime) -> None:
    assert rt.mallocgc(0) == rt.mallocgc(0) == rt.zerobase


def test_reused_slot_is_zeroed(rt: Runtime) -> None:
    typ = array_of(UINT8, 64)
    xs = [rt.new(typ) for _ in range(128)]  # fills one 8 KiB span of class 64
    for x in xs:
        rt.process.write(x, b"\xff" * 64)
    rt.flush_mcaches()
    for x in xs[:10]:
        rt.free_object(x)
    y = rt.new(typ)
    assert y in xs[:10]
    assert rt.process.read(y, 64) == bytes(64)  # needzero: dirty memory cleared


def test_memstats_for_10000_objects_of_300_bytes(rt: Runtime) -> None:
    before = rt.read_mem_stats()
    for _ in range(10000):
        rt.mallocgc(300)
    after = rt.read_mem_stats()
    # 10000 x class 20 (320 B) = 3,200,000 B; 25 per 8 KiB span -> 400 spans = 3,276,800 B.
    assert after.HeapAlloc - before.HeapAlloc == 3_200_000
    assert after.HeapObjects - before.HeapObjects == 10000
    assert after.HeapInuse - before.HeapInuse == 400 * 8192
    assert after.HeapSys == after.HeapInuse + after.HeapIdle
    rt.check_invariants()


def test_free_everything_returns_spans_to_the_page_heap(rt: Runtime) -> None:
    xs = [rt.mallocgc(300) for _ in range(1000)]
    rt.flush_mcaches()
    for x in xs:
        rt.free_object(x)
    s = rt.read_mem_stats()
    assert (s.HeapAlloc, s.HeapObjects, s.HeapInuse) == (0, 0, 0)
    assert s.Frees == s.Mallocs == 1000
    rt.check_invariants()


def test_double_free_and_interior_free_are_caught(rt: Runtime) -> None:
    x = rt.mallocgc(300)
    with pytest.raises(RuntimeThrow, match="inside an object"):
        rt.free_object(x + 8)
    rt.free_object(x)
    with pytest.raises(RuntimeThrow, match="not allocated"):
        rt.free_object(x)
    with pytest.raises(RuntimeThrow, match="not in a heap object"):
        rt.free_object(0x1000)


def test_scavenging_gives_memory_back_and_reuse_faults_it_in(rt: Runtime) -> None:
    xs = [rt.mallocgc(8192) for _ in range(512)]  # 4 MiB of one-page objects
    for x in xs:
        rt.process.write(x, b"\x01" * 8192)
    rss_full = rt.process.statistics().vm_rss_kb
    rt.flush_mcaches()
    for x in xs:
        rt.free_object(x)
    released = rt.free_os_memory()
    s = rt.read_mem_stats()
    assert released >= 4 * MiB - 64 * KiB  # all but what page caches hold
    assert s.HeapReleased >= released
    assert rss_full - rt.process.statistics().vm_rss_kb >= 4 * 1024 - 64
    rt.check_invariants()
    y = rt.mallocgc(8192)
    rt.process.write(y, b"\x02" * 8192)  # faults two fresh zero pages back in
    assert rt.read_mem_stats().HeapReleased == s.HeapReleased - 8192
    rt.check_invariants()


def test_gomaxprocs_mcaches_are_metadata(rt: Runtime) -> None:
    rt4 = Runtime(gomaxprocs=4)
    # sizeof(mcache) = 1208 bytes on amd64, go1.24; one per P, from a 16 KiB fixalloc chunk.
    s = rt4.read_mem_stats()
    assert (s.MCacheInuse, s.MCacheSys) == (4 * 1208, 16 * KiB)
