"""Per-P grey work buffers and the global lists (runtime/mgcwork.go, go1.24).

Figures from Go's constants: a workbuf is 2 KiB with a 24-byte header, so
(2048 - 24) / 8 = 253 pointers; buffers come 16 at a time from 32 KiB
spans (workbufAlloc) counted as work-buffer memory in GCSys.
"""

from __future__ import annotations

from gomem.runtime.mgcwork import WORKBUF_ALLOC, WORKBUF_OBJS, GCWork, WorkQueues
from gomem.runtime.runtime import Runtime


def test_a_workbuf_holds_253_pointers() -> None:
    assert WORKBUF_OBJS == (2048 - 24) // 8 == 253


def test_full_buffers_go_to_the_global_list_and_another_context_takes_them() -> None:
    rt = Runtime()
    q = WorkQueues(rt.heap)
    a, b = GCWork(q), GCWork(q)
    objs = list(range(1, 3 * WORKBUF_OBJS + 1))  # 759 objects: three full buffers
    for o in objs:
        a.put(o)
    # a keeps two buffers (one full, one partly filled after the swap); one full one is global.
    assert len(q.full) == 1 and len(q.full[0].objs) == WORKBUF_OBJS
    taken = []
    while o := b.try_get():  # b has nothing of its own: it takes the global buffer
        taken.append(o)
    assert len(taken) == WORKBUF_OBJS
    a.dispose()
    while o := b.try_get():
        taken.append(o)
    assert sorted(taken) == objs


def test_work_buffer_spans_are_gc_sys_and_released_after_the_cycle() -> None:
    rt = Runtime()
    rt.mallocgc(64)  # grow the heap first: its arena metadata counts in GCSys too
    before = rt.read_mem_stats().GCSys
    q = WorkQueues(rt.heap)
    w = GCWork(q)
    w.put(1)  # the first put takes two buffers: one 32 KiB span carved into 16
    assert len(q.spans) == 1 and q.spans[0].npages * 8192 == WORKBUF_ALLOC
    assert len(q.empty) == 16 - 2
    assert rt.read_mem_stats().GCSys - before == WORKBUF_ALLOC  # inWorkBufs counts in GCSys
    assert w.try_get() == 1 and w.try_get() == 0
    w.dispose()
    q.release()
    assert rt.read_mem_stats().GCSys == before
