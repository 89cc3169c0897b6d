"""Replay of Go's pacer test harness (TestGcPacer in runtime/mgcpacer_test.go,
go1.24) on the model's pacer. See docs/ARCHITECTURE.md.

Go tests its pacer without a program: a loop feeds gcControllerState
idealised cycles. Each cycle has an allocation rate and a scan rate (KiB
per CPU-ms), a growth rate of the live heap, the scannable fraction of
the heap, and the bytes of stacks. A cycle starts at the pacer's trigger;
then, in steps of 500 us, the utilisation follows from the assist ratio
(u = ratio x alloc / (ratio x alloc + scan), at least 25%), the bytes
scanned (globals first, then stacks, then heap) and allocated in the step
follow from u, and the pacer is told (Revise). When the scan work is
gone, the cycle's row is logged and the pacer is told the cycle ended
(EndCycle: endCycle, resetLive, commit).

replay() runs that loop with the same integer and float steps, in the
same order, so its rows equal the rows Go's test logs:
[cycle, utilisation % (one decimal, as Go prints %.1f), heap marked,
trigger, peak heap live, goal].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gomem.runtime.mgcpacer import BACKGROUND_UTILIZATION, GCControllerState, f2i64, u64

INITIAL_HEAP_BYTES = 256 << 10  # the first cycle's live heap
REVISE_PERIOD = 500_000  # ns between Revise calls
RATE_CONV = 1024 * REVISE_PERIOD / 1_000_000  # KiB/ms to bytes per period: 512.0
MIN_RATE = 0.0001  # minRate: rates are never below it


@dataclass(frozen=True, slots=True)
class Scenario:
    """One test case's inputs, each cycle already drawn from its streams."""

    name: str
    gc_percent: int
    memory_limit: int
    globals_bytes: int
    n_cores: int
    cycles: Sequence[Sequence[float]]  # [alloc, scan, growth, scannable, stack bytes]


def _cycle_inputs(raw: Sequence[float]) -> tuple[float, float, float, float, int]:
    """gcExecTest.next: rates at least minRate, the fraction within [0, 1], stack
    bytes rounded down to a multiple of 2048 (toward zero) and not negative."""
    alloc, scan, growth, frac, stack = (float(v) for v in raw)
    frac = min(max(frac, 0.0), 1.0)
    q = stack / 2048
    stack_q = (math.ceil(q) if q < 0 else math.floor(q)) * 2048.0
    return (
        max(MIN_RATE, alloc),
        max(MIN_RATE, scan),
        max(MIN_RATE, growth),
        frac,
        u64(f2i64(max(0.0, stack_q))),
    )


def replay(sc: Scenario) -> list[list[int | float]]:
    """The rows TestGcPacer logs for this scenario."""
    c = GCControllerState(sc.gc_percent, sc.memory_limit)
    n_cores = sc.n_cores
    rows: list[list[int | float]] = []
    black_last = 0
    for i, raw in enumerate(sc.cycles):
        alloc_rate, scan_rate, growth, frac, stack_bytes = _cycle_inputs(raw)
        # StartCycle: the heap has just reached the trigger.
        trigger = max(c.trigger(), c.heap_marked)
        c.max_stack_scan = stack_bytes
        c.globals_scan = sc.globals_bytes
        c.heap_live = trigger
        c.heap_scan = u64(c.heap_scan + f2i64(float(trigger - c.heap_marked) * frac))
        c.start_cycle(0, n_cores)

        if i == 0:
            next_marked = INITIAL_HEAP_BYTES
        else:
            next_marked = f2i64(float(c.heap_marked - black_last) * growth)
        left = [sc.globals_bytes, stack_bytes, f2i64(float(next_marked) * frac)]

        def do_work(work: int, left: list[int] = left) -> list[int]:
            deltas = [0, 0, 0]
            for k in range(3):  # globals first, then stacks, then heap
                if left[k] == 0:
                    continue
                if left[k] > work:
                    deltas[k] += work
                    left[k] -= work
                    work = 0
                    break
                deltas[k] += left[k]
                work -= left[k]
                left[k] = 0
            return deltas

        gc_duration = assist_time = black = 0
        while left[0] + left[1] + left[2] > 0:
            ratio = c.assist_work_per_byte
            util = ratio * alloc_rate / (ratio * alloc_rate + scan_rate)
            if util < BACKGROUND_UTILIZATION:
                util = BACKGROUND_UTILIZATION
            scanned = f2i64(scan_rate * RATE_CONV * float(n_cores) * util)
            allocated = f2i64(alloc_rate * RATE_CONV * float(n_cores) * (1 - util))
            g_work, s_work, h_work = do_work(scanned)
            elapsed, actual_alloc = REVISE_PERIOD, allocated
            actual = g_work + s_work + h_work
            if actual < scanned:  # the cycle ends inside this period
                elapsed = f2i64(
                    float(actual)
                    * float(REVISE_PERIOD)
                    / (scan_rate * RATE_CONV * float(n_cores) * util)
                )
                actual_alloc = f2i64(
                    alloc_rate
                    * RATE_CONV
                    * float(elapsed)
                    / float(REVISE_PERIOD)
                    * float(n_cores)
                    * (1 - util)
                )
            # Revise.
            c.heap_live = u64(c.heap_live + actual_alloc)
            c.heap_scan = u64(c.heap_scan + f2i64(float(actual_alloc) * frac))
            c.heap_scan_work += h_work
            c.stack_scan_work += s_work
            c.globals_scan_work += g_work
            c.revise()
            assist_time += f2i64(float(elapsed) * float(n_cores) * (util - BACKGROUND_UTILIZATION))
            gc_duration += elapsed
            black += actual_alloc

        utilization = (
            float(assist_time) / (float(gc_duration) * float(n_cores)) + BACKGROUND_UTILIZATION
        )
        rows.append(
            [
                i + 1,
                float(f"{utilization * 100:.1f}"),
                c.heap_marked,
                c.triggered,
                c.heap_live,
                c.heap_goal(),
            ]
        )
        # EndCycle.
        c.assist_time = assist_time
        c.end_cycle(gc_duration, n_cores, False)
        c.reset_live(u64(next_marked + black))
        c.commit(False)
        black_last = black
    return rows


def scenario_from_json(doc: dict) -> Scenario:
    """A Scenario from the test vectors' JSON layout (name, gcPercent, memoryLimit,
    globalsBytes, nCores, cycles); raises ValueError naming a bad field."""
    try:
        name = str(doc["name"])
        cycles = doc["cycles"]
        sc = Scenario(
            name=name,
            gc_percent=int(doc["gcPercent"]),
            memory_limit=int(doc["memoryLimit"]),
            globals_bytes=int(doc["globalsBytes"]),
            n_cores=int(doc["nCores"]),
            cycles=[[float(v) for v in row] for row in cycles],
        )
    except KeyError as err:
        raise ValueError(f"missing field {err.args[0]!r}") from None
    except (TypeError, ValueError) as err:
        raise ValueError(f"bad value: {err}") from None
    if sc.n_cores <= 0:
        raise ValueError("nCores: must be positive")
    for k, row in enumerate(sc.cycles):
        if len(row) != 5:
            raise ValueError(f"cycles[{k}]: want 5 numbers, got {len(row)}")
    length = doc.get("length")
    if length is not None and int(length) != len(sc.cycles):
        raise ValueError(f"length {length} but {len(sc.cycles)} cycles")
    return sc


__all__ = ["Scenario", "replay", "scenario_from_json"]
