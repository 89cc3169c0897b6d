"""The model's heap goal against real Go 1.24.3's /gc/heap/goal:bytes, to the byte.

gomem.oracle.heapgoal runs a Go program that holds a steady live heap,
churns garbage (so the pacer runs its own cycles), calls runtime.GC() and
reads the goal and all its inputs in one metrics.Read call, with
GOMAXPROCS=1 (on more Ps a background scavenge can be half done at the
reading, which puts the real goal off by its bytes: see the Go program's
main.go). The model's
GCControllerState is set up from those inputs as Go's mark termination
leaves its gcControllerState (heapLive = heapMarked, triggered = ^0, then
commit with the sweep not done), and its heap_goal() must equal the real
goal exactly.

The cases cover each branch of heapGoalInternal: the GOGC goal at three
settings; the memory-limit goal, below the GOGC goal (GOGC=100) and with
no GOGC goal at all (GOGC=off); and the sweep-distance floor, which wins
when heapMarked + 1 MiB is above the GOGC goal (a small heap at GOGC=25).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from gomem.oracle import heapgoal
from gomem.oracle.heapgoal import GoalInputs, goal_inputs
from gomem.runtime.mgcpacer import GCControllerState

pytestmark = pytest.mark.oracle

MiB = 1 << 20


@dataclass(frozen=True)
class Case:
    live: int  # bytes of live heap the program holds
    gogc: int  # -1: off
    memlimit: int | None  # None: off
    regime: str  # the branch of heapGoalInternal that gives the goal: gogc, limit, sweep

    def __str__(self) -> str:
        gogc = "off" if self.gogc < 0 else str(self.gogc)
        limit = f" GOMEMLIMIT={self.memlimit // MiB}MiB" if self.memlimit is not None else ""
        return f"live={self.live // MiB}MiB GOGC={gogc}{limit}"


CASES = (
    Case(32 * MiB, 50, None, "gogc"),
    Case(32 * MiB, 100, None, "gogc"),
    Case(32 * MiB, 200, None, "gogc"),
    # GOGC's goal would be ~128 MiB; the limit leaves ~92 MiB for the heap.
    Case(64 * MiB, 100, 96 * MiB, "limit"),
    Case(64 * MiB, -1, 96 * MiB, "limit"),
    # GOGC's goal is ~1.25 x 2 MiB, its floor 1 MiB; heapMarked + 1 MiB is above both.
    Case(2 * MiB, 25, None, "sweep"),
)


def model_controller(inputs: GoalInputs) -> GCControllerState:
    """A GCControllerState in the state Go's mark termination leaves behind.

    gcController.init (settings, then commit(true)), as the constructor does;
    then resetLive's heapMarked/heapLive and the cycle's stack scan, the heap
    figures the memory-limit goal reads, and gcControllerCommit's
    commit(isSweepDone()) with the sweep just started.
    """
    c = GCControllerState(inputs.gc_percent, inputs.memory_limit)
    c.heap_marked = inputs.heap_marked
    c.heap_live = inputs.heap_live
    c.last_stack_scan = inputs.last_stack_scan
    c.globals_scan = inputs.globals_scan
    c.heap_free.add(inputs.heap_free)
    c.total_alloc = inputs.total_alloc
    c.total_free = inputs.total_free
    mapped_ready = inputs.mapped_ready
    c.mapped_ready_source = lambda: mapped_ready
    c.commit(inputs.sweep_done)
    return c


def model_heap_goal(inputs: GoalInputs) -> int:
    return model_controller(inputs).heap_goal()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_model_heap_goal_equals_real_go(case: Case, heapgoal_binary: Path) -> None:
    metrics = heapgoal.run(heapgoal_binary, case.live, case.gogc, case.memlimit)
    inputs = goal_inputs(metrics)
    real = metrics[heapgoal.GOAL]
    controller = model_controller(inputs)
    model = controller.heap_goal()
    shown = "\n".join(
        [f"  {k} = {v}" for k, v in asdict(inputs).items()]
        + [f"  {k} = {v}" for k, v in sorted(metrics.items())]
        + [
            f"  model gc_percent_heap_goal = {controller.gc_percent_heap_goal}",
            f"  model memory_limit_heap_goal = {controller.memory_limit_heap_goal()}",
            f"  model sweep_dist_min_trigger = {controller.sweep_dist_min_trigger}",
        ]
    )
    assert model == real, f"{case}: model goal {model} != real {real} ({model - real:+d})\n{shown}"

    # The case is in the regime it is meant to test, and the churn ran the
    # pacer's own cycles besides the three forced ones.
    assert metrics[heapgoal.CYCLES] > metrics[heapgoal.FORCED_CYCLES], shown
    assert inputs.gc_percent == case.gogc and controller.triggered == (1 << 64) - 1
    assert metrics[heapgoal.GOMAXPROCS] == 1
    limit_goal = controller.memory_limit_heap_goal()
    if case.regime == "limit":
        assert real == limit_goal < controller.gc_percent_heap_goal, shown
    elif case.regime == "gogc":
        # By hand, from mgcpacer.go commit: heapMarked + (heapMarked + stack + globals) x GOGC/100.
        base = inputs.heap_marked + inputs.last_stack_scan + inputs.globals_scan
        assert real == inputs.heap_marked + base * case.gogc // 100 < limit_goal, shown
    else:
        assert real == inputs.heap_marked + MiB > controller.gc_percent_heap_goal, shown
