"""Real Go's heap statistics after N allocations, against hand calculations.

gomem.oracle.allocstats runs a go1.24.3 program that allocates COUNT objects
(GOGC=off, all kept alive) and reports the MemStats deltas. Each row of
ROWS derives the expected figures by hand from Go's size-class table
(runtime/sizeclasses.go; ours is gomem.runtime.sizeclasses):

* tiny (noscan, < 16 B): objects are packed into 16-byte blocks of class 2
  (malloc.go mallocgcTiny). HeapAlloc and BySize count blocks. An object
  that lands in an existing block is a "tiny alloc", which readmemstats_m
  (mstats.go) adds to both Mallocs and Frees: "For historical reasons,
  MemStats includes tiny allocations in both the total free and total alloc
  count." So HeapObjects counts blocks, and Frees moves with nothing freed.
* small: the smallest class that fits; a pointerful object over 512 B first
  gains an 8-byte malloc header (mbitmap.go minSizeForMallocHeader).
* heap bits: a span of pointerful objects <= 512 B keeps its pointer bitmap
  at its end, one bit per word: 8192 / 8 / 8 = 128 bytes per page (mbitmap.go
  heapBitsInSpan; mheap.go initSpan: nelems = (nbytes - nbytes/8/8) / elemsize).
  Fewer objects fit in such a span, which shows in HeapInuse, not HeapAlloc.
* large (> 32760 B = maxSmallSize - mallocHeaderSize): a span of its own,
  counted at its full page-rounded size (mcache.go allocLarge: largeAlloc +=
  npages * pageSize). No malloc header: the type goes in span.largeType.

HeapInuse counts whole spans. The hand figure `spans` is ceil(blocks /
objects per span) fresh spans; a partial span of the class left by the
runtime's own start-up may take the first few objects, so HeapInuse may be
one span less (never more: nothing is freed in the window).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gomem.oracle.allocstats import DEFAULT_CASES, AllocCase, AllocDeltas, BySizeDelta, measure
from gomem.runtime.msize import size_to_class
from gomem.runtime.sizeclasses import CLASS_TO_ALLOCNPAGES, CLASS_TO_SIZE

pytestmark = pytest.mark.oracle

PAGE = 8192  # Go's heap page
HEAP_BITS_PER_PAGE = PAGE // 8 // 8  # one bit per 8-byte word: 128 B


@dataclass(frozen=True)
class Row:
    """A case and what it must do to MemStats, by hand."""

    case: AllocCase
    size_class: int  # 0 for large objects
    header: int  # malloc header bytes added before the class lookup
    per_span: int  # objects (or tiny blocks) one span holds
    span_bytes: int  # bytes of one span
    spans: int  # fresh spans the objects need: ceil(blocks / per_span)
    HeapAlloc: int
    HeapObjects: int
    Mallocs: int
    Frees: int
    BySize: tuple[BySizeDelta, ...]  # () when the class is not in MemStats.BySize


def _row(id, *args):
    return pytest.param(Row(*args), id=id)


# fmt: off
ROWS = [
    # Tiny 8 B noscan x 1000: two per 16-byte block -> 500 blocks; 500*16 = 8000 B.
    # BySize[16] +500 blocks; the 500 objects placed into an open block are tiny allocs:
    # Mallocs 500 + 500 = 1000, Frees +500, HeapObjects 1000 - 500 = 500.
    # Class 2: 8192 / 16 = 512 blocks per span -> 1 span.
    _row("tiny_8B", AllocCase("noscan", 8, 1000), 2, 0, 512, PAGE, 1,
         8000, 500, 1000, 500, (BySizeDelta(16, 500, 0),)),
    # Tiny 12 B: the second object would need bytes 12..24 of a 16-byte block, so each
    # opens a new one (and the old block is kept: 12 < tinyoffset 12 is false).
    # 1000 blocks, 16000 B, no tiny allocs; ceil(1000 / 512) = 2 spans.
    _row("tiny_12B_one_per_block", AllocCase("noscan", 12, 1000), 2, 0, 512, PAGE, 2,
         16000, 1000, 1000, 0, (BySizeDelta(16, 1000, 0),)),
    # Tiny 1 B: 16 per block -> ceil(1000 / 16) = 63 blocks = 1008 B; 937 tiny allocs.
    _row("tiny_1B", AllocCase("noscan", 1, 1000), 2, 0, 512, PAGE, 1,
         1008, 63, 1000, 937, (BySizeDelta(16, 63, 0),)),
    # 8 B with a pointer is not tiny: class 1 (8 B), 8000 B as 1000 objects.
    # Heap bits: (8192 - 128) / 8 = 1008 per span -> 1 span.
    _row("scan_8B_not_tiny", AllocCase("ptrfirst", 8, 1000), 1, 0, 1008, PAGE, 1,
         8000, 1000, 1000, 0, (BySizeDelta(8, 1000, 0),)),
    # 300 B noscan: class 19 is 288 < 300, class 20 is 320. 10000 x 320 = 3,200,000.
    # 8192 / 320 = 25 per span (192 B tail) -> 10000 / 25 = 400 spans.
    _row("small_noscan_300B", AllocCase("noscan", 300, 10000), 20, 0, 25, PAGE, 400,
         3_200_000, 10000, 10000, 0, (BySizeDelta(320, 10000, 0),)),
    # 64 B, pointer first: class 6, 10000 x 64 = 640,000. Heap bits in the span:
    # (8192 - 128) / 64 = 126 per span, not 128 -> ceil(10000 / 126) = 80 spans (noscan: 79).
    _row("scan_heap_bits_64B", AllocCase("ptrfirst", 64, 10000), 6, 0, 126, PAGE, 80,
         640_000, 10000, 10000, 0, (BySizeDelta(64, 10000, 0),)),
    # 256 B, all pointers: class 18, 256,000 B; (8192 - 128) / 256 = 31 per span (not 32)
    # -> ceil(1000 / 31) = 33 spans.
    _row("allptr_heap_bits_256B", AllocCase("allptr", 256, 1000), 18, 0, 31, PAGE, 33,
         256_000, 1000, 1000, 0, (BySizeDelta(256, 1000, 0),)),
    # 512 B, pointer in the last word: 512 is not > 512, so no header; class 26.
    # (8192 - 128) / 512 = 15 per span (not 16) -> ceil(1000 / 15) = 67 spans.
    _row("ptrlast_heap_bits_512B", AllocCase("ptrlast", 512, 1000), 26, 0, 15, PAGE, 67,
         512_000, 1000, 1000, 0, (BySizeDelta(512, 1000, 0),)),
    # The same 512 B without pointers: 16 per span -> ceil(1000 / 16) = 63 spans.
    _row("noscan_512B", AllocCase("noscan", 512, 1000), 26, 0, 16, PAGE, 63,
         512_000, 1000, 1000, 0, (BySizeDelta(512, 1000, 0),)),
    # 520 B, pointer last: header -> 528 -> class 27 (576): 576,000 B.
    # 8192 / 576 = 14 per span (no heap bits over 512 B) -> ceil(1000 / 14) = 72 spans.
    _row("ptrlast_header_520B", AllocCase("ptrlast", 520, 1000), 27, 8, 14, PAGE, 72,
         576_000, 1000, 1000, 0, (BySizeDelta(576, 1000, 0),)),
    # 1000 B, pointer first: header -> 1008 -> class 32 (1024): 1,024,000 B.
    # 8192 / 1024 = 8 per span -> 125 spans.
    _row("header_1000B", AllocCase("ptrfirst", 1000, 1000), 32, 8, 8, PAGE, 125,
         1_024_000, 1000, 1000, 0, (BySizeDelta(1024, 1000, 0),)),
    # 1024 B of pointers: the header pushes it past class 32: 1032 -> class 33 (1152).
    # 1000 x 1152 = 1,152,000; 8192 / 1152 = 7 per span -> ceil(1000 / 7) = 143 spans.
    _row("header_next_class_1024B", AllocCase("allptr", 1024, 1000), 33, 8, 7, PAGE, 143,
         1_152_000, 1000, 1000, 0, (BySizeDelta(1152, 1000, 0),)),
    # 32760 B = maxSmallSize - mallocHeaderSize: still small, class 67 (32768), one object
    # per 4-page span: 10 x 32768 = 327,680. MemStats.BySize has 61 entries, classes 0..60
    # (up to 18432 B): class 67 moves HeapAlloc and Mallocs but no BySize entry.
    _row("largest_small_class_32760B", AllocCase("noscan", 32760, 10), 67, 0, 1, 4 * PAGE, 10,
         327_680, 10, 10, 0, ()),
    # Large 40000 B: ceil(40000 / 8192) = 5 pages = 40960 B each: 100 x 40960 = 4,096,000.
    _row("large_noscan_40000B", AllocCase("noscan", 40000, 100), 0, 0, 1, 5 * PAGE, 100,
         4_096_000, 100, 100, 0, ()),
    # Large with pointers: no malloc header (span.largeType), the same 5 pages each.
    _row("large_allptr_40000B", AllocCase("allptr", 40000, 100), 0, 0, 1, 5 * PAGE, 100,
         4_096_000, 100, 100, 0, ()),
]
# fmt: on


@pytest.fixture(scope="module")
def measured(allocstats_binary) -> dict[AllocCase, AllocDeltas]:
    """One run of every case in this module and of DEFAULT_CASES."""
    cases = list(dict.fromkeys([p.values[0].case for p in ROWS] + list(DEFAULT_CASES)))
    return {d.case: d for d in measure(allocstats_binary, cases)}


def test_hand_figures_follow_gos_size_class_table() -> None:
    for param in ROWS:
        row: Row = param.values[0]
        size, pointers = row.case.size, row.case.shape != "noscan"
        if row.size_class == 0:  # large: whole pages
            assert row.span_bytes == -(-size // PAGE) * PAGE, param.id
            assert row.HeapAlloc == row.case.count * row.span_bytes, param.id
            continue
        elem = CLASS_TO_SIZE[row.size_class]
        tiny = not pointers and size < 16  # malloc.go maxTinySize: a 16-byte class-2 block
        assert (2 if tiny else size_to_class(size + row.header)) == row.size_class, param.id
        assert row.header == (8 if pointers and size > 512 else 0), param.id
        assert row.span_bytes == CLASS_TO_ALLOCNPAGES[row.size_class] * PAGE, param.id
        bitmap = HEAP_BITS_PER_PAGE * row.span_bytes // PAGE if pointers and elem <= 512 else 0
        assert row.per_span == (row.span_bytes - bitmap) // elem, param.id
        blocks = row.HeapAlloc // elem
        assert row.spans == -(-blocks // row.per_span), param.id


@pytest.mark.parametrize("row", ROWS)
def test_heap_counts_match_the_hand_calculation(measured, row: Row) -> None:
    got = measured[row.case]
    assert (got.HeapAlloc, got.HeapObjects, got.Mallocs, got.Frees, got.BySize) == (
        row.HeapAlloc,
        row.HeapObjects,
        row.Mallocs,
        row.Frees,
        row.BySize,
    )
    assert got.TotalAlloc == got.HeapAlloc  # nothing was freed


@pytest.mark.parametrize("row", ROWS)
def test_heap_inuse_is_the_spans_the_objects_need(measured, row: Row) -> None:
    got = measured[row.case]
    need = row.spans * row.span_bytes
    # Large objects never share a span; a small class may have one partial span to fill.
    slack = 0 if row.size_class == 0 else row.span_bytes
    assert need - slack <= got.HeapInuse <= need


def test_heap_bits_in_the_span_cost_whole_spans(measured) -> None:
    # 512 B: 15 pointerful objects per span against 16 noscan: 67 spans against 63,
    # each possibly one less (a partial span): at least 66 - 63 = 3 spans apart.
    scan = measured[AllocCase("ptrlast", 512, 1000)].HeapInuse
    noscan = measured[AllocCase("noscan", 512, 1000)].HeapInuse
    assert scan - noscan >= (67 - 63 - 1) * PAGE


@pytest.mark.parametrize("case", DEFAULT_CASES, ids=str)
def test_the_type_is_the_requested_shape(measured, case: AllocCase) -> None:
    got = measured[case]
    ptr_bytes = {"noscan": 0, "ptrfirst": 8, "allptr": case.size, "ptrlast": case.size}
    assert (got.type_size, got.ptr_bytes) == (case.size, ptr_bytes[case.shape])


@pytest.mark.parametrize("case", DEFAULT_CASES, ids=str)
def test_memstats_identities_hold_for_the_deltas(measured, case: AllocCase) -> None:
    got = measured[case]
    assert got.HeapObjects == got.Mallocs - got.Frees
    assert got.HeapSys == got.HeapInuse + got.HeapIdle  # readmemstats_m's definitions


def test_default_cases_cover_every_allocation_path() -> None:
    rows = {p.values[0].case: p.values[0] for p in ROWS}
    assert set(DEFAULT_CASES) <= set(rows)
    chosen = [rows[c] for c in DEFAULT_CASES]
    assert any(r.case.shape == "noscan" and r.case.size < 16 for r in chosen)  # tiny
    assert any(r.case.shape == "noscan" and 16 <= r.case.size <= 32760 for r in chosen)
    assert any(r.case.shape != "noscan" and r.case.size <= 512 for r in chosen)  # heap bits
    assert any(r.header for r in chosen)  # malloc header
    assert any(r.size_class == 0 for r in chosen)  # large
