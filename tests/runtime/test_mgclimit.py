"""The GC CPU limiter (mgclimit.go, go1.24): a bucket of one CPU-second per P
that GC time fills and mutator time drains; full means assists stop.
Expected values are hand calculations from those rules."""

from __future__ import annotations

from gomem.runtime.mgclimit import CAPACITY_PER_PROC, UPDATE_PERIOD, GCCPULimiterState
from gomem.runtime.runtime import Runtime

MS = 1_000_000


def test_capacity_is_one_cpu_second_per_p() -> None:
    lim = GCCPULimiterState()
    lim.reset_capacity(0, 4)
    assert lim.capacity == 4 * CAPACITY_PER_PROC == 4_000_000_000
    assert not lim.limiting()
    assert (
        UPDATE_PERIOD == 10 * MS and not lim.need_update(10 * MS) and lim.need_update(10 * MS + 1)
    )


def test_gc_heavy_windows_fill_the_bucket_and_mutator_time_drains_it() -> None:
    cycles = [7]
    lim = GCCPULimiterState(lambda: cycles[0])
    lim.reset_capacity(0, 4)
    lim.start_gc_transition(True, 0)
    lim.finish_gc_transition(0)
    # Each 10 ms window on 4 Ps is 40 ms of CPU: 25% background (10 ms) plus 30 ms of
    # assists = all GC, no mutator: the bucket gains 40 ms per window and holds 4 s,
    # so it is full after 100 windows (1 s), not before.
    now = 0
    for _ in range(99):
        now += 10 * MS
        lim.add_assist_time(30 * MS)
        lim.update(now)
    assert lim.fill == 99 * 40 * MS and not lim.limiting()
    now += 10 * MS
    lim.add_assist_time(30 * MS)
    lim.update(now)
    assert lim.fill == lim.capacity and lim.limiting()
    assert lim.last_enabled_cycle == 8  # memstats.numgc + 1
    # One more such window does not fit: it counts as overflow.
    now += 10 * MS
    lim.add_assist_time(30 * MS)
    lim.update(now)
    assert lim.overflow == 40 * MS
    # A window with only the 25% background: 10 ms GC, 30 ms mutator: drains 20 ms.
    now += 10 * MS
    lim.update(now)
    assert lim.fill == lim.capacity - 20 * MS and not lim.limiting()


def test_a_transition_counts_the_stop_the_world_as_gc_time() -> None:
    lim = GCCPULimiterState()
    lim.reset_capacity(0, 2)
    lim.start_gc_transition(True, 5 * MS)  # 5 ms x 2 Ps of mutator: nothing to drain
    lim.finish_gc_transition(6 * MS)  # 1 ms x 2 Ps stopped: 2 ms of GC time
    assert lim.fill == 2 * MS


def test_while_limiting_an_assist_does_no_work_and_does_not_park() -> None:
    rt = Runtime()
    for _ in range(100):
        rt.mallocgc(64)
    gc = rt.gc
    gc._sweep_termination(forced=True)
    gc.root_jobs.extend(["globals", "gs"])
    g = gc.worker_pool[0]  # any G with a P will do as the assisting goroutine
    g.p = rt.ps[0]
    g.gc_assist_bytes = -(1 << 20)
    marker = gc.marker
    assert marker is not None
    gc.bg_scan_credit = 1 << 40  # the workers' banked credit would pay the whole debt
    rt.gc_cpu_limiter.enabled = True
    gc.assist(g)
    assert gc.assists == 0 and g.gc_assist_bytes == -(1 << 20) and not gc.assist_queue
    assert gc.bg_scan_credit == 1 << 40 and len(gc.root_jobs) == 2  # nothing taken
    rt.gc_cpu_limiter.enabled = False
    gc.assist(g)  # now it steals credit and the debt is paid
    assert gc.assists == 1 and g.gc_assist_bytes >= 0 and gc.bg_scan_credit < 1 << 40
