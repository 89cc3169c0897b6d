"""Sweeping a span: turning dead slots into free ones. Models the span sweep
of runtime/mgcsweep.go (sweepLocked.sweep, go1.24). See
docs/ARCHITECTURE.md for the allocator's overview.

A sweep recomputes a span's allocation state from which of its objects
survived: the survivors' bits become the new alloc bits, freeindex goes
back to 0 so allocation rescans the span from its start, alloc_count
becomes the number of survivors, the freed slots are counted as frees,
and the span is filed again: freed to the heap if nothing survived, else
into its mcentral's swept partial or full set. Freed memory is dirty, so
the span is marked needzero.

A span that needs sweeping after a GC cycle (sweepgen == h - 2, or h - 1
while being swept) keeps its marked slots (gcmarkBits); a span swept for
explicit frees (sweepgen == h) keeps its allocated slots not freed by
free_object (MSpan.freed). Both go through sweep_span.

Simplified: no specials (finalizers, profiling records), no user arenas;
the fresh mark bitmap Go takes from gcBitsArenas on each sweep is not
accounted (nor is the arenas' recycling per cycle).
"""

from __future__ import annotations

from gomem.runtime.mem_linux import RuntimeThrow
from gomem.runtime.mheap import MHeap, MSpan, SpanState


def sweep_span(heap: MHeap, s: MSpan, *, preserve: bool) -> bool:
    """Sweep s; unless preserve, file it (or free it). True if its pages were freed.

    preserve is Go's: the caller (mcentral.cache_span) keeps the span.
    """
    if s.state != SpanState.IN_USE:
        raise RuntimeThrow(f"mgcsweep.sweep_span: span {s.start_addr:#x} is not in use")
    sg = heap.sweepgen
    allocated = s.allocated_slots()
    if s.sweepgen in (sg - 2, sg - 1):
        # After a GC cycle: the marked slots survive (gcmarkBits becomes allocBits).
        live = s.gcmark_bits & allocated & ~s.freed
    else:
        live = allocated & ~s.freed  # an explicit free's sweep: the unfreed slots survive
    nalloc = live.bit_count()
    nfreed = allocated.bit_count() - nalloc
    heap.pages_swept += s.npages
    s.freed = 0
    s.alloc_bits = live
    s.gcmark_bits = 0
    s.freeindex = s.free_index_for_scan = 0
    s.refill_alloc_cache(0)
    s.alloc_count = nalloc
    if nfreed:
        s.needzero = 1
    s.sweepgen = sg
    stats = heap.memstats.heap_stats
    gc = heap.gc_controller
    size_class = s.spanclass >> 1
    if size_class != 0 and nfreed:
        stats.small_free_count[size_class] += nfreed
        gc.total_free += nfreed * s.elemsize
    if preserve:
        return False
    central = heap.central[s.spanclass]
    if size_class == 0:
        if nalloc == 0:
            stats.large_free += s.npages * 8192
            stats.large_free_count += 1
            gc.total_free += s.npages * 8192
            s.large_type = None
            heap.free_span(s)
            return True
        central.full_swept(sg).push(s)
        return False
    if nalloc == 0:
        heap.free_span(s)
        return True
    if nalloc == s.nelems:
        central.full_swept(sg).push(s)
    else:
        central.partial_swept(sg).push(s)
    return False
