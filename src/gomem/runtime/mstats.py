"""Memory statistics: runtime.MemStats and runtime/metrics. Models
runtime/mstats.go (mstats, heapStatsDelta, readmemstats_m and its
doubleCheckReadMemStats checks) and the memory metrics of
runtime/metrics.go (go1.24). See docs/ARCHITECTURE.md.

Go keeps three kinds of figures, and so do we:

* sysMemStat counters of OS memory per purpose (MSpanSys, MCacheSys,
  GCSys's gcMiscSys, OtherSys, StackSys, BuckHashSys), moved by every
  sysAlloc/sysMap/sysFree (mem_linux.SysMemStat);
* gcController's heapInUse / heapFree / heapReleased and totalAlloc /
  totalFree (mgcpacer.GCControllerState);
* the "consistent" heap statistics (heapStatsDelta): committed and
  released bytes, bytes in heap/stack/workbuf spans, and allocation and
  free counts per size class, updated when spans move and when an mcache
  lets go of a span.

ReadMemStats flushes every mcache first, so its counts are exact per
object; runtime/metrics does not, so its allocation counts lag by the
objects allocated from spans still cached (as in Go).

Consistency (check_consistency), from Go's doubleCheckReadMemStats:
heapInUse == inHeap; heapReleased == released; heapInUse + heapFree ==
committed - inStacks - inWorkBufs - inPtrScalarBits; totalAlloc and
totalFree equal the sums of the per-class counts; mappedReady == Sys -
released. And from the MemStats definitions: HeapSys == HeapInuse +
HeapIdle, HeapIdle >= HeapReleased, HeapAlloc <= HeapInuse.

Simplified: no GC yet, so NextGC, NumGC, PauseNs and friends are zero or
Go's values before the first cycle; BuckHashSys is 0 (no profiling).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gomem.runtime.mem_linux import RuntimeThrow, SysMemStat
from gomem.runtime.sizeclasses import CLASS_TO_SIZE, NUM_SIZE_CLASSES

if TYPE_CHECKING:
    from gomem.runtime.runtime import Runtime

# MemStats.BySize has 61 entries (classes 0..60, up to 18,432 B): Go kept the
# array's length for compatibility when it added classes, so larger classes
# are in the totals but not in BySize (runtime/metrics has them all).
MEMSTATS_BY_SIZE = 61


@dataclass(slots=True)
class HeapStatsDelta:
    """heapStatsDelta: the consistent heap statistics (Go sums them per P)."""

    committed: int = 0  # bytes of heap memory backed by the OS (Ready)
    released: int = 0  # bytes of heap memory returned to the OS
    in_heap: int = 0  # bytes in IN_USE heap spans
    in_stacks: int = 0  # bytes in stack spans
    in_work_bufs: int = 0  # bytes in GC work buffer spans
    in_ptr_scalar_bits: int = 0  # bytes in unrolled GC program spans
    tiny_alloc_count: int = 0  # tiny allocations
    large_alloc: int = 0  # bytes allocated for large objects (whole pages)
    large_alloc_count: int = 0
    small_alloc_count: list[int] = field(default_factory=lambda: [0] * NUM_SIZE_CLASSES)
    large_free: int = 0
    large_free_count: int = 0
    small_free_count: list[int] = field(default_factory=lambda: [0] * NUM_SIZE_CLASSES)


class MStats:
    """mstats: Go's global memstats (the OS-memory counters and the heap stats)."""

    def __init__(self) -> None:
        self.heap_stats = HeapStatsDelta()
        self.stacks_sys = SysMemStat("StackSys")
        self.mspan_sys = SysMemStat("MSpanSys")
        self.mcache_sys = SysMemStat("MCacheSys")
        self.buckhash_sys = SysMemStat("BuckHashSys")
        self.gc_misc_sys = SysMemStat("GCSys")
        self.other_sys = SysMemStat("OtherSys")

    def sys_total(self) -> int:
        """The OS memory of every purpose but the heap's (the sysStats of metrics.go)."""
        return (
            self.stacks_sys.nbytes
            + self.mspan_sys.nbytes
            + self.mcache_sys.nbytes
            + self.buckhash_sys.nbytes
            + self.gc_misc_sys.nbytes
            + self.other_sys.nbytes
        )


@dataclass(frozen=True, slots=True)
class SizeClassStats:
    """One row of MemStats.BySize."""

    Size: int  # noqa: N815 - Go's field names, exactly
    Mallocs: int
    Frees: int


@dataclass(frozen=True, slots=True)
class MemStats:
    """runtime.MemStats, with Go's field names (bytes unless said otherwise)."""

    Alloc: int
    TotalAlloc: int
    Sys: int
    Lookups: int
    Mallocs: int  # objects allocated, tiny ones counted one by one
    Frees: int
    HeapAlloc: int
    HeapSys: int
    HeapIdle: int
    HeapInuse: int
    HeapReleased: int
    HeapObjects: int
    StackInuse: int
    StackSys: int
    MSpanInuse: int
    MSpanSys: int
    MCacheInuse: int
    MCacheSys: int
    BuckHashSys: int
    GCSys: int
    OtherSys: int
    NextGC: int
    LastGC: int
    PauseTotalNs: int
    NumGC: int
    NumForcedGC: int
    GCCPUFraction: float
    EnableGC: bool
    DebugGC: bool
    BySize: tuple[SizeClassStats, ...]  # classes 0..60 only, as Go's [61] array

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "BySize":
                value = [{"Size": r.Size, "Mallocs": r.Mallocs, "Frees": r.Frees} for r in value]
            out[name] = value
        return out


def _totals(hs: HeapStatsDelta) -> tuple[int, int, int, int]:
    """(bytes allocated, objects allocated, bytes freed, objects freed), tiny excluded."""
    total_alloc, n_malloc = hs.large_alloc, hs.large_alloc_count
    total_free, n_free = hs.large_free, hs.large_free_count
    for i in range(NUM_SIZE_CLASSES):
        total_alloc += hs.small_alloc_count[i] * CLASS_TO_SIZE[i]
        n_malloc += hs.small_alloc_count[i]
        total_free += hs.small_free_count[i] * CLASS_TO_SIZE[i]
        n_free += hs.small_free_count[i]
    return total_alloc, n_malloc, total_free, n_free


def total_mapped(rt: Runtime) -> int:
    """Sys: every byte the runtime has mapped (readmemstats_m's totalMapped)."""
    ms, gc, hs = rt.memstats, rt.gc_controller, rt.memstats.heap_stats
    return (
        gc.heap_in_use.nbytes
        + gc.heap_free.nbytes
        + gc.heap_released.nbytes
        + ms.sys_total()
        + hs.in_stacks
        + hs.in_work_bufs
        + hs.in_ptr_scalar_bits
    )


def read_mem_stats(rt: Runtime) -> MemStats:
    """readmemstats_m: flush the mcaches, then compute MemStats."""
    rt.flush_mcaches()
    ms, gc, hs = rt.memstats, rt.gc_controller, rt.memstats.heap_stats
    total_alloc, n_malloc, total_free, n_free = _totals(hs)
    n_malloc += hs.tiny_alloc_count  # tiny objects count in both, by tradition
    n_free += hs.tiny_alloc_count
    by_size = tuple(
        SizeClassStats(CLASS_TO_SIZE[i], hs.small_alloc_count[i], hs.small_free_count[i])
        for i in range(MEMSTATS_BY_SIZE)
    )
    heap_sys = gc.heap_in_use.nbytes + gc.heap_free.nbytes + gc.heap_released.nbytes
    return MemStats(
        Alloc=total_alloc - total_free,
        TotalAlloc=total_alloc,
        Sys=total_mapped(rt),
        Lookups=0,
        Mallocs=n_malloc,
        Frees=n_free,
        HeapAlloc=total_alloc - total_free,
        HeapSys=heap_sys,
        HeapIdle=gc.heap_free.nbytes + gc.heap_released.nbytes,
        HeapInuse=gc.heap_in_use.nbytes,
        HeapReleased=gc.heap_released.nbytes,
        HeapObjects=n_malloc - n_free,
        StackInuse=hs.in_stacks,
        StackSys=hs.in_stacks + ms.stacks_sys.nbytes,
        MSpanInuse=rt.heap.spanalloc.inuse,
        MSpanSys=ms.mspan_sys.nbytes,
        MCacheInuse=rt.heap.cachealloc.inuse,
        MCacheSys=ms.mcache_sys.nbytes,
        BuckHashSys=ms.buckhash_sys.nbytes,
        GCSys=ms.gc_misc_sys.nbytes + hs.in_work_bufs + hs.in_ptr_scalar_bits,
        OtherSys=ms.other_sys.nbytes,
        NextGC=rt.next_gc,
        LastGC=rt.gc.cycles[-1].t_end if rt.gc.cycles else 0,
        PauseTotalNs=sum(p.duration_ns for p in rt.sched.pauses),
        NumGC=len(rt.gc.cycles),
        NumForcedGC=sum(1 for c in rt.gc.cycles if c.forced),
        GCCPUFraction=rt.gc.cpu_fraction(),
        EnableGC=True,
        DebugGC=False,
        BySize=by_size,
    )


def check_consistency(rt: Runtime) -> None:
    """Go's doubleCheckReadMemStats, plus the MemStats identities; raises RuntimeThrow."""
    ms, gc, hs = rt.memstats, rt.gc_controller, rt.memstats.heap_stats
    total_alloc, _, total_free, _ = _totals(hs)

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise RuntimeThrow(f"mstats.check_consistency: {what}")

    need(gc.heap_in_use.nbytes == hs.in_heap, f"heapInUse {gc.heap_in_use.nbytes} != {hs.in_heap}")
    need(
        gc.heap_released.nbytes == hs.released,
        f"heapReleased {gc.heap_released.nbytes} != {hs.released}",
    )
    retained = gc.heap_in_use.nbytes + gc.heap_free.nbytes
    cons = hs.committed - hs.in_stacks - hs.in_work_bufs - hs.in_ptr_scalar_bits
    need(retained == cons, f"retained heap {retained} != consistent {cons}")
    need(gc.total_alloc == total_alloc, f"totalAlloc {gc.total_alloc} != {total_alloc}")
    need(gc.total_free == total_free, f"totalFree {gc.total_free} != {total_free}")
    mapped = total_mapped(rt)
    need(
        rt.os.mapped_ready == mapped - hs.released,
        f"mappedReady {rt.os.mapped_ready} != Sys {mapped} - released {hs.released}",
    )
    need(total_alloc >= total_free, "more freed than allocated")
    need(gc.heap_released.nbytes <= gc.heap_free.nbytes + gc.heap_released.nbytes, "idle")
    need(total_alloc - total_free <= gc.heap_in_use.nbytes, "HeapAlloc > HeapInuse")
    need(ms.mspan_sys.nbytes >= rt.heap.spanalloc.inuse, "MSpanInuse > MSpanSys")
    need(ms.mcache_sys.nbytes >= rt.heap.cachealloc.inuse, "MCacheInuse > MCacheSys")


def read_metrics(rt: Runtime) -> dict[str, int]:
    """The memory metrics of runtime/metrics, by their Go names (no mcache flush)."""
    ms, hs = rt.memstats, rt.memstats.heap_stats
    total_alloc, n_alloc, total_free, n_free = _totals(hs)
    in_objects = total_alloc - total_free
    mspan_inuse, mcache_inuse = rt.heap.spanalloc.inuse, rt.heap.cachealloc.inuse
    free = hs.committed - hs.in_heap - hs.in_stacks - hs.in_work_bufs - hs.in_ptr_scalar_bits
    out = {
        "/gc/heap/allocs:bytes": total_alloc,
        "/gc/heap/allocs:objects": n_alloc,
        "/gc/heap/frees:bytes": total_free,
        "/gc/heap/frees:objects": n_free,
        "/gc/heap/objects:objects": n_alloc - n_free,
        "/gc/heap/tiny/allocs:objects": hs.tiny_alloc_count,
        "/memory/classes/heap/free:bytes": free,
        "/memory/classes/heap/objects:bytes": in_objects,
        "/memory/classes/heap/released:bytes": hs.released,
        "/memory/classes/heap/stacks:bytes": hs.in_stacks,
        "/memory/classes/heap/unused:bytes": hs.in_heap - in_objects,
        "/memory/classes/metadata/mcache/free:bytes": ms.mcache_sys.nbytes - mcache_inuse,
        "/memory/classes/metadata/mcache/inuse:bytes": mcache_inuse,
        "/memory/classes/metadata/mspan/free:bytes": ms.mspan_sys.nbytes - mspan_inuse,
        "/memory/classes/metadata/mspan/inuse:bytes": mspan_inuse,
        "/memory/classes/metadata/other:bytes": hs.in_work_bufs
        + hs.in_ptr_scalar_bits
        + ms.gc_misc_sys.nbytes,
        "/memory/classes/os-stacks:bytes": ms.stacks_sys.nbytes,
        "/memory/classes/other:bytes": ms.other_sys.nbytes,
        "/memory/classes/profiling/buckets:bytes": ms.buckhash_sys.nbytes,
    }
    out["/memory/classes/total:bytes"] = hs.committed + hs.released + ms.sys_total()
    return out
