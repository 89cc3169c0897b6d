"""Central free lists. Models runtime/mcentral.go and runtime/mspanset.go
(go1.24). See docs/ARCHITECTURE.md for the allocator's overview.

An mcentral holds no objects; its spans do. There is one per span class,
with four span sets: spans with free slots (partial) and without (full),
each either swept or unswept in the current GC cycle. Which of the two
sets is "swept" flips every cycle, so the collector never moves spans:

    partial_swept(sg)   = partial[sg // 2 % 2]
    partial_unswept(sg) = partial[1 - sg // 2 % 2]   (likewise full)

and `mheap.sweepgen += 2` turns every swept set into an unswept one.

cache_span hands an mcache a span with a free slot: a swept partial span
if there is one, else one it sweeps itself (bounded by a budget of 100
spans), else a fresh span from the heap (grow). uncache_span takes a span
back from an mcache and files it by whether it still has free slots.

Simplified: a span set is an insertion-ordered dict (push at the back, pop
from the front, as Go's lock-free spanSet behaves, and O(1) removal so an
explicit free can move a span); no locks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from gomem.runtime.mbitmap import init_heap_bits
from gomem.runtime.mem_linux import RuntimeThrow
from gomem.runtime.mgcsweep import sweep_span
from gomem.runtime.mheap import PAGE_SHIFT, MHeap, MSpan
from gomem.runtime.sizeclasses import CLASS_TO_ALLOCNPAGES

if TYPE_CHECKING:
    from gomem.runtime.mcache import MCache


class SpanSet:
    """spanSet: a FIFO set of spans; each span is in at most one set."""

    __slots__ = ("spans",)

    def __init__(self) -> None:
        self.spans: dict[MSpan, None] = {}

    def push(self, s: MSpan) -> None:
        if s.in_set is not None:
            raise RuntimeThrow(f"spanSet.push: span {s.start_addr:#x} is already in a set")
        self.spans[s] = None
        s.in_set = self

    def pop(self) -> MSpan | None:
        if not self.spans:
            return None
        s = next(iter(self.spans))
        del self.spans[s]
        s.in_set = None
        return s

    def remove(self, s: MSpan) -> None:
        del self.spans[s]
        s.in_set = None

    def __len__(self) -> int:
        return len(self.spans)

    def __iter__(self) -> Iterator[MSpan]:
        return iter(list(self.spans))


class MCentral:
    """mcentral: the spans of one span class not held by an mcache."""

    def __init__(self, spanclass: int, heap: MHeap) -> None:
        self.spanclass = spanclass
        self.heap = heap
        self.partial = (SpanSet(), SpanSet())  # spans with a free slot
        self.full = (SpanSet(), SpanSet())  # spans with none (and large spans)

    def partial_swept(self, sg: int) -> SpanSet:
        return self.partial[sg // 2 % 2]

    def partial_unswept(self, sg: int) -> SpanSet:
        return self.partial[1 - sg // 2 % 2]

    def full_swept(self, sg: int) -> SpanSet:
        return self.full[sg // 2 % 2]

    def full_unswept(self, sg: int) -> SpanSet:
        return self.full[1 - sg // 2 % 2]

    def cache_span(self, pp: MCache | None = None) -> MSpan | None:
        """cacheSpan: a span with at least one free slot, for an mcache."""
        if self.heap.sweep_credit is not None:  # deductSweepCredit(spanBytes, 0)
            self.heap.sweep_credit(CLASS_TO_ALLOCNPAGES[self.spanclass >> 1] << PAGE_SHIFT, 0)
        sg = self.heap.sweepgen
        s = self.partial_swept(sg).pop()
        if s is None:
            budget = 100
            while budget >= 0 and s is None:
                cand = self.partial_unswept(sg).pop()
                if cand is None:
                    break
                budget -= 1
                sweep_span(self.heap, cand, preserve=True)
                s = cand
            while budget >= 0 and s is None:
                cand = self.full_unswept(sg).pop()
                if cand is None:
                    break
                budget -= 1
                sweep_span(self.heap, cand, preserve=True)
                free = cand.next_free_index()
                if free != cand.nelems:
                    cand.freeindex = free
                    s = cand
                else:
                    self.full_swept(sg).push(cand)
        if s is None:
            s = self.grow(pp)
            if s is None:
                return None
        if s.nelems - s.alloc_count == 0 or s.freeindex == s.nelems:
            raise RuntimeThrow(f"mcentral.cache_span: span {s.start_addr:#x} has no free space")
        s.refill_alloc_cache((s.freeindex & ~63) // 8)
        s.alloc_cache >>= s.freeindex % 64
        return s

    def uncache_span(self, s: MSpan) -> None:
        """uncacheSpan: an mcache gives s back."""
        if s.alloc_count == 0:
            raise RuntimeThrow("mcentral.uncache_span: span has no allocated objects")
        sg = self.heap.sweepgen
        stale = s.sweepgen == sg + 1
        s.sweepgen = sg - 1 if stale else sg
        if stale or s.freed:
            # Cached since before a sweep began (being swept: sg - 1), or holding
            # explicit frees (swept as is: sg): sweep now.
            sweep_span(self.heap, s, preserve=False)
        elif s.nelems - s.alloc_count > 0:
            self.partial_swept(sg).push(s)
        else:
            self.full_swept(sg).push(s)

    def grow(self, pp: MCache | None = None) -> MSpan | None:
        """grow: a fresh span for this class from the heap."""
        size_class = self.spanclass >> 1
        npages = CLASS_TO_ALLOCNPAGES[size_class]
        s = self.heap.alloc(npages, self.spanclass, pp)
        if s is None:
            return None
        n = (npages << PAGE_SHIFT) // s.elemsize
        s.limit = s.start_addr + s.elemsize * n
        init_heap_bits(self.heap.os.process, s)
        return s
