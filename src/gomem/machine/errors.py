"""Faults and system-call errors of the simulated machine.

Each exception carries what the kernel would report: an errno for a failed
system call, the faulting address for a segmentation fault, the victim's
figures for the OOM killer. Messages name the call that failed.
"""

from __future__ import annotations

import errno as _errno


class MachineError(Exception):
    """Base class of everything the simulated machine raises."""


class SyscallError(MachineError):
    """A system call failed with an errno, as the kernel would return it.

    Nothing was changed: every call checks its arguments before it acts.
    """

    def __init__(self, err: int, message: str) -> None:
        super().__init__(f"{message} ({_errno.errorcode.get(err, err)})")
        self.errno = err


class SegmentationFault(MachineError):
    """An access the fault handler refused: SIGSEGV at `va`.

    `reason` is the kernel's si_code in words: "SEGV_MAPERR" when no VMA
    covers the address, "SEGV_ACCERR" when the VMA forbids the access.
    """

    def __init__(self, va: int, access: str, reason: str, detail: str) -> None:
        super().__init__(f"segmentation fault: {access} at {va:#x}: {detail} ({reason})")
        self.va = va
        self.access = access
        self.reason = reason


class OutOfMemoryKill(MachineError):
    """No frame was left at fault time: the OOM killer ended the process.

    Anonymous mmap overcommits, so running out of memory is never an mmap
    error; it happens at the first write that needs a frame.
    """

    def __init__(self, pid: int, comm: str, total_vm_kb: int, anon_rss_kb: int) -> None:
        super().__init__(
            f"Out of memory: Killed process {pid} ({comm}) "
            f"total-vm:{total_vm_kb}kB, anon-rss:{anon_rss_kb}kB, file-rss:0kB, shmem-rss:0kB"
        )
        self.pid = pid
        self.comm = comm
