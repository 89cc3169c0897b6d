"""The simulated x86-64 Linux machine underneath the Go runtime.

Physical frames and the shared zero page (physmem), four-level page tables
(pagetable), the TLB (tlb), VMAs (vma), a process's address space with
mmap/munmap/mprotect/madvise/brk and demand paging (mm), the process layout
and the machine (process), and the kernel's /proc formats (procfs).
This package imports nothing else of gomem. See docs/ARCHITECTURE.md.
"""

from .errors import MachineError, OutOfMemoryKill, SegmentationFault, SyscallError
from .mm import (
    MADV_DONTNEED,
    MADV_FREE,
    MADV_HUGEPAGE,
    MADV_NOHUGEPAGE,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_NORESERVE,
    MAP_PRIVATE,
    MMAP_MIN_ADDR,
    TASK_SIZE,
    AddressSpace,
)
from .pagetable import WalkStep
from .physmem import PAGE_SIZE, PhysicalMemory
from .process import ExecutableImage, Machine, Process
from .stats import MemoryReading, MemoryStatus, PhysicalStatus
from .vma import PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE

__all__ = [
    "MADV_DONTNEED",
    "MADV_FREE",
    "MADV_HUGEPAGE",
    "MADV_NOHUGEPAGE",
    "MAP_ANONYMOUS",
    "MAP_FIXED",
    "MAP_FIXED_NOREPLACE",
    "MAP_NORESERVE",
    "MAP_PRIVATE",
    "MMAP_MIN_ADDR",
    "PAGE_SIZE",
    "PROT_EXEC",
    "PROT_NONE",
    "PROT_READ",
    "PROT_WRITE",
    "TASK_SIZE",
    "AddressSpace",
    "ExecutableImage",
    "Machine",
    "MachineError",
    "MemoryReading",
    "MemoryStatus",
    "OutOfMemoryKill",
    "PhysicalMemory",
    "PhysicalStatus",
    "Process",
    "SegmentationFault",
    "SyscallError",
    "WalkStep",
]
