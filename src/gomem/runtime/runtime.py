"""One simulated Go process's runtime: the global state Go keeps in mheap_,
memstats, gcController and allp, gathered in one object. See
docs/ARCHITECTURE.md for how the modules fit together.

    rt = Runtime()                       # a fresh Go process on a fresh machine
    p = rt.new(struct_of(("next", pointer(INT)), ("n", INT)))
    rt.process.store64(p + 8, 42)        # the object is real simulated memory
    stats = rt.read_mem_stats()          # runtime.ReadMemStats
    rt.free_object(p)                    # as if a sweep found it dead

Start-up follows mallocinit: arena hints, then one P per GOMAXPROCS with
its mcache, and the scheduler (proc.py). m0's g0 runs on the process's
[stack]; every goroutine gets a 2 KiB stack from the heap (stack.py).
Nothing is mapped for the heap until the first allocation grows it.

Explicit free (free_object) stands in for the collector: the object's slot
is marked freed and its span is swept at once through the sweeper's path,
unless an mcache holds the span, in which case the sweep happens when the
mcache lets go of it, as Go sweeps cached spans only after they are
returned. A tiny block is freed when every object in it has been freed
and it is no longer an mcache's current block.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from gomem.machine import Machine, Process
from gomem.machine.mm import PAGE_SIZE as OS_PAGE_SIZE
from gomem.runtime.cost import DEFAULT_COSTS, CostTable
from gomem.runtime.malloc import mallocgc
from gomem.runtime.mbitmap import MALLOC_HEADER_SIZE, heap_bits_in_span, type_pointers_of
from gomem.runtime.mcache import MCache
from gomem.runtime.mcentral import MCentral
from gomem.runtime.mem_linux import OSMemory, RuntimeThrow
from gomem.runtime.mgc import Collector, CycleRecord
from gomem.runtime.mgclimit import GCCPULimiterState
from gomem.runtime.mgcpacer import GCControllerState
from gomem.runtime.mgcsweep import sweep_span
from gomem.runtime.mheap import (
    NUM_SPAN_CLASSES,
    TINY_SPAN_CLASS,
    MHeap,
    MSpan,
    SpanState,
)
from gomem.runtime.mstats import MemStats, MStats, check_consistency, read_mem_stats, read_metrics
from gomem.runtime.proc import (
    G0_STACK_SIZE,
    G_RECORD,
    SIZEOF_G,
    G,
    GStatus,
    P,
    Pause,
    Policy,
    RoundRobin,
    Sched,
)
from gomem.runtime.stack import (
    FIXED_STACK,
    STACK_GUARD,
    Stack,
    StackAllocator,
    copystack,
    newstack_size,
    shrink_target,
)
from gomem.runtime.type import Type

TYPE_DESCRIPTOR_STRIDE = 64  # room for one abi.Type record in rodata


class Runtime:
    """A Go process's runtime on a simulated Linux machine."""

    def __init__(
        self,
        process: Process | None = None,
        *,
        gomaxprocs: int = 1,
        madvdontneed: bool = True,
        policy: Policy | None = None,
        costs: CostTable | None = None,
    ) -> None:
        if gomaxprocs < 1:
            raise ValueError(f"Runtime: gomaxprocs must be at least 1, not {gomaxprocs}")
        self.process = process if process is not None else Machine().spawn("go")
        self.os = OSMemory(self.process, madvdontneed=madvdontneed)
        self.memstats = MStats()
        self.gc_controller = GCControllerState()
        self.heap = MHeap(self.os, self.memstats, self.gc_controller)
        self.gc_controller.mapped_ready_source = lambda: self.os.mapped_ready
        self.heap.central = [MCentral(spc, self.heap) for spc in range(NUM_SPAN_CLASSES)]
        self.gomaxprocs = gomaxprocs
        self.mcaches = [
            MCache(self.heap, self.heap.central, self.heap.cachealloc.alloc())
            for _ in range(gomaxprocs)
        ]
        self.next_gc = self.gc_controller.heap_goal()  # 4 MiB before the first cycle
        self.costs = costs if costs is not None else DEFAULT_COSTS
        self.stackalloc = StackAllocator(self.heap)
        self.ps = [P(i, c) for i, c in enumerate(self.mcaches)]
        self.sched = Sched(
            self.ps,
            policy if policy is not None else RoundRobin(),
            self.process.mm,
            self.costs.page_fault,
        )
        # g0 of m0: the scheduler's own stack is the top 16 KiB of the process's [stack].
        top = self.process.mm.start_stack
        self.g0 = G(0, "g0", Stack(top - G0_STACK_SIZE + 1024, top), 0, top)
        self.write_barrier_enabled = False  # writeBarrier.enabled; the collector sets it
        self.pointer_stores = 0  # pointer stores into heap objects and globals
        self.stack_copies = 0  # copystack calls (growth and shrinking)
        self.goroutines_created = 0  # `go` statements and main (system goroutines excluded)
        self.gc = Collector(self)
        self.gc_cpu_limiter = GCCPULimiterState(lambda: len(self.gc.cycles))
        self.gc_cpu_limiter.reset_capacity(0, gomaxprocs)  # procresize at start-up
        self.heap.cpu_limiting = self.gc_cpu_limiter.limiting
        self.heap.reclaim = self.gc.reclaim
        self.heap.sweep_credit = self.gc.deduct_sweep_credit
        self.local_ops = 0  # frame-slot reads and writes of the program API (no switch point)
        image = self.process.image
        text_end = image.base + -(-image.text_bytes // OS_PAGE_SIZE) * OS_PAGE_SIZE
        rodata_end = text_end + -(-image.rodata_bytes // OS_PAGE_SIZE) * OS_PAGE_SIZE
        data_end = rodata_end + -(-image.data_bytes // OS_PAGE_SIZE) * OS_PAGE_SIZE
        self.zerobase = data_end  # runtime.zerobase: in bss; every zero-size object's address
        self._type_base = text_end  # type descriptors live in rodata
        self._type_addrs: dict[Type, int] = {}
        self._types_by_addr: dict[int, Type] = {}
        self.tiny_refs: defaultdict[int, int] = defaultdict(int)  # tiny block -> live objects
        # Globals live in bss, after runtime.zerobase's word: (name, address, type).
        self.globals: list[tuple[str, int, Type]] = []
        self._globals_next = self.zerobase + 64
        self._bss_end = data_end + -(-image.bss_bytes // OS_PAGE_SIZE) * OS_PAGE_SIZE

    # -- allocation ----------------------------------------------------------

    def mallocgc(
        self, size: int, typ: Type | None = None, *, needzero: bool = True, p: int = 0
    ) -> int:
        """mallocgc(size, typ, needzero) on P p's mcache; the object's address."""
        if size < 0:
            raise RuntimeThrow(f"mallocgc: negative size {size}")
        return mallocgc(self, size, typ, needzero, self.mcaches[p])

    def new(self, typ: Type, *, p: int = 0) -> int:
        """newobject: a zeroed value of typ (Go's `new(T)`)."""
        return mallocgc(self, typ.size, typ, True, self.mcaches[p])

    def new_array(self, typ: Type, n: int, *, p: int = 0) -> int:
        """newarray: n zeroed values of typ in a row (a slice's backing array)."""
        if n < 0:
            raise RuntimeThrow("runtime: makeslice: len out of range")
        return mallocgc(self, typ.size * n, typ, True, self.mcaches[p])

    def type_addr(self, typ: Type) -> int:
        """The address of typ's descriptor in rodata (what a malloc header holds)."""
        addr = self._type_addrs.get(typ)
        if addr is None:
            addr = self._type_base + TYPE_DESCRIPTOR_STRIDE * (len(self._type_addrs) + 1)
            self._type_addrs[typ] = addr
            self._types_by_addr[addr] = typ
        return addr

    def type_at(self, addr: int) -> Type:
        try:
            return self._types_by_addr[addr]
        except KeyError:
            raise RuntimeThrow(f"runtime: {addr:#x} is not a type descriptor") from None

    # -- goroutines, stacks and globals -----------------------------------------

    def newproc(self, name: str, body: Callable[[G], Any], creator: G | None = None) -> G:
        """newproc: a runnable goroutine with a 2 KiB stack (reused from a dead G if any).

        A new G costs a 440-byte g record in the heap (class 448) as well, as in Go.

        body(g) runs in the goroutine; it is started by the scheduler.
        """
        p = creator.p if creator is not None and creator.p is not None else self.ps[0]
        g = p.gfree.pop() if p.gfree else None  # gfget
        if g is None:
            # malg: the g record is a heap object (class 448), then its stack.
            addr = mallocgc(self, SIZEOF_G, G_RECORD, True, p.mcache)
            self.gc.allocated(addr)
            stk = self.stackalloc.alloc(FIXED_STACK, p.mcache)
            g = G(0, name, stk, stk.lo + STACK_GUARD, stk.hi, addr=addr)
        g.goid = self.sched.new_goid()
        g.name = name
        g.system = False
        self.goroutines_created += 1
        g.stack_scanned = self.gc.phase != 0  # a goroutine born during mark has a black stack
        g.sched_sp = g.stack.hi
        g.frames = []
        self.gc_controller.add_scannable_stack(g.stack.size)
        self.sched.allgs.append(g)
        self.sched.start(g, lambda: body(g))
        self.sched.make_runnable(g)
        return g

    def goexit(self, g: G) -> None:
        """goexit0 + gfput: keep the dead G and its stack if it is the starting size."""
        p = self.ps[0] if g.p is None else g.p
        self.gc_controller.add_scannable_stack(-g.stack.size)
        if g.stack.size != FIXED_STACK:
            self.stackalloc.free(g.stack, p.mcache)
            g.stack = self.stackalloc.alloc(FIXED_STACK, p.mcache)
            g.stackguard0 = g.stack.lo + STACK_GUARD
        g.frames = []
        g.sched_sp = g.stack.hi
        g.glet = None
        if not g.system:  # a runtime goroutine's G stays with its owner for the next run
            p.gfree.append(g)

    def grow_stack(self, g: G, needed: int) -> int:
        """morestack/newstack: double g's stack (or more) so needed bytes fit; bytes copied."""
        newsize = newstack_size(g, needed)
        c = g.p.mcache if g.p is not None else None
        self.stack_copies += 1
        self.gc_controller.add_scannable_stack(newsize - g.stack.size)
        return copystack(self.stackalloc, g, newsize, c)

    def shrink_stack(self, g: G) -> bool:
        """shrinkstack: halve g's stack if it uses less than a quarter (the GC calls it)."""
        newsize = shrink_target(g)
        if newsize == 0:
            return False
        c = g.p.mcache if g.p is not None else None
        self.stack_copies += 1
        self.gc_controller.add_scannable_stack(newsize - g.stack.size)
        copystack(self.stackalloc, g, newsize, c)
        return True

    def new_global(self, name: str, typ: Type) -> int:
        """A package-level variable in bss (zeroed), a GC root through its pointer bitmap."""
        align = max(typ.align, 1)
        addr = -(-self._globals_next // align) * align
        if addr + typ.size > self._bss_end:
            raise RuntimeThrow(f"globals: {name} does not fit in the bss segment")
        self._globals_next = addr + typ.size
        self.globals.append((name, addr, typ))
        self.gc_controller.add_globals(typ.size)  # addGlobals: data + bss bytes
        return addr

    def global_roots(self) -> list[int]:
        """Addresses of the pointer words of every global (the data/bss root bitmap)."""
        return [addr + off for _, addr, typ in self.globals for off in typ.pointer_offsets()]

    def stack_roots(self, g: G) -> list[int]:
        """Addresses of the pointer slots of g's frames (its stack maps)."""
        out = []
        hi = g.stack.hi
        for fr in g.frames:
            base = hi - fr.depth
            mask, w = fr.func.ptrmask, 0
            while mask:
                if mask & 1:
                    out.append(base + 8 * w)
                mask >>= 1
                w += 1
        return out

    def GC(self) -> CycleRecord:  # noqa: N802 - Go's name, runtime.GC
        """runtime.GC outside a running program: a whole stop-the-world cycle."""
        return self.gc.run_cycle(forced=True)

    def stop_the_world(self, reason: str, extra_ns: int = 0) -> Pause:
        """stopTheWorld + startTheWorld: a pause of the table's stw_base plus extra_ns."""
        return self.sched.stop_the_world(reason, self.costs.stw_base + extra_ns)

    def write_pointer(self, slot: int, value: int) -> None:
        """A compiled pointer store into the heap or a global: barrier, then the store."""
        self.pointer_stores += 1
        if self.write_barrier_enabled:
            marker = self.gc.marker
            if marker is not None:
                old = self.process.load64(slot)
                g = self.sched.current
                marker.use(g.p.id if g is not None and g.p is not None else 0)
                self.gc.barrier.on_store(marker, g, old, value)
        self.process.store64(slot, value)

    def system_g(self, name: str) -> G:
        """A G for a runtime goroutine (mark worker, background sweeper), not yet
        started: its g record and stack are allocated now (black during mark)."""
        c = self.ps[0].mcache
        addr = mallocgc(self, SIZEOF_G, G_RECORD, True, c)
        self.gc.allocated(addr)
        stk = self.stackalloc.alloc(FIXED_STACK, c)
        g = G(0, name, stk, stk.lo + STACK_GUARD, stk.hi, addr=addr)
        g.system = True
        g.status = GStatus.DEAD
        self.sched.allgs.append(g)
        return g

    def start_system_g(self, g: G, body: Callable[[G], Any], p: P) -> None:
        """Run the system goroutine g (again) beside the Ps, on its own P p."""
        g.goid = self.sched.new_goid()
        g.sched_sp, g.frames = g.stack.hi, []
        g.stack_scanned = True  # it holds no heap pointers on its stack
        self.sched.start(g, lambda: body(g))
        self.sched.add_worker(g, p)

    # -- explicit free -------------------------------------------------------

    def free_object(self, addr: int) -> None:
        """Free the object at addr as if a sweep had found it dead."""
        heap = self.heap
        s = heap.span_of_heap(addr)
        if s is None:
            raise RuntimeThrow(f"free_object: {addr:#x} is not in a heap object")
        if s.spanclass == TINY_SPAN_CLASS:
            block = addr & ~15
            if block in self.tiny_refs:
                n = self.tiny_refs[block] - 1
                if n < 0:
                    raise RuntimeThrow(f"free_object: tiny block {block:#x} has no live object")
                self.tiny_refs[block] = n
                if n == 0 and not any(c.tiny == block for c in self.mcaches):
                    del self.tiny_refs[block]
                    self._free_slot(s, s.object_index(block))
                return
        idx = s.object_index(addr)
        start = s.start_addr + idx * s.elemsize
        if s.size_class != 0 and not s.noscan and not heap_bits_in_span(s.elemsize):
            start += MALLOC_HEADER_SIZE
        if addr != start:
            raise RuntimeThrow(
                f"free_object: {addr:#x} is inside an object, which starts at {start:#x}"
            )
        if not s.is_allocated(idx) or s.freed >> idx & 1:
            raise RuntimeThrow(f"free_object: {addr:#x} is not allocated (double free?)")
        self._free_slot(s, idx)

    def _free_slot(self, s: MSpan, idx: int) -> None:
        s.freed |= 1 << idx
        if s.sweepgen == self.heap.sweepgen + 3:
            return  # cached by an mcache: swept when the mcache lets go of it
        if s.in_set is not None:
            s.in_set.remove(s)  # type: ignore[attr-defined]
        sweep_span(self.heap, s, preserve=False)

    def retire_tiny_block(self, block: int) -> None:
        """An mcache stopped using block as its tiny block: free it if nothing lives there."""
        if self.tiny_refs.get(block) == 0:
            del self.tiny_refs[block]
            s = self.heap.span_of_heap(block)
            assert s is not None
            self._free_slot(s, s.object_index(block))

    def flush_mcaches(self) -> None:
        """flushallmcaches: every mcache gives its spans back (ReadMemStats, GC start)."""
        for c in self.mcaches:
            old = c.tiny
            c.release_all()
            c.pcache.flush(self.heap.pages)
            if old:
                self.retire_tiny_block(old)

    # -- the collector's view ------------------------------------------------

    def pointer_words(self, addr: int) -> list[int]:
        """Addresses of the pointer words of the object at addr (as the GC finds them)."""
        s = self.heap.span_of_heap(addr)
        if s is None:
            raise RuntimeThrow(f"pointer_words: {addr:#x} is not in a heap object")
        slot = s.start_addr + s.object_index(addr) * s.elemsize
        return type_pointers_of(self.process, s, slot, self.type_at)

    # -- statistics ------------------------------------------------------------

    def read_mem_stats(self) -> MemStats:
        """runtime.ReadMemStats (flushes the mcaches, as Go does)."""
        return read_mem_stats(self)

    def read_metrics(self) -> dict[str, int]:
        """The memory metrics of runtime/metrics."""
        return read_metrics(self)

    def scavenge(self, nbytes: int) -> int:
        """Release up to nbytes of free heap pages to the OS; the bytes released."""
        from gomem.runtime.mgcscavenge import scavenge

        return scavenge(self, nbytes)

    def free_os_memory(self) -> int:
        """debug.FreeOSMemory without a collector: return every free page to the OS."""
        from gomem.runtime.mgcscavenge import free_os_memory

        return free_os_memory(self)

    def check_invariants(self) -> None:
        """Every structure's invariants and the statistics' identities; raises RuntimeThrow."""
        self.heap.check_invariants()
        check_consistency(self)
        for spc, central in enumerate(self.heap.central):
            for sets in (central.partial, central.full):
                for ss in sets:
                    for s in ss:
                        if s.spanclass != spc:
                            raise RuntimeThrow(
                                f"mcentral.check: span {s.start_addr:#x} of class {s.spanclass}"
                                f" in the sets of class {spc}"
                            )
        for c in self.mcaches:
            for spc, s in enumerate(c.alloc):
                if s.nelems and (s.spanclass != spc or s.sweepgen != self.heap.sweepgen + 3):
                    raise RuntimeThrow(f"mcache.check: bad cached span {s.start_addr:#x}")
        for g in self.sched.allgs:
            if g.status != GStatus.DEAD:
                self.sched.check_stack(g)
                stack_span = self.heap.span_of(g.stack.lo)
                if stack_span is None or stack_span.state != SpanState.MANUAL:
                    raise RuntimeThrow(f"goroutine {g.goid}: stack not in a stack span")
        self.process.check_invariants()
