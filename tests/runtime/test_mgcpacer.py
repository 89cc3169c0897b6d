"""The plain controller behind Go's pacer call points (mgcpacer.go's interface).

Expected values are the plain controller's formulas, computed by hand:
goal = marked x (1 + GOGC/100) with a 4 MiB x GOGC/100 floor; trigger at
45/64 of the way from heap marked to the goal; 25% of GOMAXPROCS as
dedicated workers (rounded) plus a fractional share.
"""

from __future__ import annotations

import pytest

from gomem.runtime.mgcpacer import MAX_UINT64, GCControllerState

MiB = 1 << 20


@pytest.mark.parametrize(
    ("gogc", "marked", "goal"),
    [
        (100, 0, 4 * MiB),  # the floor: 4 MiB x 100/100
        (100, 10 * MiB, 20 * MiB),
        (200, 10 * MiB, 30 * MiB),
        (50, 1 * MiB, 2 * MiB),  # floor 4 MiB x 50/100 = 2 MiB beats 1.5 MiB
        (-1, 10 * MiB, MAX_UINT64),  # off
    ],
)
def test_heap_goal(gogc: int, marked: int, goal: int) -> None:
    c = GCControllerState()
    c.set_gc_percent(gogc)
    c.end_cycle(marked)
    assert c.heap_goal() == goal


def test_trigger_is_45_64_of_the_runway_and_commit_refreshes_it() -> None:
    c = GCControllerState()
    c.end_cycle(10 * MiB)  # goal 20 MiB: runway 10 MiB
    assert c.trigger() == 10 * MiB + 10 * MiB * 45 // 64
    c.set_gc_percent(-1)
    assert c.trigger() == MAX_UINT64


def test_revise_spreads_the_scan_work_over_the_heap_left() -> None:
    c = GCControllerState()
    c.heap_live, c.heap_scan = 1 * MiB, 3 * MiB
    c.start_cycle(0, 1)  # goal 4 MiB: 3 MiB of heap left for 3 MiB of scan work
    assert c.assist_work_per_byte == pytest.approx(1.0)


def test_during_mark_update_revises_and_heap_scan_waits_for_the_next_cycle() -> None:
    # Go's update: while blackening, heapScan is fixed (its value at cycle start) and
    # revise() runs; outside a cycle the allocator's scan bytes add up.
    c = GCControllerState()
    c.heap_live, c.heap_scan = 1 * MiB, 3 * MiB
    c.start_cycle(0, 1)
    c.update(1 * MiB, 5 * MiB)  # 1 MiB more live: 2 MiB left before the 4 MiB goal
    assert c.heap_scan == 3 * MiB
    assert c.assist_work_per_byte == pytest.approx(3 / 2)
    c.end_cycle(2 * MiB, scan_work=1 * MiB)  # resetLive: heapScan = the cycle's scan work
    assert (c.heap_live, c.heap_scan, c.marking) == (2 * MiB, 1 * MiB, False)
    c.update(0, 64)
    assert c.heap_scan == 1 * MiB + 64
