"""Write barriers, selectable per run. Models runtime/mbarrier.go's
pseudocode and runtime/mwbbuf.go's buffered barrier (go1.24), beside the
historic designs it replaced. See docs/ARCHITECTURE.md.

While the collector marks, a mutator may move the only pointer to a white
object from a place the collector has not scanned yet into one it has
already scanned (black), then delete the original: without a barrier the
object is never found and is freed while still reachable. Each mode keeps
an invariant that rules this out, with the stack treatment it needs
(stack writes have no barrier):

    none      no barrier (stacks scanned one at a time): shows the bug
    dijkstra  insertion barrier, shade(new); stacks rescanned with the
              world stopped at mark termination (Go 1.5-1.7). Strong
              invariant for heap objects: no black -> white pointer.
    yuasa     deletion barrier, shade(*slot); all stacks scanned at mark
              start with the world stopped (snapshot at the beginning).
              Weak invariant: every white object pointed to by a black
              one is reachable from a grey one through white objects.
    hybrid    mbarrier.go: shade(*slot); if the current goroutine's stack
              is not yet scanned (grey), shade(new). Stacks scanned one at
              a time, no rescan (Go 1.8+).
    go        what the runtime does: put both *slot and new in the P's
              write-barrier buffer (512 entries) and shade them when it
              is flushed (when full, when a worker runs out of work, and
              at mark termination). Buffered pointers count as grey.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gomem.runtime.mem_linux import RuntimeThrow

if TYPE_CHECKING:
    from gomem.runtime.mgcmark import Marker
    from gomem.runtime.proc import G

BARRIERS = ("none", "dijkstra", "yuasa", "hybrid", "go")
WB_BUF_ENTRIES = 512  # wbBufEntries: pointers a P's buffer holds before a flush


class WriteBarrier:
    """The barrier of one runtime, with its counters."""

    def __init__(self, mode: str) -> None:
        if mode not in BARRIERS:
            raise ValueError(f"unknown write barrier {mode!r} ({', '.join(BARRIERS)})")
        self.mode = mode
        self.buffers: dict[int, list[int]] = {}  # P id -> buffered pointers (mode "go")
        self.executions = 0  # barriers run (pointer stores while the barrier is on)
        self.flushes = 0  # wbBuf flushes
        self.shaded = 0  # objects greyed by barriers (white before)

    def _shade(self, marker: Marker, p: int) -> None:
        if p:
            before = marker.stats.objects_marked
            marker.shade(p)
            self.shaded += marker.stats.objects_marked - before

    def on_store(self, marker: Marker, g: G | None, old: int, new: int) -> None:
        """The barrier of a pointer store *slot = new, where *slot held old."""
        self.executions += 1
        mode = self.mode
        if mode == "go":
            pid = g.p.id if g is not None and g.p is not None else 0
            buf = self.buffers.setdefault(pid, [])
            buf.append(old)
            buf.append(new)
            if len(buf) >= WB_BUF_ENTRIES:
                self.flush(marker, pid)
        elif mode == "dijkstra":
            self._shade(marker, new)
        elif mode == "yuasa":
            self._shade(marker, old)
        elif mode == "hybrid":
            self._shade(marker, old)
            if g is None or not g.stack_scanned:
                self._shade(marker, new)
        elif mode != "none":
            raise RuntimeThrow(f"write barrier: bad mode {mode!r}")

    def flush(self, marker: Marker, pid: int) -> None:
        """wbBufFlush: shade every buffered pointer of P pid."""
        buf = self.buffers.get(pid)
        if not buf:
            return
        self.flushes += 1
        for p in buf:
            self._shade(marker, p)
        buf.clear()

    def flush_all(self, marker: Marker) -> None:
        for pid in list(self.buffers):
            self.flush(marker, pid)

    def buffered(self) -> list[int]:
        """Pointers waiting in the buffers (grey, as far as the invariants go)."""
        return [p for buf in self.buffers.values() for p in buf if p]

    def pending(self) -> bool:
        return any(self.buffers.values())
