"""Off-heap allocators for runtime metadata. Models runtime/mfixalloc.go
(fixalloc) and persistentalloc from runtime/malloc.go (go1.24). See
docs/ARCHITECTURE.md.

The runtime's own structures (mspans, mcaches, heap arena metadata) never
live in the Go heap. They come from two allocators that take memory from
the OS and never give it back:

* persistentalloc(size, align, stat) bump-allocates from 256 KiB chunks
  obtained with sysAlloc and accounted first to OtherSys; each allocation
  moves its bytes from OtherSys to the caller's statistic. A request of
  64 KiB or more gets its own sysAlloc (a heapArena's metadata is one).
* fixalloc hands out fixed-size records (one per mspan, one per mcache)
  from 16 KiB chunks it takes from persistentalloc, keeps freed records
  on a free list, and counts the bytes in use (MSpanInuse, MCacheInuse).

Here the records themselves are Python objects; these allocators hand out
the *addresses* Go's records would have, so the mappings, VSZ and the
Sys statistics are the real runtime's. Simplified: the records' pages are
never written, so runtime metadata adds no RSS in the model (FIDELITY.md).
"""

from __future__ import annotations

from gomem.runtime.mem_linux import OSMemory, RuntimeThrow, SysMemStat

PERSISTENT_CHUNK_SIZE = 256 << 10  # persistentChunkSize
PERSISTENT_MAX_BLOCK = 64 << 10  # maxBlock: larger requests get their own mapping
FIX_ALLOC_CHUNK = 16 << 10  # _FixAllocChunk


class PersistentAlloc:
    """persistentalloc: never-freed metadata memory (one global chunk, no Ps yet)."""

    def __init__(self, os: OSMemory, other_sys: SysMemStat) -> None:
        self.os = os
        self.other_sys = other_sys  # memstats.other_sys: the chunks' first owner
        self.base = 0  # current chunk; 0 before the first allocation
        self.off = 0  # bytes of the current chunk handed out

    def alloc(self, size: int, align: int, stat: SysMemStat) -> int:
        """The address of size fresh bytes, aligned; their bytes counted in stat."""
        if align == 0:
            align = 8
        if align & (align - 1) or align > 8192:
            raise RuntimeThrow(f"persistentalloc: align is not a power of 2 <= 8192: {align}")
        if size >= PERSISTENT_MAX_BLOCK:
            v = self.os.sys_alloc(size, stat)
            if v == 0:
                raise RuntimeThrow("runtime: cannot allocate memory")
            return v
        self.off = -(-self.off // align) * align
        if self.base == 0 or self.off + size > PERSISTENT_CHUNK_SIZE:
            self.base = self.os.sys_alloc(PERSISTENT_CHUNK_SIZE, self.other_sys)
            if self.base == 0:
                raise RuntimeThrow("runtime: cannot allocate memory")
            self.off = 0
        p = self.base + self.off
        self.off += size
        if stat is not self.other_sys:
            stat.add(size)
            self.other_sys.add(-size)
        return p


class FixAlloc:
    """fixalloc: fixed-size records with a free list; inuse bytes counted."""

    def __init__(self, size: int, persistent: PersistentAlloc, stat: SysMemStat) -> None:
        if size > FIX_ALLOC_CHUNK:
            raise RuntimeThrow("runtime: fixalloc size too large")
        self.size = size  # bytes of one record (sizeof the Go struct)
        self.persistent = persistent
        self.stat = stat  # MSpanSys or MCacheSys: the chunks are charged here
        self.free_list: list[int] = []  # addresses of freed records, reused LIFO
        self.chunk = 0  # next free address in the current chunk
        self.nchunk = 0  # bytes left in the current chunk
        self.inuse = 0  # bytes of records handed out and not freed

    def alloc(self) -> int:
        self.inuse += self.size
        if self.free_list:
            return self.free_list.pop()
        if self.nchunk < self.size:
            self.chunk = self.persistent.alloc(FIX_ALLOC_CHUNK, 0, self.stat)
            self.nchunk = FIX_ALLOC_CHUNK
        v = self.chunk
        self.chunk += self.size
        self.nchunk -= self.size
        return v

    def free(self, v: int) -> None:
        self.inuse -= self.size
        self.free_list.append(v)
