"""Heap statistics after N allocations, measured on the real Go runtime.

The oracle for the model's MemStats: a small Go program (shipped as package
data in go/allocstats/, see its main.go) allocates COUNT objects of one
shape and size and prints the deltas of runtime.MemStats around them. One
process per case, run with GOGC=off, GOMAXPROCS=1 and GOMEMLIMIT=off, so
no GC runs inside the window and every object stays alive.

The window holds exactly COUNT allocations: the type, reflect's cached
pointer type, the keep-alive slice and the MemStats records all exist
before the baseline, which is taken right after runtime.GC(). Both readings
flush the mcaches (mstats.go readmemstats_m -> flushallmcaches), so the
byte counts are exact; only page-level figures (HeapInuse, HeapSys,
HeapIdle, HeapReleased, Sys) depend on what the heap already held.

Shapes (PtrBytes is the length of the prefix of the object holding pointers):

    noscan    [SIZE]byte                             PtrBytes 0
    ptrfirst  struct{ P *byte; Pad [SIZE-8]byte }    PtrBytes 8
    allptr    [SIZE/8]*byte                          PtrBytes SIZE
    ptrlast   struct{ Pad [SIZE-8]byte; P *byte }    PtrBytes SIZE

Deltas carry Go's MemStats field names. MemStats.BySize stops at class 60
(18432 B): objects of classes 61..67 and large objects move no BySize entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gomem.oracle import toolchain
from gomem.oracle.toolchain import ToolchainError

__all__ = [
    "DEFAULT_CASES",
    "RUN_ENV",
    "SHAPES",
    "AllocCase",
    "AllocDeltas",
    "BySizeDelta",
    "build",
    "measure",
]

SHAPES = ("noscan", "ptrfirst", "allptr", "ptrlast")

# The environment of every run: no GC, one P, no memory limit (which could start a GC).
RUN_ENV = {"GOGC": "off", "GOMAXPROCS": "1", "GOMEMLIMIT": "off"}


@dataclass(frozen=True)
class AllocCase:
    """COUNT objects of SIZE bytes with pointer layout SHAPE, all kept alive."""

    shape: str  # one of SHAPES
    size: int  # bytes of one object: the Go type's Size; a multiple of 8 unless noscan
    count: int  # objects allocated in the measured window, >= 1

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"AllocCase: unknown shape {self.shape!r} (one of {SHAPES})")
        if self.size < 1 or self.count < 1:
            raise ValueError(f"AllocCase: size and count must be positive, not {self}")
        if self.shape != "noscan" and self.size % 8:
            raise ValueError(f"AllocCase: a {self.shape} size must be a multiple of 8: {self}")

    @property
    def args(self) -> tuple[str, str, str]:
        """The program's arguments: SHAPE SIZE COUNT."""
        return (self.shape, str(self.size), str(self.count))

    def __str__(self) -> str:
        return f"{self.shape} {self.size} B x {self.count}"


@dataclass(frozen=True)
class BySizeDelta:
    """The change of one MemStats.BySize entry (Go's field names)."""

    Size: int  # the class's object size in bytes (class_to_size)
    Mallocs: int  # objects of this class allocated in the window
    Frees: int  # objects of this class freed in the window


@dataclass(frozen=True)
class AllocDeltas:
    """runtime.MemStats after the allocations minus before (Go's field names).

    Invariants of a run without GC: Frees counts only tiny allocations
    folded into an existing block, HeapObjects == Mallocs - Frees, and
    TotalAlloc == HeapAlloc.
    """

    case: AllocCase
    type_size: int  # the object type's Size as its runtime descriptor has it (== case.size)
    ptr_bytes: int  # the object type's PtrBytes
    HeapAlloc: int  # bytes of the objects' blocks: class size, or whole pages if large
    HeapObjects: int  # live objects; a tiny block counts once however many it holds
    HeapInuse: int  # bytes of in-use spans
    HeapSys: int  # bytes of heap address space obtained from the OS
    HeapIdle: int  # bytes of idle spans (free or released)
    HeapReleased: int  # bytes of idle spans returned to the OS
    Mallocs: int  # objects allocated, tiny allocations included
    Frees: int  # objects freed; tiny allocations into an existing block count here too
    TotalAlloc: int  # cumulative bytes allocated
    Sys: int  # all bytes obtained from the OS
    BySize: tuple[BySizeDelta, ...]  # the entries that moved, in class order

    def by_size(self, size: int) -> BySizeDelta:
        """The delta of the BySize entry of the class of `size` bytes (zero if it did not move)."""
        for entry in self.BySize:
            if entry.Size == size:
                return entry
        return BySizeDelta(size, 0, 0)


def build(gocache: Path, workdir: Path) -> Path:
    """Copy the Go program into workdir and build it there; return the binary."""
    return toolchain.build_packaged("allocstats", gocache, workdir)


def _reader(case: AllocCase) -> Callable[[dict[str, Any]], AllocDeltas]:
    def read(raw: dict[str, Any]) -> AllocDeltas:
        got = AllocCase(raw.pop("shape"), raw.pop("size"), raw.pop("count"))
        by_size = tuple(BySizeDelta(**entry) for entry in raw.pop("BySize"))
        return AllocDeltas(case=got, BySize=by_size, **raw)

    return read


def measure(binary: Path, cases: Iterable[AllocCase], timeout: float = 60) -> list[AllocDeltas]:
    """Run the program once per case (a fresh process each) and return the deltas in order."""
    out = []
    for case in cases:
        deltas, _ = toolchain.run_json(
            binary,
            *case.args,
            what=f"allocstats {case}",
            read=_reader(case),
            env=RUN_ENV,
            timeout=timeout,
        )
        if deltas.case != case:
            raise ToolchainError(f"allocstats {case}: the program measured {deltas.case} instead")
        out.append(deltas)
    return out


# The default table, for the model-vs-Go tests: one case per allocation path.
DEFAULT_CASES: tuple[AllocCase, ...] = (
    AllocCase("noscan", 8, 1000),  # tiny: two objects per 16-byte block
    AllocCase("noscan", 12, 1000),  # tiny, but two never fit in a block: one block each
    AllocCase("noscan", 300, 10000),  # small noscan: class 320
    AllocCase("ptrfirst", 64, 10000),  # small scan, heap bits at the span's end
    AllocCase("ptrlast", 512, 1000),  # largest class with heap bits in the span
    AllocCase("ptrfirst", 1000, 1000),  # malloc header: 1008 -> class 1024
    AllocCase("allptr", 1024, 1000),  # malloc header: 1032 -> class 1152
    AllocCase("noscan", 40000, 100),  # large: 5 pages each
    AllocCase("allptr", 40000, 100),  # large with pointers: no header, still 5 pages
)
