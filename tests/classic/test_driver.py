"""The malloc-lab driver: utilisation, internal and external fragmentation
worked out by hand, check mode catching broken allocators, and make_factory.

Hand calculations use the allocators' rules:
    CS:APP preset: heap = 16 bytes of mm_init + 4096, grown by max(asize, 4096);
        asize = 16 if size <= 8, else 8 * ((size + 15) // 8)
    default Config (explicit, 8-byte words, 16-byte alignment): heap = 32 + 4096,
        asize = max(32, round_up(size + 16, 16))
    simple segregated: a 4096-byte run per class, whole pages above 2048 bytes
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import pytest

from gomem.classic.allocator import CSAPP, Allocator, Config, HeapCorruption
from gomem.classic.driver import RunResult, TraceFailure, make_factory, run_trace
from gomem.classic.heap import Heap
from gomem.classic.simple import SimpleSegregated
from gomem.machine import Machine, Process


class Op(NamedTuple):
    kind: str
    id: int
    size: int


def ops(*spec: tuple[str, int, int]) -> list[Op]:
    return [Op(*s) for s in spec]


CSAPP_F = make_factory(preset="csapp")
EXPLICIT_F = make_factory()
SIMPLE_F = make_factory("simple-segregated")

# ---------------------------------------------------------------------------
# Utilisation
# ---------------------------------------------------------------------------

UTIL_TRACE = ops(("a", 0, 3000), ("a", 1, 2000), ("f", 0, 0), ("a", 2, 100), ("f", 1, 0))
# Live payload: 3000, 5000, 2000, 2100, 100 -> peak 5000.
UTIL_PEAK = 5000


@pytest.mark.parametrize(
    ("factory", "heap_bytes"),
    [
        # CS:APP: 4112 at init; 3000 -> 3008 leaves 1088 free; 2000 -> 2008 > 1088:
        # grow by max(2008, 4096) = 4096; 100 -> 112 fits where 3000 was.
        # 4112 + 4096 = 8208
        pytest.param(CSAPP_F, 8208, id="csapp"),
        # explicit: 4128 at init; 3000 -> 3024 leaves 1072; 2000 -> 2016 > 1072:
        # grow by 4096; 100 -> 128 fits. 4128 + 4096 = 8224
        pytest.param(EXPLICIT_F, 8224, id="explicit"),
        # simple: 3000 -> one large page; 2000 -> a 2048-class run; 100 -> a
        # 128-class run (the freed large page is not reused for a small class).
        # 3 * 4096 = 12288
        pytest.param(SIMPLE_F, 12288, id="simple-segregated"),
    ],
)
@pytest.mark.parametrize("check", [False, True], ids=["plain", "check"])
def test_utilisation_is_peak_payload_over_the_final_heap_size(
    factory: object, heap_bytes: int, check: bool
) -> None:
    r = run_trace(UTIL_TRACE, factory, name="util", check=check)  # type: ignore[arg-type]
    assert (r.trace, r.ops) == ("util", 5)
    assert r.peak_payload == UTIL_PEAK
    assert r.heap_bytes == heap_bytes
    assert r.util == UTIL_PEAK / heap_bytes


def test_a_realloc_counts_its_new_size_in_the_live_payload() -> None:
    # 100, then realloc to 4000 (+3900), then a 50: 100, 4000, 4050 -> peak 4050;
    # realloc down to 10: 60, frees: 50, 0.
    trace = ops(("a", 0, 100), ("r", 0, 4000), ("a", 1, 50), ("r", 0, 10), ("f", 0, 0))
    assert run_trace(trace, CSAPP_F).peak_payload == 4050


def test_utilisation_of_an_empty_heap_is_zero() -> None:
    r = RunResult("t", 0, 0, 0, 0.0, (), ())
    assert r.util == 0.0 and r.kops == 0.0


# ---------------------------------------------------------------------------
# Internal and external fragmentation
# ---------------------------------------------------------------------------

FRAG_TRACE = ops(
    ("a", 0, 1),
    ("a", 1, 9),
    ("r", 0, 20),
    ("f", 1, 0),
    ("a", 2, 17),
    ("f", 0, 0),
    ("f", 2, 0),
)


@pytest.mark.parametrize(
    ("factory", "series"),
    [
        # CS:APP (block - payload, over the live blocks):
        #   a0 1  -> block 16 at 16:                  16 - 1 = 15
        #   a1 9  -> block 24 at 32:                  15 + (24 - 9) = 30
        #   r0 20 -> moves to a 32 block at 56:       (32 - 20) + 15 = 27
        #            (the old 16 at 16 is freed)
        #   f1    -> 24 at 32 merges with 16 at 16:   12
        #   a2 17 -> 32 fits the 40 at 16; rest 8 < 16: whole 40: 12 + 23 = 35
        #   f0    -> 23;  f2 -> 0
        pytest.param(CSAPP_F, (15, 30, 27, 12, 35, 23, 0), id="csapp"),
        # simple segregated (no header): 1 -> 16: 15; 9 -> 16: +7 = 22;
        #   20 -> 32: 12 + 7 = 19; f1: 12; 17 -> 32: 12 + 15 = 27; f0: 15; f2: 0
        pytest.param(SIMPLE_F, (15, 22, 19, 12, 27, 15, 0), id="simple-segregated"),
    ],
)
def test_internal_fragmentation_is_block_bytes_minus_live_payload_after_each_op(
    factory: object, series: tuple[int, ...]
) -> None:
    r = run_trace(FRAG_TRACE, factory, check=True)  # type: ignore[arg-type]
    assert r.internal == series


GROW_TRACE = ops(
    ("a", 0, 4000), ("a", 1, 100), ("a", 2, 5000), ("f", 0, 0), ("f", 1, 0), ("f", 2, 0)
)


@pytest.mark.parametrize(
    ("factory", "external", "heap_bytes"),
    [
        # CS:APP: 4000 -> 4008 fits the 4096 (88 left); 100 -> 112 > 88: grows
        # with 88 free (op 2), extension merged: 88 + 4096 - 112 = 4072 left;
        # 5000 -> 5008 > 4072: grows with 4072 free (op 3).
        # Heap: 4112 + 4096 + 5008 = 13216
        pytest.param(CSAPP_F, ((2, 88), (3, 4072)), 13216, id="csapp"),
        # simple: 4000 -> a fresh page (0 free); 100 -> a fresh 128-class run
        # (0 free before); 5000 -> two fresh pages, with 4096 - 128 = 3968 free
        # in the 128-class run. Heap: 4 * 4096 = 16384
        pytest.param(SIMPLE_F, ((1, 0), (2, 0), (3, 3968)), 16384, id="simple-segregated"),
    ],
)
def test_external_fragmentation_records_the_free_bytes_whenever_the_heap_grew(
    factory: object, external: tuple[tuple[int, int], ...], heap_bytes: int
) -> None:
    r = run_trace(GROW_TRACE, factory, check=True)  # type: ignore[arg-type]
    assert r.external == external
    assert r.heap_bytes == heap_bytes


# ---------------------------------------------------------------------------
# Check mode against broken allocators
# ---------------------------------------------------------------------------


class Wrapper:
    """A CS:APP allocator passed through; subclasses break one thing."""

    def __init__(self, p: Process) -> None:
        self.inner = Allocator(p, CSAPP)
        self.heap: Heap = self.inner.heap

    @property
    def free_bytes(self) -> int:
        return self.inner.free_bytes

    @property
    def grows(self) -> int:
        return self.inner.grows

    def malloc(self, size: int) -> int:
        return self.inner.malloc(size)

    def free(self, bp: int) -> None:
        self.inner.free(bp)

    def realloc(self, bp: int, size: int) -> int:
        return self.inner.realloc(bp, size)

    def block_size(self, bp: int) -> int:
        return self.inner.block_size(bp)

    def check(self) -> None:
        self.inner.check()

    def blocks(self) -> Iterator[tuple[int, int, bool]]:
        return self.inner.blocks()

    def free_lists(self) -> list[list[int]]:
        return self.inner.free_lists()


class SameAddressTwice(Wrapper):
    """Every malloc returns the first address it ever returned."""

    first = 0

    def malloc(self, size: int) -> int:
        bp = self.inner.malloc(size)
        self.first = self.first or bp
        return self.first


class Misaligned(Wrapper):
    """Payloads 4 bytes into their block: aligned to 4, not 8."""

    def malloc(self, size: int) -> int:
        return self.inner.malloc(size + 4) + 4

    def block_size(self, bp: int) -> int:
        return self.inner.block_size(bp - 4)


class PastTheBreak(Wrapper):
    """Payloads at the break: outside the heap."""

    def malloc(self, size: int) -> int:
        self.inner.malloc(size)
        return self.heap.hi


class ClobbersNeighbour(Wrapper):
    """free zeroes the first 8 bytes after the freed block: the next payload."""

    def free(self, bp: int) -> None:
        end = bp + self.inner.block_size(bp)
        self.inner.free(bp)
        self.heap.write(end, bytes(8))


class ForgetfulRealloc(Wrapper):
    """realloc moves without copying."""

    def realloc(self, bp: int, size: int) -> int:
        new = self.inner.malloc(size)
        self.inner.free(bp)
        return new


class BreaksEpilogue(Wrapper):
    """free damages the epilogue header; the allocator's own checker notices."""

    def free(self, bp: int) -> None:
        self.inner.free(bp)
        self.heap.put(self.heap.hi - 4, 0)


BROKEN = [
    # (allocator, trace, message naming the op that broke the contract)
    pytest.param(
        SameAddressTwice,
        ops(("a", 0, 16), ("a", 1, 16)),
        # id 1's pattern lands on id 0's bytes; either symptom names op 2
        r"op 2: payload of id \d (was overwritten|at .* misplaced)",
        id="overlapping-payloads",
    ),
    pytest.param(
        Misaligned, ops(("a", 0, 16)), r"op 1: payload of id 0 .* misplaced", id="misaligned"
    ),
    pytest.param(
        PastTheBreak, ops(("a", 0, 16)), r"op 1: payload of id 0 .* misplaced", id="outside-heap"
    ),
    pytest.param(
        ClobbersNeighbour,
        ops(("a", 0, 8), ("a", 1, 8), ("f", 0, 0)),
        r"op 3: payload of id 1 was overwritten",
        id="overwrites-a-live-payload",
    ),
    pytest.param(
        ForgetfulRealloc,
        ops(("a", 0, 100), ("r", 0, 200)),
        r"op 2: realloc lost the payload of id 0",
        id="realloc-without-copy",
    ),
    pytest.param(
        BreaksEpilogue,
        ops(("a", 0, 8), ("f", 0, 0)),
        r"op 2: check: epilogue .* damaged",
        id="heap-checker-fails",
    ),
]


@pytest.mark.parametrize(("broken", "trace", "message"), BROKEN)
def test_check_mode_catches_an_allocator_that_breaks_the_contract(
    broken: type[Wrapper], trace: list[Op], message: str
) -> None:
    run_trace(trace, broken)  # without check mode nothing notices
    with pytest.raises(TraceFailure, match=message):
        run_trace(trace, broken, check=True)


def test_the_unbroken_wrapper_passes_check_mode() -> None:
    # The same traces through the pass-through wrapper: the failures above
    # come from the breakage, not from the wrapper.
    for param in BROKEN:
        run_trace(param.values[1], Wrapper, check=True)  # type: ignore[arg-type]


def test_check_mode_turns_heap_corruption_into_a_trace_failure_naming_the_trace() -> None:
    class Corrupt(Wrapper):
        def check(self) -> None:
            raise HeapCorruption("check: invented")

    with pytest.raises(TraceFailure, match=r"^mytrace: op 1: check: invented$"):
        run_trace(ops(("a", 0, 1)), Corrupt, name="mytrace", check=True)


# A request of 0 bytes is a valid op of a .rep trace (gomem.classic.trace
# accepts "a 0 0" and "r 0 0"); malloc(0) returns NULL and realloc(p, 0)
# frees p and returns NULL. The driver accounts for them as 0-byte blocks.
# (Regression: before 84efc98 run_trace called block_size(0) and crashed
# with SegmentationFault or KeyError.)
ZERO_SIZE = [
    # a0 0: NULL, nothing live; f0: free(NULL)
    pytest.param(CSAPP_F, ops(("a", 0, 0), ("f", 0, 0)), 0, (0, 0), id="malloc-0-csapp"),
    pytest.param(SIMPLE_F, ops(("a", 0, 0), ("f", 0, 0)), 0, (0, 0), id="malloc-0-simple"),
    # a0 10: CS:APP block 8 * ((10 + 15) // 8) = 24: 24 - 10 = 14; r0 0: freed: 0; f0: 0
    pytest.param(
        CSAPP_F,
        ops(("a", 0, 10), ("r", 0, 0), ("f", 0, 0)),
        10,
        (14, 0, 0),
        id="realloc-to-0-csapp",
    ),
    # a0 10: the 16-byte class: 6; then 0, 0
    pytest.param(
        SIMPLE_F,
        ops(("a", 0, 10), ("r", 0, 0), ("f", 0, 0)),
        10,
        (6, 0, 0),
        id="realloc-to-0-simple",
    ),
]


@pytest.mark.parametrize(("factory", "trace", "peak", "internal"), ZERO_SIZE)
def test_a_zero_byte_request_counts_as_a_null_block(
    factory: object, trace: list[Op], peak: int, internal: tuple[int, ...]
) -> None:
    r = run_trace(trace, factory, check=True)  # type: ignore[arg-type]
    assert r.peak_payload == peak
    assert r.internal == internal


class NullMalloc(Wrapper):
    """malloc returns NULL for a real request."""

    def malloc(self, size: int) -> int:
        return 0


def test_a_null_for_a_real_request_is_a_trace_failure() -> None:
    with pytest.raises(TraceFailure, match=r"op 1: malloc\(16\) returned NULL"):
        run_trace(ops(("a", 0, 16)), NullMalloc)


# ---------------------------------------------------------------------------
# make_factory
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        pytest.param((), {"preset": "glibc"}, "unknown preset", id="unknown-preset"),
        pytest.param(("simple-segregated", "best"), {}, "policy first", id="simple-best"),
        pytest.param(("simple-segregated", "next"), {}, "policy first", id="simple-next"),
        pytest.param(("simple-segregated", "worst"), {}, "policy first", id="simple-worst"),
        pytest.param(("buddy",), {}, "list must be one of", id="unknown-list"),
        pytest.param(("segregated", "next"), {}, "next fit", id="next-with-segregated"),
        pytest.param(("explicit", "random"), {}, "policy must be one of", id="unknown-policy"),
        pytest.param(("explicit",), {"word": 3}, "word must be 4 or 8", id="bad-option"),
    ],
)
def test_make_factory_refuses_what_it_cannot_build(
    args: tuple[str, ...], options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_factory(*args, **options)  # at once, before any process exists


def test_make_factory_builds_the_chosen_allocator() -> None:
    def build(*args: str, **options: object) -> object:
        return make_factory(*args, **options)(Machine().spawn("t"))

    csapp = build(preset="csapp")
    assert isinstance(csapp, Allocator) and csapp.config == CSAPP
    assert isinstance(build("simple-segregated"), SimpleSegregated)
    seg = build("segregated", "best", insertion="address", coalesce="deferred")
    assert isinstance(seg, Allocator)
    assert seg.config == Config(
        organization="segregated", policy="best", insertion="address", coalesce="deferred"
    )
    assert build().config == Config()  # type: ignore[attr-defined]
