"""A picture of a heap over time: one strip of blocks per sampled operation.

x is the offset from the heap's start, y the operation number; allocated
blocks are dark, free blocks light, and the heap's end grows to the right.
Fragmentation shows as light gaps between dark blocks that stay unfilled.
The PNG is written to a temporary file beside the target and renamed into
place, so a failure leaves no half-written file (save_png, which the what-if
plot uses too).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

Snapshot = tuple[int, int, list[tuple[int, int, bool]]]  # (op number, heap bytes, blocks)

ALLOCATED = "#1f4e79"
FREE = "#c9dff2"


def draw_heap_map(snapshots: list[Snapshot], heap_lo: int, path: Path, title: str) -> None:
    """Draw the sampled block layouts to a PNG at path."""
    fig, ax = plt.subplots(figsize=(10, 6), dpi=100)
    try:
        height = max(1, snapshots[-1][0] // max(1, len(snapshots))) if snapshots else 1
        for op, _heap_bytes, blocks in snapshots:
            for colour, want in ((ALLOCATED, True), (FREE, False)):
                spans = [(bp - heap_lo, size) for bp, size, alloc in blocks if alloc == want]
                if spans:
                    ax.broken_barh(spans, (op - height, height), facecolors=colour, linewidth=0)
        ax.set_xlabel("offset from the heap's start (bytes)")
        ax.set_ylabel("operation")
        ax.set_title(title)
        ax.invert_yaxis()
        ax.legend(
            handles=[
                plt.Rectangle((0, 0), 1, 1, color=ALLOCATED, label="allocated"),
                plt.Rectangle((0, 0), 1, 1, color=FREE, label="free"),
            ],
            loc="lower right",
        )
        save_png(fig, path)
    finally:
        plt.close(fig)


def save_png(fig: Figure, path: Path) -> None:
    """Write fig as a PNG to a temporary file beside path, then rename it over path:
    a failure leaves no half-written file. The metadata is fixed (no Software
    stamp), so the same figure gives the same bytes; the file gets a plain file's
    mode (0666 less the umask), not the temporary file's 0600."""
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", metadata={"Software": None})
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
