"""The sbrk-grown heap a textbook allocator manages, on a simulated process.

Models what CS:APP's memlib does for the malloc lab (mem_sbrk over a fixed
array), but on the simulated Linux machine: the heap is the process's brk
area, grown with sbrk, so it appears as [heap] in /proc/<pid>/maps and costs
RSS only where the allocator writes. Words are 4 or 8 bytes, little-endian,
read and written through the machine's page tables.

Invariants:
    lo == the break when the heap was created; lo <= hi == the current break
    the heap never shrinks (as in the malloc lab)
"""

from __future__ import annotations

from collections.abc import Callable

from gomem.machine import MachineError, Process, SyscallError


class OutOfHeap(MachineError):
    """sbrk refused to grow the heap (the break would hit another mapping)."""


class Heap:
    """[lo, hi) of a process's brk area, grown by sbrk; word access by `get`/`put`."""

    def __init__(self, process: Process, word: int) -> None:
        if word not in (4, 8):
            raise ValueError(f"heap word size must be 4 or 8 bytes, got {word}")
        self.process = process
        self.word = word
        self.lo = process.sbrk(0)  # first byte of the heap
        self.hi = self.lo  # the current break: one past the last heap byte
        # Word access through the machine, bound once (the allocator's hot path).
        self.get: Callable[[int], int] = process.load32 if word == 4 else process.load64
        self.put: Callable[[int, int], None] = process.store32 if word == 4 else process.store64

    @property
    def size(self) -> int:
        """Bytes between the heap's start and the break (mem_heapsize)."""
        return self.hi - self.lo

    def sbrk(self, nbytes: int) -> int:
        """Grow the heap by nbytes; return the old break (the new bytes' start)."""
        try:
            old = self.process.sbrk(nbytes)
        except SyscallError as err:
            raise OutOfHeap(f"heap.sbrk: cannot grow the heap by {nbytes} bytes: {err}") from None
        self.hi = old + nbytes
        return old

    def read(self, va: int, n: int) -> bytes:
        return self.process.read(va, n)

    def write(self, va: int, data: bytes) -> None:
        self.process.write(va, data)
