"""The scavenger's goals (gcPaceScavenger, mgcscavenge.go go1.24) and the
background scavenger's 1% pace. Expected values: hand calculations from Go's
rules (retain 10% over lastHeapInUse x heapGoal / lastHeapGoal, rounded up
to a 4 KiB page; stay under 95% of the memory limit)."""

from __future__ import annotations

from gomem.program import Program
from gomem.runtime.mgcpacer import MAX_UINT64, GCControllerState
from gomem.runtime.mgcscavenge import gc_pace_scavenger

MiB = 1 << 20


def test_no_gogc_goal_before_the_first_cycle_ends() -> None:
    c = GCControllerState()
    c.heap_free.add(100 * MiB)
    gc_pace_scavenger(c, 8 * MiB, 0, 3 * MiB)
    assert c.scavenge_gc_percent_goal == MAX_UINT64


def test_gogc_goal_retains_10_percent_over_the_heap_goals_share() -> None:
    c = GCControllerState()
    c.heap_in_use.add(4 * MiB)
    c.heap_free.add(6 * MiB)  # retained: 10 MiB
    # 3 MiB x 8/4 = 6 MiB (6,291,456); + 629,145 (integer tenth) = 6,920,601;
    # rounded up to 4 KiB: 6,922,240.
    gc_pace_scavenger(c, 8 * MiB, 4 * MiB, 3 * MiB)
    assert c.scavenge_gc_percent_goal == 6_922_240
    c.heap_free.add(-(10 * MiB - 6_922_240 - 4095))  # within a page of the goal: no work
    gc_pace_scavenger(c, 8 * MiB, 4 * MiB, 3 * MiB)
    assert c.scavenge_gc_percent_goal == MAX_UINT64


def test_memory_limit_goal_is_95_percent_of_the_limit() -> None:
    c = GCControllerState(100, 100 * MiB)
    c.mapped_ready_source = lambda: 99 * MiB
    gc_pace_scavenger(c, 8 * MiB, 0, 0)
    assert c.scavenge_memory_limit_goal == int(100 * MiB * 0.95) == 99_614_720
    c.mapped_ready_source = lambda: 90 * MiB
    gc_pace_scavenger(c, 8 * MiB, 0, 0)
    assert c.scavenge_memory_limit_goal == MAX_UINT64


def test_background_scavenger_releases_at_one_percent_of_a_cpu() -> None:
    # 24 MiB of garbage, then forced cycles: the heap shrinks to almost nothing and the
    # retained heap is far over the GOGC goal. Over 200 ms of computing afterwards the
    # scavenger may spend 1% (2 ms) on madvise: at the cost table's price per 4 KiB
    # page, at most 2 ms / (16 x madvise_per_page) quanta of 64 KiB -- and it must
    # release something.
    prog = Program()
    seen: dict[str, int] = {}

    @prog.func(locals={"b": "*[8192]byte"})
    def main(g, f):
        for _ in range(3072):
            f.b = g.new("[8192]byte")
        f.b = None
        g.gc()  # HeapInuse at this mark termination still holds the garbage's spans,
        g.gc()  # so only the next cycle's lastHeapInUse gives a goal below the retained heap
        seen["released0"] = g.rt.read_mem_stats().HeapReleased
        seen["t0"] = g.gp.p.clock_ns
        for _ in range(200):
            g.work(1_000_000)
        seen["t1"] = g.gp.p.clock_ns
        seen["released1"] = g.rt.read_mem_stats().HeapReleased

    r = prog.run()
    gc = r.runtime.gc
    per_quantum = r.runtime.costs.madvise_per_page * 16
    budget = (seen["t1"] - seen["t0"]) // 100  # 1% of the time, one CPU
    assert 0 < gc.scav_released <= (budget // per_quantum + 1) * (64 << 10)
    assert seen["released1"] - seen["released0"] == gc.scav_released
