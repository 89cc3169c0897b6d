"""Returning free heap memory to the OS: the scavenging mechanism. Models
mheap.scavengeAll and debug.FreeOSMemory's use of it, and the release step
of scavengeOne, in runtime/mgcscavenge.go (go1.24). The search for free,
unscavenged pages (pageAlloc.scavenge, the scavenge index, the huge-page
aware candidate search) is in mpagealloc. See docs/ARCHITECTURE.md.

Scavenging a run of free pages marks them allocated for the moment (so no
allocation takes them), releases them with sysUnused, which on Linux is
madvise(MADV_DONTNEED), frees them again and sets their scavenged bits.
The process's RSS falls by the pages that were resident, HeapReleased
rises and HeapFree falls by the same bytes. When the pages are allocated
again, allocSpan makes them Ready (sysUsed) and counts them back, and the
first touch of each OS page faults in a zeroed frame.

Simplified: when and how much to scavenge in the background (the
scavenger's goal from the heap goal and the memory limit, its ~1% CPU
budget) arrives with the pacer; here scavenging happens only on request
(scavenge, free_os_memory) and, as in Go, when allocSpan finds the
memory limit or the GOGC-based retention goal exceeded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gomem.runtime.runtime import Runtime


def scavenge(rt: Runtime, nbytes: int) -> int:
    """Release up to nbytes (rounded up to whole runs) of free pages; bytes released."""
    if nbytes <= 0:
        return 0
    return rt.heap.pages.scavenge(nbytes, force=True)


def free_os_memory(rt: Runtime) -> int:
    """debug.FreeOSMemory, without the collection Go runs first: scavengeAll."""
    return rt.heap.pages.scavenge((1 << 64) - 1, force=True)
