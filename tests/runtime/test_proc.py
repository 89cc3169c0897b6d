"""The scheduler: policies, Ps, time slices, stop-the-world (runtime/proc.go model).

Expectations are computed from the policy's definition (round robin by
goid, a script's exact list), Go's 10 ms time slice (forcePreemptNS) and
gfput's rule that a dead G keeps a starting-size stack.
"""

from __future__ import annotations

import pytest

from gomem.program import Program
from gomem.runtime.mem_linux import RuntimeThrow
from gomem.runtime.proc import FORCE_PREEMPT_NS, GStatus, Script
from gomem.runtime.runtime import Runtime


def _logging_program(log: list[tuple[str, int]], n: int, names: tuple[str, ...] = ("a", "b")):
    prog = Program()
    T = prog.struct("T", X="int")

    def worker(name: str):
        @prog.func(name=name, locals={"p": "*T"})
        def body(g, f):
            for i in range(n):
                f.p = g.new(T)
                log.append((name, i))  # runs right after the operation, before the next

        return body

    for name in names:
        worker(name)

    @prog.func
    def main(g, f):
        for name in names:
            g.go(name)

    return prog


def test_scripted_schedule_runs_exactly_the_listed_steps() -> None:
    log: list[tuple[str, int]] = []
    prog = _logging_program(log, 3)
    # Steps 0 and 1 are main's two `go` operations (goid 1); then the script decides.
    script = [1, 1, "b", "b", "a", "b", "a", "a"]
    r = prog.run(gomaxprocs=3, policy="script", script=script)
    assert log == [("b", 0), ("b", 1), ("a", 0), ("b", 2), ("a", 1), ("a", 2)]
    assert r.steps == len(script)


def test_script_naming_a_goroutine_that_is_not_running_fails_loudly() -> None:
    prog = _logging_program([], 2)
    with pytest.raises(RuntimeThrow, match="step 2 names 'c'"):
        prog.run(gomaxprocs=3, policy="script", script=[1, 1, "c"])


def test_round_robin_alternates_by_goid() -> None:
    log: list[tuple[str, int]] = []
    r = _logging_program(log, 3).run(gomaxprocs=3)
    # step 0: main (goid 1) starts a (2); step 1: after goid 1 comes a: a0; step 2: wrap to
    # main, which starts b (3) and returns; then a, b, a, b, b by goid order after the last.
    assert log == [("a", 0), ("a", 1), ("b", 0), ("a", 2), ("b", 1), ("b", 2)]
    assert r.steps == 8


def test_one_p_runs_one_goroutine_until_its_time_slice_ends() -> None:
    log: list[tuple[str, int]] = []
    _logging_program(log, 3).run(gomaxprocs=1)
    # With one P, b waits in the run queue while a (far from 10 ms) runs to its end.
    assert log == [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1), ("b", 2)]


def test_time_slice_preemption_hands_the_p_over() -> None:
    prog = Program()
    log: list[str] = []

    def spinner(name: str):
        @prog.func(name=name)
        def body(g, f):
            for _ in range(4):
                g.work(FORCE_PREEMPT_NS // 2)  # two operations use up a 10 ms slice
                log.append(name)

        return body

    spinner("a")
    spinner("b")

    @prog.func
    def main(g, f):
        g.go("a")
        g.go("b")

    prog.run(gomaxprocs=1)
    # main's slice is tiny; a runs until it has used 10 ms, then b gets the P, and so on.
    assert log == ["a", "a", "b", "b", "a", "a", "b", "b"]


def test_random_schedule_replays_from_its_seed() -> None:
    digests = set()
    for _ in range(2):
        log: list[tuple[str, int]] = []
        r = _logging_program(log, 20, ("a", "b", "c")).run(gomaxprocs=3, policy="random", seed=7)
        digests.add((r.digest, tuple(log)))
    assert len(digests) == 1
    other = _logging_program([], 20, ("a", "b", "c")).run(gomaxprocs=3, policy="random", seed=8)
    assert other.digest != next(iter(digests))[0]


def test_dead_goroutine_keeps_its_starting_stack_for_reuse() -> None:
    rt = Runtime()
    g = rt.newproc("f", lambda g: None)
    rt.sched.run(rt.goexit)
    assert g.status == GStatus.DEAD
    assert rt.ps[0].gfree == [g]
    g2 = rt.newproc("h", lambda g: None)
    assert g2 is g and g2.goid == 2  # gfget: same G and stack, new goid


def test_stop_the_world_records_the_pause_and_aligns_the_clocks() -> None:
    rt = Runtime(gomaxprocs=3)
    rt.ps[0].clock_ns, rt.ps[1].clock_ns, rt.ps[2].clock_ns = 100, 700, 300
    pause = rt.sched.stop_the_world("GC sweep termination", 50)
    assert (pause.start_ns, pause.duration_ns) == (700, 50)
    assert [p.clock_ns for p in rt.ps] == [750, 750, 750]
    assert rt.sched.pauses == [pause]


def test_script_policy_object_rejects_running_past_the_end_when_strict() -> None:
    s = Script([1], strict=True)
    rt = Runtime()
    g = rt.newproc("f", lambda g: None)
    assert s.choose([g], 0) is g
    with pytest.raises(RuntimeThrow, match="no entry for step 1"):
        s.choose([g], 1)


def test_each_p_allocates_from_its_own_mcache() -> None:
    prog = Program()
    T = prog.struct("T", X="int", Y="int")  # 16 B noscan: class 2 (not tiny)
    seen: dict[str, int] = {}

    def worker(name: str):
        @prog.func(name=name, locals={"p": "*T"})
        def body(g, f):
            f.p = g.new(T)
            f.p = g.new(T)  # still running when main starts the other one
            seen[name] = g.gp.p.id

        return body

    worker("a")
    worker("b")

    @prog.func
    def main(g, f):
        g.go("a")
        g.go("b")

    r = prog.run(gomaxprocs=3)
    assert sorted(seen.values()) == [1, 2]  # main holds P0; a and b got idle Ps 1 and 2
    assert r.memstats.MCacheInuse == 3 * 1208


def test_page_faults_a_goroutine_causes_are_charged_to_its_clock() -> None:
    from gomem.runtime.cost import DEFAULT_COSTS

    prog = Program()
    prog.struct("B", Data="[40960]byte")  # large, pointer-free: fresh pages, no memclr
    out = {}

    @prog.func(locals={"b": "*B"})
    def main(g, f):
        f.b = g.new("B")
        before = g.gp.p.clock_ns
        g.work(0)
        for i in range(10):  # a raw write to each of ten fresh OS pages: ten faults
            g.rt.process.store8(f.b.addr + 4096 * i, 1)
        g.work(0)  # the switch point of the next operation charges them
        out["dt"] = g.gp.p.clock_ns - before

    prog.run()
    # Two zero-cost operations, then ten minor faults at the table's page_fault cost.
    assert out["dt"] == 10 * DEFAULT_COSTS.page_fault
