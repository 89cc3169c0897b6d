"""Random valid traces under every allocator configuration: check mode finds
nothing wrong, and the reported utilisation equals an independent replay.

A trace is valid as the malloc lab's are: ids allocated once, reallocs and
frees only of live ids, every block freed at the end; sizes 1..5000 bytes.
The expected figures never come from the driver: the peak live payload is
summed here from the ops, and the heap size is the process's break at the
end minus the break before the allocator was built.
"""

from __future__ import annotations

import io
from typing import NamedTuple

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gomem import testing
from gomem.classic.allocator import Allocator
from gomem.classic.driver import Factory, HeapAllocator, make_factory, run_trace
from gomem.classic.gen import generate
from gomem.classic.trace import write_trace
from gomem.machine import Process


class Op(NamedTuple):
    kind: str
    id: int
    size: int


MAX_OPS = 60


@st.composite
def traces(draw: st.DrawFn) -> list[Op]:
    """A valid trace of at most MAX_OPS ops, final frees included."""
    # Lists drawn directly are mostly a handful of ops long; draw the length
    # first so that long traces (many live blocks, reuse, growth) are common.
    n = draw(st.integers(1, MAX_OPS - 1))
    step = st.tuples(
        st.sampled_from("afr"),
        st.integers(0, 1 << 16),  # which live id, modulo their number
        st.one_of(st.integers(1, 64), st.integers(1, 5000)),  # small ones often
    )
    steps = draw(st.lists(step, min_size=n, max_size=n))
    ops: list[Op] = []
    live: list[int] = []
    next_id = 0
    for kind, pick, size in steps:
        if kind != "a" and not live:
            kind = "a"
        if kind == "a":
            if len(ops) + len(live) + 2 > MAX_OPS:  # itself and its final free
                continue
            ops.append(Op("a", next_id, size))
            live.append(next_id)
            next_id += 1
        elif len(ops) + len(live) + 1 > MAX_OPS:
            continue
        elif kind == "r":
            ops.append(Op("r", live[pick % len(live)], size))
        else:
            ops.append(Op("f", live.pop(pick % len(live)), 0))
    for ident in draw(st.permutations(live)):
        ops.append(Op("f", ident, 0))
    return ops


def replay_peak(trace: list[Op]) -> int:
    """The largest sum of live requested sizes at any point of the trace."""
    live: dict[int, int] = {}
    payload = peak = 0
    for op in trace:
        if op.kind == "f":
            payload -= live.pop(op.id)
        else:
            payload += op.size - live.get(op.id, 0)
            live[op.id] = op.size
        peak = max(peak, payload)
    assert not live, "the trace frees everything"
    return peak


@settings(max_examples=50)
@given(trace=traces())
def test_the_random_traces_are_valid_malloc_lab_traces(trace: list[Op]) -> None:
    # The trace writer checks ids as the lab's reader does (ValueError otherwise).
    num_ids = sum(op.kind == "a" for op in trace)
    write_trace(trace, io.StringIO(), num_ids=num_ids)
    assert [op.id for op in trace if op.kind == "a"] == list(range(num_ids))
    assert 2 <= len(trace) <= MAX_OPS
    assert all(1 <= op.size <= 5000 for op in trace if op.kind != "f")
    assert replay_peak(trace) >= 1  # and every block is freed by the end


class Built(NamedTuple):
    start: int  # the break before the allocator was built: the heap's start
    process: Process
    allocator: HeapAllocator


def recording(make: Factory, built: list[Built], limit: int = 2_000_000) -> Factory:
    """make, keeping what it built; the process's word loads are bounded, so
    an allocator that loops forever fails instead of hanging the suite."""

    def factory(p: Process) -> HeapAllocator:
        testing.bound_reads(p, ("load32", "load64"), limit)
        start = p.sbrk(0)
        a = make(p)
        built.append(Built(start, p, a))
        return a

    return factory


def run_and_verify(trace: list[Op], make: Factory) -> None:
    built: list[Built] = []
    r = run_trace(trace, recording(make, built), check=True)
    (b,) = built
    heap_bytes = b.process.sbrk(0) - b.start
    peak = replay_peak(trace)
    assert r.ops == len(trace)
    assert r.peak_payload == peak
    assert r.heap_bytes == heap_bytes
    assert r.util == peak / heap_bytes
    # Everything was freed: no block is allocated, no internal fragmentation.
    assert r.internal[-1] == 0
    a = b.allocator
    assert not any(allocated for _, _, allocated in a.blocks())
    if isinstance(a, Allocator):
        # All blocks free: together they span the first block's payload to the
        # break (header of the first block to the epilogue header).
        assert a.free_bytes == a.heap.hi - a.first
        if a.config.coalesce == "immediate":  # ... and they are one block
            assert list(a.blocks()) == [(a.first, a.heap.hi - a.first, False)]


def configurations() -> list[tuple[str, tuple[str, str], dict[str, object]]]:
    """(id, (lists, policy), options) of every valid boundary-tag configuration."""
    out = []
    for organization in ("implicit", "explicit", "segregated"):
        for policy in ("first", "next", "best", "worst"):
            if organization == "segregated" and policy == "next":
                continue  # refused by Config
            for coalesce in ("immediate", "deferred"):
                # insertion order means nothing without free lists
                for insertion in ("lifo",) if organization == "implicit" else ("lifo", "address"):
                    name = f"{organization}-{policy}-{coalesce}"
                    if organization != "implicit":
                        name += f"-{insertion}"
                    options = {"coalesce": coalesce, "insertion": insertion}
                    out.append((name, (organization, policy), options))
    # a few more: 4-byte words and 8-byte alignment, copying realloc
    out.append(("explicit-first-4-8", ("explicit", "first"), {"word": 4, "align": 8}))
    out.append(("segregated-best-4-8", ("segregated", "best"), {"word": 4, "align": 8}))
    out.append(("explicit-first-copy", ("explicit", "first"), {"realloc": "copy"}))
    return out


# Regression (fixed in 84efc98), found by hand in tests/classic/test_allocator.py:
# x and y of 64 bytes, y freed (implicit next fit's rover is on y), x
# realloc'd over y in place, then a malloc; the rover was left inside x and
# the malloc parsed payload as a header (SegmentationFault in check mode).
REALLOC_OVER_ROVER = [
    Op("a", 0, 48),
    Op("a", 1, 48),
    Op("f", 1, 0),
    Op("r", 0, 100),
    Op("a", 2, 16),
    Op("f", 0, 0),
    Op("f", 2, 0),
]

FACTORIES = [
    pytest.param(make_factory(*args, **options), id=name)
    for name, args, options in configurations()
] + [
    pytest.param(make_factory("simple-segregated"), id="simple-segregated"),
    pytest.param(make_factory(preset="csapp"), id="csapp"),
]


@pytest.mark.parametrize("make", FACTORIES)
@settings(max_examples=15)
@given(trace=traces())
@example(trace=REALLOC_OVER_ROVER)
def test_random_traces_pass_check_mode_and_utilisation_replays(
    make: Factory, trace: list[Op]
) -> None:
    run_and_verify(trace, make)


@pytest.mark.parametrize("kind", ["random", "binary", "coalesce", "realloc"])
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(make_factory(*args, **options), id=name)
        for name, args, options in configurations()
    ]
    + [
        pytest.param(make_factory("simple-segregated"), id="simple-segregated"),
        pytest.param(make_factory(preset="csapp"), id="csapp"),
    ],
)
def test_generated_traces_pass_check_mode_and_utilisation_replays(make: Factory, kind: str) -> None:
    trace = [Op(*op) for op in generate(kind, ops=120, seed=11)]
    run_and_verify(trace, make)
