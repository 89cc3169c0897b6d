"""The runtime's OS memory layer on Linux. Models runtime/mem.go and
runtime/mem_linux.go (go1.24). See docs/ARCHITECTURE.md.

Go moves every region of its address space between four states:

    None      not the runtime's; nothing mapped
    Reserved  mapped PROT_NONE: owns the addresses, costs no memory, faults
    Prepared  mapped read/write but not to be touched (its frames may be gone)
    Ready     usable

and the helpers below are the only transitions, each one a system call on
the simulated machine, exactly the call mem_linux.go makes:

    sys_alloc    None -> Ready         mmap(RW, private anonymous)
    sys_reserve  None -> Reserved      mmap(hint, PROT_NONE)
    sys_map      Reserved -> Prepared  mmap(v, RW, MAP_FIXED)
    sys_used     Prepared -> Ready     nothing on Linux (no commit step)
    sys_unused   Ready -> Prepared     madvise(MADV_DONTNEED): GODEBUG
                                       madvdontneed=1 is the default since Go 1.16
    sys_free     Ready -> None         munmap
    sys_fault    Ready -> Reserved     mmap(v, PROT_NONE, MAP_FIXED)

The runtime's accounting moves with them: each call names the statistic
(a SysMemStat) the bytes belong to, and `mapped_ready` counts Ready bytes
(gcController.mappedReady), which the memory limit later compares with.

Simplified: mmap failures other than ENOMEM on sys_map are not modelled
(Go throws; so do we, with MachineError); no GODEBUG=harddecommit, and
MADV_COLLAPSE is not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass

from gomem.machine import (
    MADV_DONTNEED,
    MADV_FREE,
    MADV_HUGEPAGE,
    MADV_NOHUGEPAGE,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    PAGE_SIZE,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    MachineError,
    Process,
    SyscallError,
)

PHYS_PAGE_SIZE = PAGE_SIZE  # physPageSize: the OS page, 4 KiB
PHYS_HUGE_PAGE_SIZE = 2 << 20  # physHugePageSize on x86-64


class RuntimeThrow(MachineError):
    """The runtime's throw(): a fatal error in the simulated Go runtime."""


@dataclass(slots=True)
class SysMemStat:
    """A sysMemStat: bytes of OS memory the runtime holds for one purpose."""

    name: str  # the MemStats field it feeds, e.g. "HeapSys"
    nbytes: int = 0  # current value; never negative

    def add(self, n: int) -> None:
        if self.nbytes + n < 0:
            raise RuntimeThrow(f"mem: {self.name} would go negative ({self.nbytes} + {n})")
        self.nbytes += n


class OSMemory:
    """The transitions of mem.go for one simulated Go process."""

    def __init__(self, process: Process, *, madvdontneed: bool = True) -> None:
        self.process = process
        # GODEBUG madvdontneed=1 (default): release with MADV_DONTNEED, which drops
        # RSS at once; 0: MADV_FREE, which leaves RSS until memory pressure.
        self.advise_unused = MADV_DONTNEED if madvdontneed else MADV_FREE
        self.mapped_ready = 0  # gcController.mappedReady: bytes in the Ready state

    def sys_alloc(self, n: int, stat: SysMemStat) -> int:
        """None -> Ready: n bytes of zeroed memory where the OS likes; 0 on failure."""
        try:
            v = self.process.mmap(n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        except SyscallError:
            return 0
        stat.add(n)
        self.mapped_ready += n
        return v

    def sys_alloc_os(self, n: int) -> int:
        """sysAllocOS: the bare mmap of sys_alloc, counted nowhere (not even Sys)."""
        try:
            return self.process.mmap(n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        except SyscallError:
            return 0

    def sys_reserve(self, hint: int, n: int) -> int:
        """None -> Reserved at (or, if taken, away from) hint; 0 on failure."""
        try:
            return self.process.mmap(n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, hint)
        except SyscallError:
            return 0

    def sys_map(self, v: int, n: int, stat: SysMemStat) -> None:
        """Reserved -> Prepared: make [v, v+n) read/write in place."""
        try:
            p = self.process.mmap(
                n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, v
            )
        except SyscallError as err:
            raise RuntimeThrow(f"runtime: out of memory: sysMap({v:#x}, {n}): {err}") from None
        if p != v:
            raise RuntimeThrow("runtime: cannot map pages in arena address space")
        stat.add(n)

    def sys_used(self, v: int, n: int, prepared: int) -> None:
        """Prepared -> Ready: Linux needs no call; only the accounting moves."""
        del v, n  # kept for the shape of Go's call
        self.mapped_ready += prepared

    def sys_unused(self, v: int, n: int) -> None:
        """Ready -> Prepared: give the frames back (the contents are forfeit)."""
        if v % PHYS_PAGE_SIZE or n % PHYS_PAGE_SIZE:
            raise RuntimeThrow("unaligned sysUnused")
        self.mapped_ready -= n
        self.process.madvise(v, n, self.advise_unused)

    def sys_free(self, v: int, n: int, stat: SysMemStat) -> None:
        """Ready -> None: unmap (Go frees only Ready memory this way)."""
        stat.add(-n)
        self.mapped_ready -= n
        self.process.munmap(v, n)

    def sys_fault(self, v: int, n: int) -> None:
        """Ready -> Reserved: accessing the region faults from now on (debugging aid)."""
        self.mapped_ready -= n
        self.process.mmap(n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, v)

    def sys_huge_page(self, v: int, n: int) -> None:
        """Advise huge pages on the 2 MiB-aligned interior of [v, v+n)."""
        beg = -(-v // PHYS_HUGE_PAGE_SIZE) * PHYS_HUGE_PAGE_SIZE
        end = (v + n) // PHYS_HUGE_PAGE_SIZE * PHYS_HUGE_PAGE_SIZE
        if beg < end:
            self.process.madvise(beg, end - beg, MADV_HUGEPAGE)

    def sys_no_huge_page(self, v: int, n: int) -> None:
        if v % PHYS_PAGE_SIZE:
            raise RuntimeThrow("unaligned sysNoHugePageOS")
        self.process.madvise(v, n, MADV_NOHUGEPAGE)
