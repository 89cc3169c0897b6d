"""A malloc-lab trace replayed on Go's allocator (`gomem malloc run --policy go`).

Each `a id size` is mallocgc(size) of pointer-free memory (a trace has no
types), each `f id` an explicit free (free_object: what a sweep does to a
dead object), and each `r id size` what a Go program does to grow or
shrink a buffer: a new allocation, a copy of the kept bytes, and the old
object freed.

Utilisation is peak live payload / peak HeapInuse. malloc-lab divides by
the final heap size because a brk heap never shrinks; Go's heap gives
spans back to the page heap, so its footprint is measured at its peak.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from gomem.classic.driver import TraceFailure, TraceOp
from gomem.runtime.mem_linux import RuntimeThrow
from gomem.runtime.runtime import Runtime

UTILISATION = "peak live payload / peak HeapInuse"


@dataclass(frozen=True, slots=True)
class GoRunResult:
    trace: str
    ops: int
    peak_payload: int  # largest aggregate live payload, bytes
    peak_heap_inuse: int  # largest HeapInuse, bytes
    seconds: float

    @property
    def util(self) -> float:
        return self.peak_payload / self.peak_heap_inuse if self.peak_heap_inuse else 0.0

    @property
    def kops(self) -> float:
        return self.ops / self.seconds / 1000 if self.seconds > 0 else 0.0


def _pattern(ident: int, size: int) -> bytes:
    unit = ident.to_bytes(4, "little") + b"go\xa5\x5a"
    return (unit * (size // 8 + 1))[:size]


def run_trace_go(
    ops: Iterable[TraceOp], *, name: str = "trace", check: bool = False
) -> GoRunResult:
    """Replay ops on a fresh Go runtime; with check, verify payloads and invariants."""
    rt = Runtime()
    malloc, free = rt.mallocgc, rt.free_object
    inuse = rt.gc_controller.heap_in_use  # HeapInuse, kept current by every span move
    zero = rt.zerobase
    live: dict[int, tuple[int, int]] = {}
    payload = peak = peak_inuse = 0
    n = 0
    start = time.perf_counter()
    try:
        for n, op in enumerate(ops, 1):  # noqa: B007 - n is the op count after the loop
            kind = op.kind
            if kind == "a":
                x = malloc(op.size)
                live[op.id] = (x, op.size)
                payload += op.size
            elif kind == "r":
                old, old_size = live[op.id]
                x = malloc(op.size)
                keep = min(old_size, op.size)
                if keep:
                    rt.process.write(x, rt.process.read(old, keep))
                if old != zero:
                    free(old)
                live[op.id] = (x, op.size)
                payload += op.size - old_size
            else:
                x, size = live.pop(op.id)
                if x != zero:
                    free(x)
                payload -= size
            if payload > peak:
                peak = payload
            if inuse.nbytes > peak_inuse:
                peak_inuse = inuse.nbytes
            if check:
                _check(rt, live, op, name, n)
    except RuntimeThrow as err:
        raise TraceFailure(f"{name}: op {n}: {err}") from None
    seconds = time.perf_counter() - start
    return GoRunResult(name, n, peak, peak_inuse, seconds)


def _check(rt: Runtime, live: dict[int, tuple[int, int]], op: TraceOp, name: str, n: int) -> None:
    if op.kind != "f" and op.size:
        x, size = live[op.id]
        if op.kind == "r":
            pass  # the kept prefix was copied; verified below with the rest
        rt.process.write(x, _pattern(op.id, size))
    rt.check_invariants()
    for ident, (x, size) in live.items():
        if size and rt.process.read(x, size) != _pattern(ident, size):
            raise TraceFailure(f"{name}: op {n}: the payload of id {ident} was overwritten")
