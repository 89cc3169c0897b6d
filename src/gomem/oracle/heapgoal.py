"""The heap goal of a real Go program and every input of it, in one reading.

The oracle for the model's pacer goal: a small Go program (shipped as
package data in go/heapgoal/, see its main.go for why the reading is the
pacer's state right after a finished cycle) holds a steady live heap,
churns garbage so that the pacer runs cycles of its own, calls
runtime.GC() three times and then reads, in one runtime/metrics.Read
call, /gc/heap/goal:bytes and the metrics that give the inputs of
gcControllerState.heapGoal (runtime/mgcpacer.go). GOGC and GOMEMLIMIT
are set in the run's environment, and GOMAXPROCS=1 so that no background
scavenge is half done when the goal is read.

Each input and the metric it comes from (runtime/metrics.go):

    gcPercent      /gc/gogc:percent             uint64(gcPercent): 2^64-1 is off (-1)
    memoryLimit    /gc/gomemlimit:bytes         the value itself
    heapMarked     /gc/heap/live:bytes          the value itself
    lastStackScan  /gc/scan/stack:bytes         the value itself
    globalsScan    /gc/scan/globals:bytes       the value itself
    heapFree       /memory/classes/heap/free:bytes
                   committed - inHeap - inStacks - inWorkBufs - inPtrScalarBits
                   of the consistent heap stats; every span allocation, free
                   and scavenge moves it and gcController.heapFree together
                   (mheap.go allocSpan, freeSpanLocked; mgcscavenge.go)
    totalAlloc     /gc/heap/allocs:bytes        moved with gcController.totalAlloc at
                   every mcache refill/release and large allocation (mcache.go)
    totalFree      /gc/heap/frees:bytes         moved with gcController.totalFree by
                   the sweeper (mgcsweep.go)
    mappedReady    /memory/classes/total:bytes - /memory/classes/heap/released:bytes
                   total is committed + released + the non-heap sys stats;
                   readmemstats_m (mstats.go) checks, in Go's own tests, that
                   mappedReady == that total - released

The last three hold exactly what ReadMemStats' double check asserts equal
(mstats.go doubleCheckReadMemStats). No metric gives mappedReady itself;
the difference above is the same sum by that check. The heap stats are a
snapshot and the goal is computed live a moment later, so the route is
exact only while nothing allocates or scavenges in between (see main.go).

What is not an input but is fixed by the moment of the reading: mark
termination set heapLive = heapMarked and then committed with the sweep
not done, so sweepDistMinTrigger = heapMarked + 1 MiB; no cycle is
running, so triggered = ^uint64(0). `goal_inputs` turns a reading into
these inputs, named as the model's GCControllerState names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gomem.oracle import toolchain

__all__ = [
    "GOAL",
    "METRICS",
    "GoalInputs",
    "build",
    "goal_inputs",
    "run",
]


GOAL = "/gc/heap/goal:bytes"
GOGC = "/gc/gogc:percent"
MEMORY_LIMIT = "/gc/gomemlimit:bytes"
HEAP_LIVE = "/gc/heap/live:bytes"
STACK_SCAN = "/gc/scan/stack:bytes"
GLOBALS_SCAN = "/gc/scan/globals:bytes"
HEAP_FREE = "/memory/classes/heap/free:bytes"
HEAP_RELEASED = "/memory/classes/heap/released:bytes"
TOTAL = "/memory/classes/total:bytes"
ALLOCS = "/gc/heap/allocs:bytes"
FREES = "/gc/heap/frees:bytes"
CYCLES = "/gc/cycles/total:gc-cycles"
FORCED_CYCLES = "/gc/cycles/forced:gc-cycles"
GOMAXPROCS = "/sched/gomaxprocs:threads"

# Every metric the program reads (main.go's names), in no particular order.
METRICS = (
    TOTAL,
    HEAP_RELEASED,
    HEAP_FREE,
    ALLOCS,
    FREES,
    GOAL,
    GOGC,
    MEMORY_LIMIT,
    HEAP_LIVE,
    STACK_SCAN,
    GLOBALS_SCAN,
    CYCLES,
    FORCED_CYCLES,
    GOMAXPROCS,
)

MAX_INT64 = (1 << 63) - 1
SWEEP_MIN_HEAP_DISTANCE = 1 << 20  # sweepMinHeapDistance (mgc.go)


@dataclass(frozen=True)
class GoalInputs:
    """The inputs of heapGoal at the reading, as the model's GCControllerState names them."""

    gc_percent: int  # GOGC; -1 when off
    memory_limit: int  # GOMEMLIMIT in bytes; MaxInt64 when off
    heap_marked: int  # bytes marked by the last cycle
    heap_live: int  # heapLive when mark termination committed: heap_marked (resetLive)
    last_stack_scan: int  # stack bytes the last cycle scanned
    globals_scan: int  # bytes of data and bss
    heap_free: int  # free heap pages still backed by the OS
    total_alloc: int  # bytes ever allocated
    total_free: int  # bytes ever freed
    mapped_ready: int  # bytes in the Ready state (mem.go)
    sweep_done: bool  # isSweepDone() at the last commit: False, mark termination's

    @property
    def sweep_dist_min_trigger(self) -> int:
        """What that commit left in sweepDistMinTrigger."""
        return 0 if self.sweep_done else self.heap_live + SWEEP_MIN_HEAP_DISTANCE


def goal_inputs(metrics: Mapping[str, int]) -> GoalInputs:
    """The pacer's inputs from one reading of the program (see the module docstring)."""
    gogc = metrics[GOGC]
    return GoalInputs(
        gc_percent=gogc - (1 << 64) if gogc > MAX_INT64 else gogc,  # back to int32
        memory_limit=metrics[MEMORY_LIMIT],
        heap_marked=metrics[HEAP_LIVE],
        heap_live=metrics[HEAP_LIVE],
        last_stack_scan=metrics[STACK_SCAN],
        globals_scan=metrics[GLOBALS_SCAN],
        heap_free=metrics[HEAP_FREE],
        total_alloc=metrics[ALLOCS],
        total_free=metrics[FREES],
        mapped_ready=metrics[TOTAL] - metrics[HEAP_RELEASED],
        sweep_done=False,
    )


def build(gocache: Path, workdir: Path) -> Path:
    """Copy the Go program into workdir and build it there; return the binary."""
    return toolchain.build_packaged("heapgoal", gocache, workdir)


def run(
    binary: Path,
    live_bytes: int,
    gogc: int,
    memlimit: int | None = None,
    *,
    churn: int = 4,
    gomaxprocs: int = 1,
    timeout: float = 60,
) -> dict[str, int]:
    """Run the program once: LIVE_BYTES held, GOGC=gogc (negative: off), GOMEMLIMIT=memlimit
    bytes (None: off), `churn` x live_bytes of garbage. Returns metric name -> value.

    GOMAXPROCS is 1 unless asked otherwise: with more Ps a background scavenge
    can be half done at the reading, and the real goal is then off by its bytes
    (main.go says why).
    """
    env = {
        "GOGC": str(gogc) if gogc >= 0 else "off",
        "GOMEMLIMIT": str(memlimit) if memlimit is not None else "off",
        "GOMAXPROCS": str(gomaxprocs),
    }
    args = ("-live", str(live_bytes), "-churn", str(churn))
    what = f"heapgoal live={live_bytes} GOGC={env['GOGC']} GOMEMLIMIT={env['GOMEMLIMIT']}"

    def read(raw: dict[str, Any]) -> dict[str, int]:
        out = {name: int(raw[name]) for name in METRICS}
        ran = (raw["live"], raw["churn"], out[GOMAXPROCS])
        if ran != (live_bytes, churn, gomaxprocs):
            raise ValueError(f"the program ran with (live, churn, GOMAXPROCS) = {ran}")
        return out

    out, _ = toolchain.run_json(binary, *args, what=what, read=read, env=env, timeout=timeout)
    return out
