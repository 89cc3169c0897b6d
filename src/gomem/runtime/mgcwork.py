"""Grey work queues: per-P gcWork buffers and the global lists. Models
runtime/mgcwork.go (go1.24). See docs/ARCHITECTURE.md for the collector.

Grey objects wait in work buffers. Each P (here: each marking context --
the mark worker, an assisting goroutine's P, a barrier flush) has a
gcWork with two buffers: it pushes to and pops from the first, swaps
when the first is full or empty, and only then trades a whole buffer
with the global lists: a full buffer goes to work.full (where any other
marker can take it), an empty one comes from work.empty. So markers
mostly work alone and share work in batches, as in Go.

A workbuf is 2 KiB (_WorkbufSize): a 24-byte header and 253 object
pointers. Buffers are carved 16 at a time out of 32 KiB MANUAL spans
(workbufAlloc) taken from the heap as spanAllocWorkBuf, so their bytes
count in GCSys (heapStats.inWorkBufs), and the spans are given back
when a cycle ends (freeSomeWbufs).

Simplified: the buffers' slots are Python lists (the spans are real,
their contents are not written); no lock-free stacks.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from gomem.runtime.mem_linux import RuntimeThrow
from gomem.runtime.mheap import PAGE_SHIFT, MHeap, MSpan, SpanAllocType

WORKBUF_SIZE = 2048  # _WorkbufSize
WORKBUF_HEADER = 24  # workbufhdr: an lfnode (16 bytes) and nobj
WORKBUF_OBJS = (WORKBUF_SIZE - WORKBUF_HEADER) // 8  # 253 pointers per buffer
WORKBUF_ALLOC = 32 << 10  # workbufAlloc: buffers are carved from spans of this size


@dataclass(slots=True, eq=False)
class Workbuf:
    """workbuf: up to 253 grey objects."""

    addr: int  # where the buffer is in its span
    objs: list[int] = field(default_factory=list)


class WorkQueues:
    """work.full / work.empty and the spans the buffers come from."""

    def __init__(self, heap: MHeap) -> None:
        self.heap = heap
        self.full: deque[Workbuf] = deque()  # buffers with grey objects, for anyone
        self.empty: list[Workbuf] = []  # spare buffers
        self.spans: list[MSpan] = []  # MANUAL spans the buffers live in

    def get_empty(self) -> Workbuf:
        """getempty: a spare buffer, carving a new 32 KiB span when none is left."""
        if not self.empty:
            s = self.heap.alloc_manual(WORKBUF_ALLOC >> PAGE_SHIFT, SpanAllocType.WORK_BUF)
            if s is None:
                raise RuntimeThrow("out of memory allocating work buffers")
            self.spans.append(s)
            for off in range(WORKBUF_ALLOC - WORKBUF_SIZE, -1, -WORKBUF_SIZE):
                self.empty.append(Workbuf(s.start_addr + off))
        return self.empty.pop()

    def put_full(self, b: Workbuf) -> None:
        self.full.append(b)

    def try_get_full(self) -> Workbuf | None:
        return self.full.popleft() if self.full else None

    def release(self) -> None:
        """freeSomeWbufs: at the end of a cycle, give every buffer span back."""
        if self.full:
            raise RuntimeThrow("mgcwork: grey work left when releasing the work buffers")
        for s in self.spans:
            self.heap.free_manual(s, SpanAllocType.WORK_BUF)
        self.spans.clear()
        self.empty.clear()


class GCWork:
    """gcWork: a marking context's two buffers."""

    __slots__ = ("queues", "wbuf1", "wbuf2")

    def __init__(self, queues: WorkQueues) -> None:
        self.queues = queues
        self.wbuf1: Workbuf | None = None
        self.wbuf2: Workbuf | None = None

    def put(self, obj: int) -> None:
        """put: queue a grey object; a full buffer goes to the global list."""
        w = self.wbuf1
        if w is None:
            w = self.wbuf1 = self.queues.get_empty()
            self.wbuf2 = self.queues.get_empty()
        elif len(w.objs) == WORKBUF_OBJS:
            self.wbuf1, self.wbuf2 = self.wbuf2, w
            w = self.wbuf1
            assert w is not None
            if len(w.objs) == WORKBUF_OBJS:
                self.queues.put_full(w)
                w = self.wbuf1 = self.queues.get_empty()
        w.objs.append(obj)

    def try_get(self) -> int:
        """tryGet: a grey object (0 if none, here or in the global list)."""
        w = self.wbuf1
        if w is None:
            full = self.queues.try_get_full()
            if full is None:
                return 0
            w = self.wbuf1 = full
            self.wbuf2 = self.queues.get_empty()
        if not w.objs:
            self.wbuf1, self.wbuf2 = self.wbuf2, w
            w = self.wbuf1
            assert w is not None
            if not w.objs:
                full = self.queues.try_get_full()
                if full is None:
                    return 0
                self.queues.empty.append(w)
                w = self.wbuf1 = full
        return w.objs.pop()

    def dispose(self) -> None:
        """dispose: hand the grey objects to the global list; keep no buffers."""
        for w in (self.wbuf1, self.wbuf2):
            if w is None:
                continue
            if w.objs:
                self.queues.put_full(w)
            else:
                self.queues.empty.append(w)
        self.wbuf1 = self.wbuf2 = None

    def empty(self) -> bool:
        return not (self.wbuf1 and self.wbuf1.objs) and not (self.wbuf2 and self.wbuf2.objs)

    def objects(self) -> list[int]:
        return [o for w in (self.wbuf1, self.wbuf2) if w is not None for o in w.objs]
