"""Marking: roots, greyobject, scanobject and the drain loop. Models
runtime/mgcmark.go (markroot, scanstack's frame scan, greyobject,
scanobject, gcDrain, gcmarknewobject) and findObject of mbitmap.go
(go1.24). See docs/ARCHITECTURE.md for the collector's overview.

Colours, as Go has them: an object is *white* while its mark bit in its
span's gcmarkBits is clear; *grey* once its bit is set and it waits in a
work queue to be scanned; *black* once scanned. Pointer-free (noscan)
objects go straight from white to black: there is nothing to scan.

Roots are the pointer words of the data/bss globals (their pointer
bitmaps), of every goroutine's frames (their stack maps), and the
runtime's own roots: every g record (Go reaches them through allgs, a
runtime global). scanobject reads an object's pointer words from the
simulated memory, exactly where the allocator put the type information
(heap bits in the span, a malloc header, or the span's largeType), and
greys every word that points into an in-use span of the heap.

Grey objects wait in per-context gcWork buffers and the global lists
(mgcwork.py); `use(pid)` selects the context that the next greying and
draining work in (the mark worker's, an assisting goroutine's P, a
barrier flush's P).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gomem.runtime.mbitmap import type_pointers_of
from gomem.runtime.mgcwork import GCWork, WorkQueues
from gomem.runtime.mheap import PAGE_SHIFT, PAGES_PER_ARENA, SpanState, arena_index

if TYPE_CHECKING:
    from gomem.runtime.mheap import MSpan
    from gomem.runtime.runtime import Runtime


@dataclass(slots=True)
class MarkStats:
    """What one mark phase did."""

    roots: int = 0  # root words examined
    objects_marked: int = 0  # objects greyed (or blackened directly if noscan)
    bytes_marked: int = 0  # bytes of marked objects (their slot sizes)
    words_scanned: int = 0  # pointer words read by scanobject and root scans
    scan_bytes: int = 0  # bytes of scanned objects (the pacer's heap scan work)
    stack_scan_bytes: int = 0  # bytes of stacks scanned, hi - sp each (stack scan work)
    globals_scan_bytes: int = 0  # bytes of globals scanned (globals scan work)


class Marker:
    """The mark state of one cycle: the grey queue and its counters."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.heap = rt.heap
        self.load64 = rt.process.load64
        self.queues = WorkQueues(self.heap)  # work.full / work.empty and their spans
        self.gcws: dict[int, GCWork] = {}  # the gcWork of each marking context, by P id
        self.gcw = self.use(0)  # where greyobject puts and drain takes work now
        self.stats = MarkStats()

    def use(self, pid: int) -> GCWork:
        """Mark in P pid's gcWork from now on."""
        gcw = self.gcws.get(pid)
        if gcw is None:
            gcw = self.gcws[pid] = GCWork(self.queues)
        self.gcw = gcw
        return gcw

    def pop(self) -> int:
        """A grey object from the current gcWork or the global list (0: none)."""
        return self.gcw.try_get()

    def has_grey(self) -> bool:
        """Any grey object left in any gcWork or the global list?"""
        return bool(self.queues.full) or any(not w.empty() for w in self.gcws.values())

    def flush_all(self) -> None:
        """gcMarkDone's flush: every gcWork hands its grey objects to the global list."""
        for w in self.gcws.values():
            w.dispose()

    def grey_objects(self) -> set[int]:
        out = {o for b in self.queues.full for o in b.objs}
        for w in self.gcws.values():
            out.update(w.objects())
        return out

    def find_object(self, p: int) -> tuple[MSpan, int, int] | None:
        """findObject: (span, object index, object base) of the heap object holding p."""
        s = self.heap.span_of(p)
        if s is None or s.state != SpanState.IN_USE or not s.start_addr <= p < s.limit:
            return None
        idx = s.object_index(p)
        return s, idx, s.start_addr + idx * s.elemsize

    def greyobject(self, s: MSpan, idx: int, base: int) -> None:
        """Mark object idx of s; queue it for scanning unless it has no pointers."""
        bit = 1 << idx
        if s.gcmark_bits & bit:
            return
        s.gcmark_bits |= bit
        ha = self.heap.arenas[arena_index(s.start_addr)]
        ha.page_marks |= 1 << ((s.start_addr >> PAGE_SHIFT) % PAGES_PER_ARENA)
        st = self.stats
        st.objects_marked += 1
        if s.spanclass & 1:  # noscan: black at once
            st.bytes_marked += s.elemsize
            return
        self.gcw.put(base)

    def shade(self, p: int) -> None:
        """shade: grey the object p points into, if p points into the heap."""
        found = self.find_object(p)
        if found is not None:
            self.greyobject(*found)

    def scan_words(self, addrs: list[int]) -> None:
        """Grey what each of these pointer words points to (a root or an object's words)."""
        load64, shade = self.load64, self.shade
        self.stats.words_scanned += len(addrs)
        for a in addrs:
            v = load64(a)
            if v:
                shade(v)

    def scanobject(self, base: int) -> None:
        """scanobject: grey the referents of the object at base (its slot start)."""
        s = self.heap.span_of(base)
        assert s is not None
        words = type_pointers_of(self.rt.process, s, base, self.rt.type_at)
        st = self.stats
        st.bytes_marked += s.elemsize
        st.scan_bytes += s.elemsize
        self.scan_words(words)

    def mark_roots(self) -> None:
        """markroot: globals, goroutine stacks, and the g records (allgs)."""
        rt = self.rt
        roots = rt.global_roots()
        for g in rt.sched.allgs:
            if g.addr:
                self.shade(g.addr)  # allgs keeps every g record alive
            roots.extend(rt.stack_roots(g))
        self.stats.roots += len(roots)
        self.scan_words(roots)

    def drain(self) -> None:
        """gcDrain: scan grey objects until none is left anywhere."""
        self.flush_all()
        pop, scan = self.pop, self.scanobject
        while obj := pop():
            scan(obj)


def gcmarknewobject(marker: Marker, s: MSpan, x: int) -> None:
    """gcmarknewobject: an object allocated during mark is black from birth, and its
    bytes count as marked."""
    idx = s.object_index(x)
    bit = 1 << idx
    if not s.gcmark_bits & bit:
        s.gcmark_bits |= bit
        marker.stats.bytes_marked += s.elemsize
        ha = marker.heap.arenas[arena_index(s.start_addr)]
        ha.page_marks |= 1 << ((s.start_addr >> PAGE_SHIFT) % PAGES_PER_ARENA)
