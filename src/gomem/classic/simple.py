"""Simple segregated storage: one block size per run of pages, no split, no coalesce.

Models the textbook's simplest segregated allocator (CS:APP 3e 9.9.14,
"simple segregated storage"), which is also the shape of Go's spans: each
size class owns runs of pages carved into equal blocks; a request takes the
head of its class's free list (refilling it with a fresh run from sbrk when
empty), a free pushes the block back. Blocks carry no header or footer: the
run a block lies in tells its size, through a page -> class map (Go's
spanOf). The free-list link is written into the free block's first word.
Requests larger than the largest class get a run of whole pages of their
own, reused only by a request of the same page count.

Invariants (check):
    every listed block lies in a run of its class, at a multiple of the
        class size from the run's start, and is listed once
    listed blocks of a class + live blocks of that class == blocks carved

Simplified: runs are never returned or reused for another class.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from gomem.machine import Process

from .allocator import HeapCorruption, round_up
from .heap import Heap

DEFAULT_CLASSES = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)
PAGE = 4096


class SimpleSegregated:
    """Simple segregated storage on a process's brk heap."""

    def __init__(
        self, process: Process, classes: tuple[int, ...] = DEFAULT_CLASSES, run_bytes: int = PAGE
    ) -> None:
        if not classes or list(classes) != sorted(set(classes)) or classes[0] < 8:
            raise ValueError("classes must be increasing block sizes of at least 8 bytes")
        if any(c % 8 for c in classes):
            raise ValueError("class sizes must be multiples of 8 bytes")
        if run_bytes % PAGE or run_bytes < classes[-1]:
            raise ValueError("run_bytes must be whole pages and hold the largest class")
        self.heap = Heap(process, 8)
        pad = -self.heap.lo % PAGE
        if pad:
            self.heap.sbrk(pad)  # runs start on page boundaries
        self.classes = classes
        self.run_bytes = run_bytes
        self.heads = [0] * len(classes)  # free-list heads (addresses; 0 = empty)
        self.carved = [0] * len(classes)  # blocks cut from runs, per class
        self.page_run: dict[int, int] = {}  # page number -> start of its small run (spanOf)
        self.run_class: dict[int, int] = {}  # run start -> class index
        self.large: dict[int, int] = {}  # address -> pages, for live large runs
        self.large_free: dict[int, list[int]] = {}  # pages -> free large runs
        self.free_bytes = 0
        self.grows = 0

    def _class_of(self, size: int) -> int:
        return bisect_left(self.classes, size)

    def block_size(self, bp: int) -> int:
        if bp in self.large:
            return self.large[bp] * PAGE
        return self.classes[self.run_class[self.page_run[bp // PAGE]]]

    def malloc(self, size: int) -> int:
        if size <= 0:
            return 0
        i = self._class_of(size)
        if i == len(self.classes):
            return self._malloc_large(size)
        bp = self.heads[i]
        if not bp:
            bp = self._refill(i)
        self.heads[i] = self.heap.get(bp)
        self.free_bytes -= self.classes[i]
        return bp

    def _refill(self, i: int) -> int:
        """Carve a fresh run into blocks of class i; return the first."""
        self.grows += 1
        run = self.heap.sbrk(self.run_bytes)
        for page in range(run // PAGE, (run + self.run_bytes) // PAGE):
            self.page_run[page] = run
        self.run_class[run] = i
        size = self.classes[i]
        n = self.run_bytes // size
        put = self.heap.put
        for k in range(n):  # link in address order: the lowest block is the head
            bp = run + k * size
            put(bp, bp + size if k + 1 < n else 0)
        self.carved[i] += n
        self.free_bytes += n * size
        return run

    def _malloc_large(self, size: int) -> int:
        pages = round_up(size, PAGE) // PAGE
        runs = self.large_free.get(pages)
        if runs:
            bp = runs.pop()
            self.free_bytes -= pages * PAGE
        else:
            self.grows += 1
            bp = self.heap.sbrk(pages * PAGE)
        self.large[bp] = pages
        return bp

    def free(self, bp: int) -> None:
        if not bp:
            return
        pages = self.large.pop(bp, 0)
        if pages:
            self.large_free.setdefault(pages, []).append(bp)
            self.free_bytes += pages * PAGE
            return
        i = self.run_class[self.page_run[bp // PAGE]]
        self.heap.put(bp, self.heads[i])
        self.heads[i] = bp
        self.free_bytes += self.classes[i]

    def realloc(self, bp: int, size: int) -> int:
        """Same class (or same large run): stay; otherwise move."""
        if not bp:
            return self.malloc(size)
        if size <= 0:
            self.free(bp)
            return 0
        old = self.block_size(bp)
        i = self._class_of(size)
        if bp in self.large:
            if i == len(self.classes) and round_up(size, PAGE) == old:
                return bp  # still a large request of the same page count
        elif i < len(self.classes) and self.classes[i] == old:
            return bp
        new = self.malloc(size)
        self.heap.write(new, self.heap.read(bp, min(old, size)))
        self.free(bp)
        return new

    def free_lists(self) -> list[list[int]]:
        out = []
        for head in self.heads:
            nodes, bp = [], head
            while bp:
                nodes.append(bp)
                bp = self.heap.get(bp)
            out.append(nodes)
        return out

    def blocks(self) -> Iterator[tuple[int, int, bool]]:
        """(address, size, allocated) of every carved block and large run, in address order."""
        free = {bp for nodes in self.free_lists() for bp in nodes}
        free |= {bp for runs in self.large_free.values() for bp in runs}
        items: list[tuple[int, int, bool]] = []
        for start, i in self.run_class.items():
            size = self.classes[i]
            for k in range(self.run_bytes // size):
                bp = start + k * size
                items.append((bp, size, bp not in free))
        for bp, pages in self.large.items():
            items.append((bp, pages * PAGE, True))
        for pages, starts in self.large_free.items():
            items.extend((bp, pages * PAGE, False) for bp in starts)
        return iter(sorted(items))

    def check(self) -> None:
        """Walk every class list, checking each link before following it."""
        lo, hi, get = self.heap.lo, self.heap.hi, self.heap.get
        seen: set[int] = set()
        free = 0
        for i, head in enumerate(self.heads):
            size = self.classes[i]
            bp = head
            while bp:
                if bp in seen:
                    raise HeapCorruption(f"check: class {size} list loops at {bp:#x}")
                if not lo <= bp < hi:
                    raise HeapCorruption(
                        f"check: class {size} list points outside the heap: {bp:#x}"
                    )
                run = self.page_run.get(bp // PAGE, -1)
                if self.run_class.get(run) != i:
                    raise HeapCorruption(
                        f"check: {bp:#x} on the {size}-byte list is not in its run"
                    )
                if (bp - run) % size:
                    raise HeapCorruption(f"check: {bp:#x} is not at a {size}-byte block boundary")
                seen.add(bp)
                free += size
                bp = get(bp)
        free += sum(p * PAGE * len(r) for p, r in self.large_free.items())
        if free != self.free_bytes:
            raise HeapCorruption(f"check: free bytes {free} but the counter says {self.free_bytes}")
