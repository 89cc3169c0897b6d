"""Run a trace against an allocator and measure it, as the malloc-lab driver does.

Models mdriver.c of the CS:APP malloc lab: every trace runs on a fresh heap
(here: a fresh simulated process); the figures are

    utilisation = peak aggregate live payload / heap size at the end
                  (the heap never shrinks, so the end is its maximum)
    throughput  = operations per second of wall-clock time, in Kops/s

plus two series the lab does not print: internal fragmentation (bytes of
allocated blocks minus live payload) after every operation, and external
fragmentation (the free bytes that existed when a request found no fit and
the heap had to grow).

In check mode the driver also does what mdriver's validity run does: every
payload is aligned, inside the heap and overlaps no other; every live
block's bytes carry a pattern written at malloc/realloc time and still
there; and the allocator's own checker runs after every operation.
Throughput is the only wall-clock figure; everything else replays exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from gomem.machine import Machine, Process

from .allocator import CSAPP, Allocator, Config, HeapCorruption
from .heap import Heap
from .simple import SimpleSegregated

LISTS = ("implicit", "explicit", "segregated", "simple-segregated")


class TraceOp(Protocol):
    @property
    def kind(self) -> str: ...  # "a", "r" or "f"
    @property
    def id(self) -> int: ...
    @property
    def size(self) -> int: ...


class HeapAllocator(Protocol):
    heap: Heap
    free_bytes: int
    grows: int

    def malloc(self, size: int) -> int: ...
    def free(self, bp: int) -> None: ...
    def realloc(self, bp: int, size: int) -> int: ...
    def block_size(self, bp: int) -> int: ...
    def check(self) -> None: ...
    def blocks(self) -> Iterator[tuple[int, int, bool]]: ...
    def free_lists(self) -> list[list[int]]: ...


Factory = Callable[[Process], HeapAllocator]


def allocator_name(
    lists: str = "explicit", policy: str = "first", preset: str | None = None
) -> str:
    """How tables name an allocator: the preset, simple-segregated, or list-policy."""
    if preset is not None:
        return preset
    return lists if lists == "simple-segregated" else f"{lists}-{policy}"


def make_factory(
    lists: str = "explicit", policy: str = "first", *, preset: str | None = None, **options: Any
) -> Factory:
    """A function that builds the chosen allocator on a process; ValueError if invalid."""
    if preset is not None:
        if preset != "csapp":
            raise ValueError(f"unknown preset {preset!r} (known: csapp)")
        config = CSAPP
        return lambda p: Allocator(p, config)
    if lists == "simple-segregated":
        if policy != "first":
            raise ValueError(
                "simple-segregated storage always takes the head of its class list; "
                "use --policy first"
            )
        return lambda p: SimpleSegregated(p)
    if lists not in LISTS:
        raise ValueError(f"list must be one of {', '.join(LISTS)}, got {lists!r}")
    config = Config(organization=lists, policy=policy, **options)
    return lambda p: Allocator(p, config)


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one trace did to one allocator."""

    trace: str  # the trace's name
    ops: int  # operations run
    peak_payload: int  # largest aggregate live payload at any time, bytes
    heap_bytes: int  # heap size at the end (brk - heap start), bytes
    seconds: float  # wall-clock time of the operations (the only non-replayable figure)
    internal: tuple[int, ...]  # internal fragmentation after each op, bytes
    external: tuple[tuple[int, int], ...]  # (op index, free bytes) whenever the heap grew

    @property
    def util(self) -> float:
        return self.peak_payload / self.heap_bytes if self.heap_bytes else 0.0

    @property
    def kops(self) -> float:
        return self.ops / self.seconds / 1000 if self.seconds > 0 else 0.0


class TraceFailure(Exception):
    """The allocator broke the contract on a trace (bad payload, corrupted heap)."""


def _pattern(ident: int, size: int) -> bytes:
    unit = ident.to_bytes(4, "little") + b"gm\xa5\x5a"
    return (unit * (size // 8 + 1))[:size]


def run_trace(
    ops: Iterable[TraceOp],
    factory: Factory,
    *,
    name: str = "trace",
    check: bool = False,
    observe: Callable[[int, HeapAllocator], None] | None = None,
) -> RunResult:
    """Replay ops on a fresh process with a new allocator; measure as mdriver does.

    observe(n, allocator), if given, runs after the n-th operation (n from 1).
    """
    process = Machine().spawn("mdriver")
    a = factory(process)
    live: dict[int, tuple[int, int]] = {}  # id -> (payload address, requested size)
    payload = peak = block_bytes = 0
    internal: list[int] = []
    external: list[tuple[int, int]] = []
    malloc, free, realloc, block_size = a.malloc, a.free, a.realloc, a.block_size
    n = 0
    start = time.perf_counter()
    for n, op in enumerate(ops, 1):  # noqa: B007 - n is the op count after the loop
        grows, free_before = a.grows, a.free_bytes
        kind = op.kind
        if kind == "a":
            bp = malloc(op.size)
            if not bp and op.size:
                raise TraceFailure(f"{name}: op {n}: malloc({op.size}) returned NULL")
            live[op.id] = (bp, op.size)
            payload += op.size
            block_bytes += block_size(bp) if bp else 0
        elif kind == "r":
            old_bp, old_size = live[op.id]
            block_bytes -= block_size(old_bp) if old_bp else 0
            bp = realloc(old_bp, op.size)
            if not bp and op.size:
                raise TraceFailure(f"{name}: op {n}: realloc(.., {op.size}) returned NULL")
            if check:
                keep = min(old_size, op.size)
                if a.heap.read(bp, keep) != _pattern(op.id, old_size)[:keep]:
                    raise TraceFailure(f"{name}: op {n}: realloc lost the payload of id {op.id}")
            live[op.id] = (bp, op.size)
            payload += op.size - old_size
            block_bytes += block_size(bp) if bp else 0
        else:
            bp, old_size = live.pop(op.id)
            block_bytes -= block_size(bp) if bp else 0
            free(bp)
            payload -= old_size
        peak = max(peak, payload)
        internal.append(block_bytes - payload)
        if a.grows != grows:
            external.append((n, free_before))
        if check:
            if kind != "f" and op.size:
                a.heap.write(live[op.id][0], _pattern(op.id, op.size))
            _validate(a, live, name, n)
        if observe is not None:
            observe(n, a)
    seconds = time.perf_counter() - start
    return RunResult(name, n, peak, a.heap.size, seconds, tuple(internal), tuple(external))


def _validate(a: HeapAllocator, live: dict[int, tuple[int, int]], name: str, n: int) -> None:
    try:
        a.check()
    except HeapCorruption as err:
        raise TraceFailure(f"{name}: op {n}: {err}") from None
    lo, hi = a.heap.lo, a.heap.hi
    end = lo
    for bp, size, ident in sorted((bp, size, i) for i, (bp, size) in live.items() if bp):
        if bp % 8 or bp < end or bp + size > hi:
            raise TraceFailure(f"{name}: op {n}: payload of id {ident} at {bp:#x} is misplaced")
        if a.heap.read(bp, size) != _pattern(ident, size):
            raise TraceFailure(f"{name}: op {n}: payload of id {ident} was overwritten")
        end = bp + size
