"""Mark workers (mgc.go gcBgMarkWorker, mgcpacer.go findRunnableGCWorker,
proc.go's idle worker) and proportional sweep (mgcsweep.go gcPaceSweeper,
deductSweepCredit), go1.24. Expected values come from Go's rules: 25% of
GOMAXPROCS as dedicated workers, rounded, with a fractional worker when
rounding is more than 30% off; idle workers only on Ps with nothing to run;
fractional workers stop above 1.2 x their goal; the sweeper sweeps
sweepPagesPerByte pages per byte allocated, counted from the basis.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from gomem.program import Program
from gomem.runtime.mgcpacer import GCControllerState
from gomem.runtime.proc import G, Policy
from gomem.runtime.runtime import Runtime


@pytest.mark.parametrize(
    ("procs", "dedicated", "fractional"),
    [
        # goal = procs/4; dedicated = int(goal + 0.5); if dedicated/goal - 1 is outside
        # +-0.3, drop the extra worker and spread the rest over the Ps as a fraction.
        (1, 0, 0.25),  # goal 0.25: round to 1 is +300%: 0 dedicated, 0.25/1
        (2, 0, 0.25),  # goal 0.5: round to 1 is +100%: 0 dedicated, 0.5/2
        (3, 0, 0.25),  # goal 0.75: 1 is +33%: 0 dedicated, 0.75/3
        (4, 1, 0.0),
        (5, 1, 0.0),  # goal 1.25: 1 is -20%
        (6, 1, 0.5 / 6),  # goal 1.5: 2 is +33%: 1 dedicated, (1.5 - 1)/6
        (7, 2, 0.0),  # goal 1.75: 2 is +14%
        (8, 2, 0.0),
        (64, 16, 0.0),
    ],
)
def test_dedicated_and_fractional_workers_follow_gos_rounding(
    procs: int, dedicated: int, fractional: float
) -> None:
    assert GCControllerState().workers(procs) == (dedicated, pytest.approx(fractional))


def _build_and_collect(busy: int) -> Program:
    """main builds a 2,000-node list; `busy` goroutines allocate while it collects."""
    prog = Program()
    Node = prog.struct("Node", Next="*Node", Pad="[40]byte")
    prog.globals(head="*Node")

    @prog.func(locals={"n": "*Node", "next": "*Node"})
    def main(g, f):
        for _ in range(2000):
            f.n = g.new(Node)
            f.next = g.load_global("head")
            g.store(f.n, "Next", f.next)
            g.store_global("head", f.n)
        f.n = f.next = None
        for _ in range(busy):
            g.go("spin")
        g.gc()

    @prog.func(locals={"n": "*Node"})
    def spin(g, f):
        for _ in range(3000):
            f.n = g.new(Node)

    return prog


def test_with_every_p_busy_the_dedicated_worker_takes_a_p_and_no_idle_worker_runs() -> None:
    # 4 Ps: one dedicated worker (25%). main parks in runtime.GC(); 4 spinning
    # goroutines keep all 4 Ps busy, so one of them waits in the run queue while the
    # dedicated worker has its P, and no P is ever idle for an idle worker.
    r = _build_and_collect(busy=4).run(gomaxprocs=4, policy="random", seed=3)
    rec = r.runtime.gc.cycles[0]
    assert rec.mark_ns > 0
    assert rec.idle_ns == 0
    assert "dedicated" in r.runtime.gc.worker_mode.values()


def test_idle_ps_run_idle_workers() -> None:
    # 4 Ps and main alone: main parks in runtime.GC(), leaving every P idle; the
    # dedicated worker takes one and idle workers the others (at most 4 - 1 of them).
    r = _build_and_collect(busy=0).run(gomaxprocs=4)
    rec = r.runtime.gc.cycles[0]
    assert rec.idle_ns > 0 and rec.mark_ns > 0
    assert sorted(set(r.runtime.gc.worker_mode.values())) == ["dedicated", "idle"]


def test_with_one_p_the_fractional_worker_marks() -> None:
    # GOMAXPROCS=1: no dedicated worker; a fractional one with a 25% goal.
    r = _build_and_collect(busy=1).run(gomaxprocs=1, check=True)
    gc = r.runtime.gc
    assert r.runtime.gc_controller.workers(1) == (0, 0.25)
    assert "fractional" in gc.worker_mode.values() and "dedicated" not in gc.worker_mode.values()
    assert gc.cycles[0].mark_ns > 0


def test_fractional_worker_runs_only_while_behind_and_stops_above_1_2_times_the_goal() -> None:
    rt = Runtime(gomaxprocs=1)
    rt.mallocgc(64)
    gc, ctl = rt.gc, rt.gc_controller
    gc._sweep_termination(forced=True)
    gc.root_jobs.extend(["globals", "gs"])  # work is available
    p = rt.ps[0]
    start = ctl.mark_start_time
    assert ctl.fractional_utilization_goal == 0.25
    # 40 ms into mark with 12 ms of fractional work: 30% > 25%, ahead: no worker.
    p.clock_ns, p.gc_fractional_mark_ns = start + 40_000_000, 12_000_000
    assert gc.find_runnable_gc_worker(p) is None
    # 8 ms of 40 (20%): behind, so a fractional worker starts.
    p.gc_fractional_mark_ns = 8_000_000
    w = gc.find_runnable_gc_worker(p)
    assert w is not None and gc.worker_mode[w.goid] == "fractional"
    # It exits once (8 ms + its own time) / (time since mark start) > 1.2 x 25% = 30%.
    stint_start = p.clock_ns
    p.clock_ns = stint_start + 5_000_000  # (8 + 5) / 45 = 28.9%: go on
    assert not gc._poll_fractional_exit(p, stint_start)
    p.clock_ns = stint_start + 6_000_000  # (8 + 6) / 46 = 30.4%: stop
    assert gc._poll_fractional_exit(p, stint_start)


class MainFirst(Policy):
    """Always the goroutine named main when it is running (so the background sweeper
    never gets a step); otherwise the lowest goid."""

    free_when_alone = False

    def choose(self, running: Sequence[G], step: int) -> G:
        for g in running:
            if g.name == "main":
                return g
        return running[0]


def test_proportional_sweep_keeps_pace_with_allocation() -> None:
    # 1 KiB noscan objects, all garbage: the first cycle starts at the heap trigger
    # and leaves every span unswept. From then on, before each span is allocated,
    # deductSweepCredit sweeps until pages swept since the basis >= sweepPagesPerByte
    # x bytes allocated since the basis (the span counted in full). The background
    # sweeper never runs here (MainFirst), so only the allocating goroutine sweeps.
    prog = Program()
    seen: dict[str, int] = {"checks": 0}

    @prog.func(locals={"b": "*[1024]byte"})
    def main(g, f):
        rt = g.rt
        heap, ctl = rt.heap, rt.gc_controller
        while len(rt.gc.cycles) < 2:
            f.b = g.new("[1024]byte")
            rate = heap.sweep_pages_per_byte
            if rt.gc.cycles and rate and rt.gc.phase == 0:
                swept = heap.pages_swept - heap.pages_swept_basis
                owed = int(rate * (ctl.heap_live - heap.sweep_heap_live_basis))
                assert swept >= owed, (swept, owed)
                seen["checks"] += 1

    r = prog.run(runtime=Runtime(policy=MainFirst()), check=False)
    assert r.runtime.gc.cycles[0].forced is False
    assert seen["checks"] > 100


def test_gogc_off_still_paces_the_sweep_toward_the_memory_limit_trigger() -> None:
    # With GOGC=off Go's goal is not ^uint64(0): heapGoalInternal takes the lower of the
    # GOGC goal (^uint64(0)) and the memory-limit goal, which with no limit is
    # math.MaxInt64 less the non-heap memory, less 3% headroom. gcPaceSweeper then
    # spreads the unswept pages over (trigger - heap_live - 1 MiB): a tiny positive rate.
    prog = Program()
    seen: dict[str, float] = {}

    @prog.func(locals={"b": "*[1024]byte"})
    def main(g, f):
        rt = g.rt
        heap, ctl = rt.heap, rt.gc_controller
        while not rt.gc.cycles:
            f.b = g.new("[1024]byte")
        rt.gc.set_gc_percent(-1)
        seen["goal"] = ctl.heap_goal()
        non_heap = ctl.mapped_ready - ctl.heap_free.nbytes - (ctl.total_alloc - ctl.total_free)
        seen["limit_goal"] = (1 << 63) - 1 - non_heap
        distance = ctl.trigger() - ctl.heap_live - (1 << 20)
        seen["rate"] = heap.sweep_pages_per_byte
        seen["expected"] = float(heap.pages_in_use - heap.pages_swept) / float(distance)

    prog.run(runtime=Runtime(policy=MainFirst()))
    # memoryLimitHeapGoal: limit - non-heap memory, less 3% of that.
    limit_goal = int(seen["limit_goal"])
    assert seen["goal"] == limit_goal - limit_goal // 100 * 3
    assert 0 < seen["rate"] == seen["expected"] < 1e-15


def test_set_gc_percent_and_set_memory_limit_from_the_program() -> None:
    # debug.SetGCPercent and debug.SetMemoryLimit return the old values and commit the
    # new goal at once: with GOGC=50 the floor is 2 MiB; a 1 MiB limit then binds.
    prog = Program()
    seen: dict[str, int] = {}

    @prog.func
    def main(g, f):
        ctl = g.rt.gc_controller
        seen["old_gogc"] = g.set_gc_percent(50)
        seen["goal_50"] = ctl.heap_goal()
        seen["old_limit"] = g.set_memory_limit(64 << 20)
        seen["read"] = g.set_memory_limit(-1)
        seen["off"] = g.set_gc_percent(-1)

    prog.run()
    assert seen["old_gogc"] == 100 and seen["goal_50"] == 2 << 20
    assert seen["old_limit"] == (1 << 63) - 1 and seen["read"] == 64 << 20
    assert seen["off"] == 50
