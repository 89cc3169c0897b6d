"""A process's address space: VMAs, page tables, demand paging, system calls.

Models struct mm_struct and the anonymous-memory paths of Linux 6.x:
mm/mmap.c (do_mmap, get_unmapped_area, brk), mm/vma.c (do_vmi_munmap,
vma_merge), mm/mprotect.c (do_mprotect_pkey), mm/madvise.c (MADV_DONTNEED,
MADV_FREE, MADV_[NO]HUGEPAGE), mm/memory.c (handle_mm_fault:
do_anonymous_page, do_wp_page) and arch/x86/mm/fault.c (access_error).
See docs/ARCHITECTURE.md for the overview.

Demand paging. mmap only records a VMA: VmSize grows, RssAnon does not.
The first access to a page finds no PTE and faults:
    read  -> map the shared zero page read-only (minor fault, RSS unchanged)
    write -> allocate a zeroed frame, map it writable (minor fault, RSS +4 kB)
A write to a page that maps the zero page faults again and copies on write
(a fresh zeroed frame; minor fault, RSS +4 kB). An access outside every VMA,
or one its VMA forbids, is a segmentation fault; a write fault with no frame
left is the OOM killer's case.

Translation. Loads and stores go through the TLB (tlb.py). A TLB hit costs
a dict lookup; a miss walks the page tables, faults if the PTE does not
allow the access, sets the accessed (and on a store the dirty) bit and
fills the TLB. Every PTE change that removes a page or a permission flushes
the TLB range first, as the kernel must.

Counters. rss_pages counts frames mapped by this process, never the zero
page. total_vm counts pages of all VMAs. Faults are counted in minor_faults
(there is no swap, so no major faults); page access counters are per
virtual page (tlb.PageAccess).

Invariants (check_invariants):
    total_vm == sum of VMA page counts
    rss_pages == number of leaf PTEs whose pfn is not the zero page
    every non-zero leaf PTE lies inside a VMA
    lazyfree ⊆ pages with a frame and a clean PTE

Placement. Without MAP_FIXED, a hint is taken if the range there is free;
otherwise the highest gap below mmap_base; a length that is a multiple of
2 MiB is aligned to 2 MiB (transparent-huge-page alignment, Linux >= 6.7).

Simplified: private anonymous mappings only (no files, no MAP_SHARED, no
fork, so no reverse map or page sharing beyond the zero page); no swap;
anon_vmas are bare ids (no chains, no reverse map); MADV_NORMAL, RANDOM,
SEQUENTIAL and WILLNEED change nothing; the overcommit heuristic is mode 0's
check of one request at a time.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from errno import EEXIST, EINVAL, ENOMEM, EPERM
from functools import partial

from .errors import MachineError, OutOfMemoryKill, SegmentationFault, SyscallError
from .pagetable import (
    PTE_ACCESSED,
    PTE_DIRTY,
    PTE_PFN_MASK,
    PTE_PRESENT,
    PTE_PROTNONE,
    PTE_USER,
    PTE_WRITABLE,
    PageTable,
    WalkStep,
    pte_pfn,
)
from .physmem import (
    PAGE_MASK,
    PAGE_SHIFT,
    PAGE_SIZE,
    ZERO_PAGE,
    ZERO_PFN,
    NoFreeFrames,
    PhysicalMemory,
)
from .procfs import MapsEntry, format_status_memory
from .stats import MemoryReading, MemoryStatus
from .tlb import TLB, PageAccess
from .vma import (
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    VM_ACCOUNT,
    VM_GROWSDOWN,
    VM_HUGEPAGE,
    VM_NOHUGEPAGE,
    VM_NORESERVE,
    VMA,
    VmaList,
)

TASK_SIZE = (1 << 47) - PAGE_SIZE  # top of user space on x86-64 (4-level paging)
TASK_UNMAPPED_BASE = ((TASK_SIZE // 3) + PAGE_SIZE - 1) & PAGE_MASK  # bottom-up fallback start
MMAP_MIN_ADDR = 65536  # vm.mmap_min_addr
STACK_GUARD_GAP = 256 * PAGE_SIZE  # stack_guard_gap: 1 MiB kept free below a stack
PMD_SIZE = 2 << 20  # what one PD entry (one PT page) maps

MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_NORESERVE = 0x4000
MAP_FIXED_NOREPLACE = 0x100000
_KNOWN_MAP_FLAGS = (
    MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE
)

MADV_NORMAL = 0
MADV_RANDOM = 1
MADV_SEQUENTIAL = 2
MADV_WILLNEED = 3
MADV_DONTNEED = 4
MADV_FREE = 8
MADV_HUGEPAGE = 14
MADV_NOHUGEPAGE = 15
_NO_OP_ADVICE = (MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED)
MADV_NAMES = {
    MADV_NORMAL: "MADV_NORMAL",
    MADV_RANDOM: "MADV_RANDOM",
    MADV_SEQUENTIAL: "MADV_SEQUENTIAL",
    MADV_WILLNEED: "MADV_WILLNEED",
    MADV_DONTNEED: "MADV_DONTNEED",
    MADV_FREE: "MADV_FREE",
    MADV_HUGEPAGE: "MADV_HUGEPAGE",
    MADV_NOHUGEPAGE: "MADV_NOHUGEPAGE",
}

_PROT_ALL = PROT_READ | PROT_WRITE | PROT_EXEC
PROT_SEM = 0x8  # accepted by mprotect, without effect on x86
_FRAME_PTE = PTE_PRESENT | PTE_WRITABLE | PTE_USER | PTE_ACCESSED | PTE_DIRTY  # fresh anon page
_ZERO_PTE = (ZERO_PFN << PAGE_SHIFT) | PTE_PRESENT | PTE_USER | PTE_ACCESSED  # zero-page map

_Q = struct.Struct("<Q")
_unpack_q = _Q.unpack_from
_pack_q = _Q.pack_into
_I = struct.Struct("<I")
_unpack_i = _I.unpack_from
_pack_i = _I.pack_into


def page_align(n: int) -> int:
    return (n + PAGE_SIZE - 1) & PAGE_MASK


def _hex(va: int) -> str:
    return f"{va:#x}"


class AddressSpace:
    """One process's virtual memory (its mm_struct)."""

    def __init__(
        self,
        physmem: PhysicalMemory,
        *,
        pid: int = 1,
        comm: str = "a.out",
        mmap_base: int = TASK_SIZE - (128 << 20),
        stack_rlimit: int = 8 << 20,
        tlb_entries: int = 1536,
    ) -> None:
        self.physmem = physmem
        self.pid = pid  # for OOM-killer messages
        self.comm = comm
        self.pt = PageTable(physmem)
        self.tlb = TLB(tlb_entries)
        self.vmas = VmaList()
        self.pages: dict[int, PageAccess] = {}  # vpn -> access counters; never shrinks
        self.lazyfree: set[int] = set()  # vpns freed with MADV_FREE and not written since
        self.rss_pages = 0  # frames mapped (zero page excluded)
        self.hiwater_rss = 0  # updated before rss_pages drops; VmHWM = max(this, rss)
        self.total_vm = 0  # pages of all VMAs
        self.hiwater_vm = 0  # updated before total_vm drops; VmPeak = max(this, total_vm)
        self.minor_faults = 0
        self.mmap_base = mmap_base  # top-down mmap placement starts below this
        self.stack_rlimit = stack_rlimit  # RLIMIT_STACK: how far [stack] may grow
        self.start_code = self.end_code = 0  # the executable's text, for VmExe
        self.start_brk = self.brk_va = 0  # program break: [start_brk, brk_va) is the heap
        self.start_stack = 0  # an address inside the initial [stack]
        self.killed: str | None = None  # set when the OOM killer ended the process
        self._last_anon_vma = 0  # anon_vma ids are handed out in order
        # Hot-path aliases: the TLB's dicts never change identity.
        self._rtlb = self.tlb.read
        self._wtlb = self.tlb.write
        physmem.reclaimers.append(self._reclaim_lazyfree)

    # ======================================================================
    # Loads and stores (hot path: locals, no attribute chains, no checks that
    # the TLB makes unnecessary).
    # ======================================================================

    def load64(self, va: int) -> int:
        """Load the little-endian 8-byte word at va."""
        e = self._rtlb.get(va >> PAGE_SHIFT)
        if e is None:
            e = self._miss(va, False)
        e.reads += 1
        try:
            return _unpack_q(e.mem, va & 4095)[0]  # type: ignore[arg-type]
        except struct.error:  # the word crosses into the next page
            e.reads -= 1
            return int.from_bytes(self.read(va, 8), "little")

    def store64(self, va: int, value: int) -> None:
        """Store value as a little-endian 8-byte word at va."""
        e = self._wtlb.get(va >> PAGE_SHIFT)
        if e is None:
            e = self._miss(va, True)
        e.writes += 1
        try:
            _pack_q(e.mem, va & 4095, value)  # type: ignore[arg-type]
        except struct.error:
            e.writes -= 1
            if not 0 <= value < 1 << 64:
                raise
            self.write(va, value.to_bytes(8, "little"))

    def update64(self, va: int, keep: int, bits: int) -> int:
        """Read-modify-write the 8-byte word at va: (word & keep) | bits; returns it.

        One translation for both accesses (a store access: it faults the page in
        writable), as a compiled read-modify-write instruction does.
        """
        e = self._wtlb.get(va >> PAGE_SHIFT)
        if e is None:
            e = self._miss(va, True)
        e.reads += 1
        e.writes += 1
        off = va & 4095
        try:
            v = (_unpack_q(e.mem, off)[0] & keep) | bits  # type: ignore[arg-type]
            _pack_q(e.mem, off, v)  # type: ignore[arg-type]
        except struct.error:  # the word crosses into the next page
            e.reads -= 1
            e.writes -= 1
            v = (self.load64(va) & keep) | bits
            self.store64(va, v)
        return v

    def load32(self, va: int) -> int:
        """Load the little-endian 4-byte word at va."""
        e = self._rtlb.get(va >> PAGE_SHIFT)
        if e is None:
            e = self._miss(va, False)
        e.reads += 1
        try:
            return _unpack_i(e.mem, va & 4095)[0]  # type: ignore[arg-type]
        except struct.error:  # the word crosses into the next page
            e.reads -= 1
            return int.from_bytes(self.read(va, 4), "little")

    def store32(self, va: int, value: int) -> None:
        """Store value as a little-endian 4-byte word at va."""
        e = self._wtlb.get(va >> PAGE_SHIFT)
        if e is None:
            e = self._miss(va, True)
        e.writes += 1
        try:
            _pack_i(e.mem, va & 4095, value)  # type: ignore[arg-type]
        except struct.error:
            e.writes -= 1
            if not 0 <= value < 1 << 32:
                raise
            self.write(va, value.to_bytes(4, "little"))

    def load8(self, va: int) -> int:
        e = self._rtlb.get(va >> PAGE_SHIFT)
        if e is None:
            e = self._miss(va, False)
        e.reads += 1
        return e.mem[va & 4095]  # type: ignore[index]

    def store8(self, va: int, value: int) -> None:
        e = self._wtlb.get(va >> PAGE_SHIFT)
        if e is None:
            e = self._miss(va, True)
        e.writes += 1
        e.mem[va & 4095] = value  # type: ignore[index]

    def load_words(self, va: int, n: int) -> tuple[int, ...]:
        """n consecutive 8-byte words from va; one translation per page touched."""
        off = va & 4095
        if off + 8 * n <= PAGE_SIZE and n > 0:
            e = self._rtlb.get(va >> PAGE_SHIFT)
            if e is None:
                e = self._miss(va, False)
            e.reads += 1
            return struct.unpack_from(f"<{n}Q", e.mem, off)  # type: ignore[arg-type]
        return struct.unpack(f"<{n}Q", self.read(va, 8 * n))

    def store_words(self, va: int, values: Sequence[int]) -> None:
        """Store consecutive 8-byte words from va; one translation per page touched."""
        n = len(values)
        off = va & 4095
        if off + 8 * n <= PAGE_SIZE and n > 0:
            e = self._wtlb.get(va >> PAGE_SHIFT)
            if e is None:
                e = self._miss(va, True)
            e.writes += 1
            struct.pack_into(f"<{n}Q", e.mem, off, *values)  # type: ignore[arg-type]
            return
        self.write(va, struct.pack(f"<{n}Q", *values))

    def read(self, va: int, n: int) -> bytes:
        """n bytes from va, crossing pages as needed."""
        out = bytearray()
        end = va + n
        while va < end:
            chunk = min(end, (va & PAGE_MASK) + PAGE_SIZE) - va
            e = self._rtlb.get(va >> PAGE_SHIFT)
            if e is None:
                e = self._miss(va, False)
            e.reads += 1
            off = va & 4095
            out += e.mem[off : off + chunk]  # type: ignore[index]
            va += chunk
        return bytes(out)

    def write(self, va: int, data: bytes | bytearray | memoryview) -> None:
        """Store bytes at va, crossing pages as needed."""
        pos = 0
        n = len(data)
        while pos < n:
            chunk = min(n - pos, PAGE_SIZE - (va & 4095))
            e = self._wtlb.get(va >> PAGE_SHIFT)
            if e is None:
                e = self._miss(va, True)
            e.writes += 1
            off = va & 4095
            e.mem[off : off + chunk] = data[pos : pos + chunk]  # type: ignore[index]
            va += chunk
            pos += chunk

    def touch(self, va: int, nbytes: int, *, write: bool = False) -> None:
        """Access one byte of every page of [va, va + nbytes): read it, or write 1 to it."""
        first = va & PAGE_MASK
        for page in range(first, va + nbytes, PAGE_SIZE):
            a = max(page, va)
            if write:
                self.store8(a, 1)
            else:
                self.load8(a)

    # ======================================================================
    # TLB miss and the page-fault handler
    # ======================================================================

    def _miss(self, va: int, write: bool) -> PageAccess:
        """Walk the page tables for va, faulting if needed, and fill the TLB."""
        if self.killed:
            raise MachineError(f"mm: process {self.pid} was killed: {self.killed}")
        vpn = va >> PAGE_SHIFT
        pte = self.pt.lookup(vpn) if 0 <= va < TASK_SIZE else 0
        need = PTE_PRESENT | PTE_USER | (PTE_WRITABLE if write else 0)
        if pte & need != need:
            pte = self._fault(va, write)
        # The MMU sets the accessed bit on any use and the dirty bit on a store.
        bits = PTE_ACCESSED | (PTE_DIRTY if write else 0)
        if pte & bits != bits:
            pte |= bits
            self.pt.set(vpn, pte)
        if write:
            self.lazyfree.discard(vpn)
        entry = self.pages.get(vpn)
        if entry is None:
            entry = self.pages[vpn] = PageAccess()
        pfn = (pte & PTE_PFN_MASK) >> PAGE_SHIFT
        mem = ZERO_PAGE if pfn == ZERO_PFN else self.physmem.frame(pfn)
        writable = pte & (PTE_WRITABLE | PTE_DIRTY) == PTE_WRITABLE | PTE_DIRTY
        self.tlb.fill(vpn, entry, mem, writable)
        return entry

    def _fault(self, va: int, write: bool) -> int:
        """Handle a page fault at va; return the PTE now installed.

        Raises SegmentationFault for an access no VMA allows and
        OutOfMemoryKill when a frame is needed and none is left.
        """
        access = "write" if write else "read"
        if not 0 <= va < TASK_SIZE:
            raise SegmentationFault(va, access, "SEGV_MAPERR", "outside user space")
        vma = self.vmas.find(va)
        if vma is None:
            vma = self._expand_stack(va)
            if vma is None:
                raise SegmentationFault(va, access, "SEGV_MAPERR", "no mapping there")
        if write and not vma.prot & PROT_WRITE:
            raise SegmentationFault(
                va, access, "SEGV_ACCERR", f"mapping {vma.start:#x}-{vma.end:#x} is {vma.perms}"
            )
        if not vma.prot & _PROT_ALL:  # x86 cannot express write-only, so any of rwx reads
            raise SegmentationFault(
                va, access, "SEGV_ACCERR", f"mapping {vma.start:#x}-{vma.end:#x} is {vma.perms}"
            )
        self.minor_faults += 1
        vpn = va >> PAGE_SHIFT
        pte = self.pt.lookup(vpn)
        if pte & PTE_PRESENT and not write:
            return pte  # only the accessed bit was missing; _miss sets it
        if pte and not (write and pte_pfn(pte) == ZERO_PFN):
            # A private frame of ours that lacks write permission (do_wp_page
            # reuses it) or a PROT_NONE leftover: just upgrade the entry.
            pte = (pte & ~PTE_PROTNONE) | PTE_PRESENT
            if write:
                pte |= PTE_WRITABLE | PTE_DIRTY
            self.pt.set(vpn, pte)
            return pte
        if not write:  # do_anonymous_page, read: the zero page
            self._set_pte_or_oom(vpn, _ZERO_PTE)
            return _ZERO_PTE
        # do_anonymous_page (write) or copy-on-write from the zero page.
        if not vma.anon_vma:
            self._anon_vma_prepare(vma)
        try:
            pfn = self.physmem.alloc()
        except NoFreeFrames:
            raise self._oom_kill() from None
        self.physmem.frame(pfn)  # clear_page: a zeroed frame with bytes
        pte = (pfn << PAGE_SHIFT) | _FRAME_PTE
        try:
            self.pt.set(vpn, pte)
        except NoFreeFrames:
            self.physmem.free(pfn)
            raise self._oom_kill() from None
        self.rss_pages += 1
        return pte

    def _anon_vma_prepare(self, vma: VMA) -> None:
        """Give vma an anon_vma: a compatible neighbour's, or a new one (anon_vma_prepare).

        anon_vma_compatible: adjacent, same file, flags equal but for the
        access bits (so a neighbour that differs only in prot qualifies).
        """
        for other in (self.vmas.prev_before(vma.start - 1), self.vmas.next_after(vma.start)):
            if (
                other is not None
                and other.anon_vma
                and (other.end == vma.start or vma.end == other.start)
                and other.flags == vma.flags
                and other.path == vma.path
            ):
                vma.anon_vma = other.anon_vma
                return
        self._last_anon_vma += 1
        vma.anon_vma = self._last_anon_vma

    def _set_pte_or_oom(self, vpn: int, pte: int) -> None:
        try:
            self.pt.set(vpn, pte)
        except NoFreeFrames:
            raise self._oom_kill() from None

    def _oom_kill(self) -> OutOfMemoryKill:
        """The OOM killer picks this process: report it and free its memory."""
        err = OutOfMemoryKill(self.pid, self.comm, self.total_vm * 4, self.rss_pages * 4)
        self.exit_mm()
        self.killed = str(err)
        return err

    def stack_to_grow(self, va: int) -> VMA | None:
        """The VM_GROWSDOWN VMA a fault at unmapped va would grow, if the rules allow.

        expand_downwards: the stack may reach down to RLIMIT_STACK, not below
        vm.mmap_min_addr, and not within the guard gap of an accessible VMA
        below it. Changes nothing.
        """
        nxt = self.vmas.next_after(va)
        if nxt is None or not nxt.flags & VM_GROWSDOWN:
            return None
        new_start = va & PAGE_MASK
        if nxt.end - new_start > self.stack_rlimit or new_start < MMAP_MIN_ADDR:
            return None
        prev = self.vmas.prev_before(va)
        # The guard gap is kept only from accessible mappings.
        if prev is not None and prev.prot & _PROT_ALL and new_start - prev.end < STACK_GUARD_GAP:
            return None
        return nxt

    def _expand_stack(self, va: int) -> VMA | None:
        """Grow the stack down to cover va (see stack_to_grow); return it, or None."""
        nxt = self.stack_to_grow(va)
        if nxt is None:
            return None
        new_start = va & PAGE_MASK
        self.vmas.remove(nxt)
        self.total_vm += (nxt.start - new_start) >> PAGE_SHIFT
        nxt.start = new_start
        self.vmas.insert(nxt)
        return nxt

    # ======================================================================
    # mmap and get_unmapped_area
    # ======================================================================

    def mmap(
        self,
        length: int,
        prot: int = PROT_READ | PROT_WRITE,
        flags: int = MAP_PRIVATE | MAP_ANONYMOUS,
        addr: int = 0,
    ) -> int:
        """Map length bytes of anonymous private memory; return the address.

        Raises SyscallError (EINVAL, ENOMEM, EPERM, EEXIST) as the kernel would.
        """
        if flags & ~_KNOWN_MAP_FLAGS:
            raise SyscallError(
                EINVAL, f"mmap: unknown or unmodelled flags {flags & ~_KNOWN_MAP_FLAGS:#x}"
            )
        if flags & (MAP_SHARED | MAP_PRIVATE) != MAP_PRIVATE:
            raise SyscallError(EINVAL, "mmap: only MAP_PRIVATE mappings are modelled")
        if not flags & MAP_ANONYMOUS:
            raise SyscallError(EINVAL, "mmap: only anonymous (MAP_ANONYMOUS) mappings are modelled")
        prot &= _PROT_ALL  # do_mmap ignores bits it does not know (calc_vm_prot_bits)
        if length <= 0:
            raise SyscallError(EINVAL, f"mmap: length must be positive, got {length}")
        fixed = bool(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))
        if fixed and addr & ~PAGE_MASK:
            raise SyscallError(EINVAL, f"mmap: fixed address {_hex(addr)} is not page-aligned")
        size = page_align(length)
        if size > TASK_SIZE:
            raise SyscallError(ENOMEM, f"mmap: length {length} exceeds the address space")
        # Overcommit heuristic (vm.overcommit_memory=0): a single private
        # writable mapping larger than RAM (no swap here) is refused up front.
        # accountable_mapping: private writable memory is charged unless MAP_NORESERVE.
        vm_flags = VM_NORESERVE if flags & MAP_NORESERVE else 0
        if prot & PROT_WRITE and not vm_flags:
            self._charge("mmap", size >> PAGE_SHIFT)
            vm_flags = VM_ACCOUNT
        if fixed:
            if addr + size > TASK_SIZE:
                raise SyscallError(ENOMEM, f"mmap: [{_hex(addr)}, +{size:#x}) is beyond user space")
            if addr < MMAP_MIN_ADDR:
                raise SyscallError(EPERM, f"mmap: {_hex(addr)} is below vm.mmap_min_addr")
            if flags & MAP_FIXED_NOREPLACE and self.vmas.overlapping(addr, addr + size):
                raise SyscallError(EEXIST, f"mmap: [{_hex(addr)}, +{size:#x}) is already mapped")
            self._unmap_range(addr, addr + size)
        elif not addr and size % PMD_SIZE == 0:
            addr = self._thp_unmapped_area(size)
        else:
            addr = self.get_unmapped_area(addr, size)
        self.insert_vma(VMA(addr, addr + size, prot, vm_flags))
        return addr

    def _charge(self, call: str, npages: int) -> None:
        """The overcommit heuristic of vm.overcommit_memory=0 (__vm_enough_memory).

        One request for more pages than RAM (there is no swap) is refused;
        the total charged is not tracked.
        """
        if npages > self.physmem.total_frames:
            raise SyscallError(
                ENOMEM, f"{call}: {npages << PAGE_SHIFT} bytes exceed the overcommit limit (RAM)"
            )

    def insert_vma(self, vma: VMA) -> VMA:
        """List a new VMA over free addresses, count it in VmSize, merge it; return it."""
        self.vmas.insert(vma)
        self.total_vm += vma.npages
        return self.vmas.merge_around(vma)

    @staticmethod
    def _start_gap(v: VMA) -> int:
        """vm_start_gap: where v starts, counting a stack's guard gap below it."""
        if v.flags & VM_GROWSDOWN:
            return max(0, v.start - STACK_GUARD_GAP)
        return v.start

    def _gap_bounds(self, prev: VMA | None, nxt: VMA | None) -> tuple[int, int]:
        """The free range between prev and nxt, minus a stack's guard gap."""
        lo = prev.end if prev else 0
        hi = self._start_gap(nxt) if nxt else TASK_SIZE
        return lo, max(lo, hi)

    def _thp_unmapped_area(self, size: int) -> int:
        """A 2 MiB-aligned place for a mapping whose length is a multiple of 2 MiB.

        Linux >= 6.7 with transparent huge pages built in does this for
        anonymous mappings without a hint (thp_get_unmapped_area): ask for
        2 MiB more, then align inside the padded range; top-down, an area that
        is already aligned is shifted up by the padding to sit at its top.
        Falls back to plain placement if the padded length does not fit.
        """
        try:
            ret = self.get_unmapped_area(0, size + PMD_SIZE)
        except SyscallError:
            return self.get_unmapped_area(0, size)
        off_sub = -ret & (PMD_SIZE - 1)
        return ret + (off_sub or PMD_SIZE)

    def get_unmapped_area(self, hint: int, size: int) -> int:
        """Where a new mapping of size bytes goes (arch_get_unmapped_area_topdown).

        A page-aligned-down hint is used if the range there is free; else the
        highest gap below mmap_base; else the lowest gap above
        TASK_UNMAPPED_BASE; else ENOMEM.
        """
        if hint:
            hint = max(hint & PAGE_MASK, MMAP_MIN_ADDR)
            nxt = self.vmas.find(hint) or self.vmas.next_after(hint)
            if hint + size <= TASK_SIZE and (nxt is None or hint + size <= self._start_gap(nxt)):
                return hint
        low = max(PAGE_SIZE, MMAP_MIN_ADDR)
        vmas = list(self.vmas)
        # Top-down: walk gaps from the highest, clipped to [low, mmap_base].
        for i in range(len(vmas), -1, -1):
            prev = vmas[i - 1] if i > 0 else None
            nxt = vmas[i] if i < len(vmas) else None
            lo, hi = self._gap_bounds(prev, nxt)
            lo, hi = max(lo, low), min(hi, self.mmap_base)
            if hi - lo >= size:
                return (hi - size) & PAGE_MASK
        # Bottom-up fallback from TASK_UNMAPPED_BASE.
        for i in range(len(vmas) + 1):
            prev = vmas[i - 1] if i > 0 else None
            nxt = vmas[i] if i < len(vmas) else None
            lo, hi = self._gap_bounds(prev, nxt)
            lo = max(lo, TASK_UNMAPPED_BASE)
            if hi - lo >= size:
                return lo
        raise SyscallError(ENOMEM, f"mmap: no free range of {size} bytes")

    # ======================================================================
    # munmap
    # ======================================================================

    def munmap(self, addr: int, length: int) -> None:
        """Unmap [addr, addr + length); unmapped parts of the range are fine."""
        if addr & ~PAGE_MASK:
            raise SyscallError(EINVAL, f"munmap: address {_hex(addr)} is not page-aligned")
        if length <= 0:
            raise SyscallError(EINVAL, f"munmap: length must be positive, got {length}")
        size = page_align(length)
        if addr < 0 or addr + size > TASK_SIZE:
            raise SyscallError(EINVAL, f"munmap: [{_hex(addr)}, +{size:#x}) is beyond user space")
        self._unmap_range(addr, addr + size)

    def _split_range(self, start: int, end: int) -> list[VMA]:
        """Split VMAs at start and end; return those now inside [start, end)."""
        inside = self.vmas.overlapping(start, end)
        if not inside:
            return []
        if inside[0].start < start:
            inside[0] = self.vmas.split(inside[0], start)
        if inside[-1].end > end:
            self.vmas.split(inside[-1], end)
        return inside

    def _unmap_range(self, start: int, end: int) -> None:
        inside = self._split_range(start, end)
        if not inside:
            return
        self.hiwater_vm = max(self.hiwater_vm, self.total_vm)
        for v in inside:
            self.vmas.remove(v)
            self.total_vm -= v.npages
        lo, hi = start >> PAGE_SHIFT, end >> PAGE_SHIFT
        self._zap(lo, hi)
        # free_pgtables: tables that serve nothing between the neighbouring VMAs.
        prev = self.vmas.prev_before(start - 1) if start else None
        nxt = self.vmas.next_after(end - 1)
        floor = prev.end >> PAGE_SHIFT if prev is not None else 0
        ceiling = nxt.start >> PAGE_SHIFT if nxt is not None else 1 << 36
        self.pt.free_empty_tables(lo, hi, 3, floor, ceiling)

    def _zap(self, lo: int, hi: int) -> None:
        """Drop every PTE in [lo, hi) and free the frames (zap_page_range)."""
        self.tlb.flush_range(lo, hi)
        self.hiwater_rss = max(self.hiwater_rss, self.rss_pages)
        for vpn, pte in self.pt.zap(lo, hi):
            pfn = pte_pfn(pte)
            if pfn != ZERO_PFN:
                self.physmem.free(pfn)
                self.rss_pages -= 1
            self.lazyfree.discard(vpn)

    # ======================================================================
    # mprotect and madvise
    # ======================================================================

    def _covered_prefix(self, call: str, start: int, end: int) -> int:
        """End of the part of [start, end) that VMAs cover without a hole.

        ENOMEM if start itself is unmapped (then nothing has been changed).
        """
        cov = start
        for v in self.vmas.overlapping(start, end):
            if v.start > cov:
                break
            cov = v.end
        if cov == start:
            raise SyscallError(ENOMEM, f"{call}: {_hex(start)} is not mapped")
        return min(cov, end)

    def _modify_vmas(self, start: int, end: int, change: Callable[[VMA], None]) -> None:
        """Apply change to the VMAs of [start, end), split at its edges, then re-merge."""
        for v in self._split_range(start, end):
            change(v)
        for v in self.vmas.overlapping(max(0, start - 1), end + 1):
            if self.vmas.find(v.start) is v:  # not merged into a neighbour already
                self.vmas.merge_around(v)

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        """Change the protection of [addr, addr + length).

        As in Linux, a hole in the range gives ENOMEM after the VMAs before
        the hole have been changed; a hole at addr changes nothing.
        """
        if addr & ~PAGE_MASK:
            raise SyscallError(EINVAL, f"mprotect: address {_hex(addr)} is not page-aligned")
        if prot & ~(_PROT_ALL | PROT_SEM):  # x86's arch_validate_prot
            raise SyscallError(EINVAL, f"mprotect: bad prot {prot:#x}")
        prot &= _PROT_ALL  # PROT_SEM is accepted and means nothing on x86
        if length < 0:
            raise SyscallError(EINVAL, f"mprotect: negative length {length}")
        size = page_align(length)
        if size == 0:
            return
        end = addr + size
        if end > TASK_SIZE:
            raise SyscallError(ENOMEM, f"mprotect: [{_hex(addr)}, +{size:#x}) is beyond user space")
        cov = self._covered_prefix("mprotect", addr, end)
        # mprotect_fixup, VMA by VMA: private memory that becomes writable for
        # the first time is charged; a refusal stops the loop there.
        stop, refused = cov, None
        if prot & PROT_WRITE:
            for v in self.vmas.overlapping(addr, cov):
                if v.flags & (VM_ACCOUNT | VM_NORESERVE) or v.prot & PROT_WRITE:
                    continue
                lo_va = max(v.start, addr)
                try:
                    self._charge("mprotect", (min(v.end, cov) - lo_va) >> PAGE_SHIFT)
                except SyscallError as err:
                    stop, refused = lo_va, err
                    break

        def change(v: VMA) -> None:
            v.prot = prot
            if prot & PROT_WRITE and not v.flags & VM_NORESERVE:
                v.flags |= VM_ACCOUNT
            elif not prot & PROT_WRITE and v.anonymous and not v.anon_vma:
                v.flags &= ~VM_ACCOUNT  # never written: nothing to keep charged

        if stop > addr:
            self._modify_vmas(addr, stop, change)
        lo, hi = addr >> PAGE_SHIFT, stop >> PAGE_SHIFT
        self.tlb.flush_range(lo, hi)
        for vpn, pte in list(self.pt.present_in(lo, hi)):
            self.pt.set(vpn, self._pte_for_prot(pte, prot))
        if refused is not None:
            raise refused
        if cov < end:
            raise SyscallError(
                ENOMEM, f"mprotect: {_hex(cov)} is not mapped (range changed up to it)"
            )

    @staticmethod
    def _pte_for_prot(pte: int, prot: int) -> int:
        """change_pte_range: the PTE's bits under a new protection; the frame stays."""
        if not prot & _PROT_ALL:
            return (pte & ~(PTE_PRESENT | PTE_WRITABLE)) | PTE_PROTNONE
        pte = (pte & ~PTE_PROTNONE) | PTE_PRESENT
        # A private frame of our own may become writable at once; the zero page never.
        if prot & PROT_WRITE and pte_pfn(pte) != ZERO_PFN:
            return pte | PTE_WRITABLE
        return pte & ~PTE_WRITABLE

    def madvise(self, addr: int, length: int, advice: int) -> None:
        """Give advice about [addr, addr + length).

        As in Linux, holes in the range give ENOMEM after the advice has been
        applied to every mapped part.
        """
        name = MADV_NAMES.get(advice)
        if name is None:
            raise SyscallError(EINVAL, f"madvise: unknown or unmodelled advice {advice}")
        if addr & ~PAGE_MASK:
            raise SyscallError(EINVAL, f"madvise: address {_hex(addr)} is not page-aligned")
        if length < 0:
            raise SyscallError(EINVAL, f"madvise: negative length {length}")
        size = page_align(length)
        if size == 0:
            return
        end = addr + size
        if end > TASK_SIZE:
            raise SyscallError(ENOMEM, f"madvise: [{_hex(addr)}, +{size:#x}) is beyond user space")
        vmas = self.vmas.overlapping(addr, end)
        parts = [(max(v.start, addr), min(v.end, end), v.anonymous) for v in vmas]
        if not parts:
            raise SyscallError(ENOMEM, f"madvise: [{_hex(addr)}, +{size:#x}) is not mapped")
        for s, e, anonymous in parts:
            lo, hi = s >> PAGE_SHIFT, e >> PAGE_SHIFT
            if advice == MADV_FREE and not anonymous:
                # madvise_free_single_vma: file mappings refuse, after the VMAs before.
                raise SyscallError(EINVAL, f"madvise MADV_FREE: {_hex(s)} is a file mapping")
            if advice == MADV_DONTNEED:
                self._zap(lo, hi)
                # Kernels since 6.14 (CONFIG_PT_RECLAIM) free the PT pages whose
                # whole 2 MiB the range covered (reclaim_pt_is_enabled).
                self.pt.free_empty_tables(lo, hi, 1, lo, hi)
            elif advice == MADV_FREE:
                self._mark_lazyfree(lo, hi)
            elif advice in (MADV_HUGEPAGE, MADV_NOHUGEPAGE):
                on, off = (
                    (VM_HUGEPAGE, VM_NOHUGEPAGE)
                    if advice == MADV_HUGEPAGE
                    else (VM_NOHUGEPAGE, VM_HUGEPAGE)
                )
                self._modify_vmas(s, e, partial(_set_flags, on=on, off=off))
        covered = sum(e - s for s, e, _ in parts)
        if covered != size:
            raise SyscallError(
                ENOMEM, f"madvise {name}: part of [{_hex(addr)}, +{size:#x}) is not mapped"
            )

    def _mark_lazyfree(self, lo: int, hi: int) -> None:
        """MADV_FREE: clean the PTEs so reclaim may drop the frames unless written again."""
        self.tlb.flush_range(lo, hi)
        for vpn, pte in list(self.pt.present_in(lo, hi)):
            if pte_pfn(pte) == ZERO_PFN or not pte & PTE_PRESENT:
                continue
            self.pt.set(vpn, pte & ~PTE_DIRTY)
            self.lazyfree.add(vpn)

    def _reclaim_lazyfree(self, wanted: int) -> int:
        """Memory pressure: drop clean MADV_FREE pages (up to a batch of 32 past wanted)."""
        freed = 0
        for vpn in sorted(self.lazyfree):
            if freed >= max(wanted, 32):
                break
            self._zap(vpn, vpn + 1)
            freed += 1
        return freed

    # ======================================================================
    # brk
    # ======================================================================

    def brk(self, new_brk: int) -> int:
        """The brk system call: move the break; return the break now in force.

        Like the kernel, a refused move returns the old break (no errno).
        """
        if new_brk < self.start_brk:
            return self.brk_va
        old_top = page_align(self.brk_va)
        new_top = page_align(new_brk)
        if new_top == old_top:
            self.brk_va = new_brk
            return new_brk
        if new_top < old_top:
            self._unmap_range(new_top, old_top)
            self.brk_va = new_brk
            return new_brk
        nxt = self.vmas.next_after(old_top - 1)  # the first VMA at or above old_top
        if nxt is not None and new_top + PAGE_SIZE > self._start_gap(nxt):
            return self.brk_va  # would touch the next mapping (or a stack's guard gap)
        self._charge("brk", (new_top - old_top) >> PAGE_SHIFT)
        self.insert_vma(VMA(old_top, new_top, PROT_READ | PROT_WRITE, VM_ACCOUNT))
        self.brk_va = new_brk
        return new_brk

    def sbrk(self, increment: int) -> int:
        """The C library's sbrk: move the break by increment; return the old break."""
        old = self.brk_va
        if increment and self.brk(old + increment) != old + increment:
            raise SyscallError(ENOMEM, f"sbrk: cannot move the break by {increment}")
        return old

    # ======================================================================
    # Exit, observation, invariants
    # ======================================================================

    def exit_mm(self) -> None:
        """Release everything (exit_mmap): frames, VMAs and page tables."""
        for v in list(self.vmas):
            self._unmap_range(v.start, v.end)
        self.tlb.flush_all()
        self.pt.release_all()
        self.physmem.reclaimers.remove(self._reclaim_lazyfree)

    def walk(self, va: int) -> list[WalkStep]:
        """The page walk for va, level by level (for printing)."""
        return self.pt.walk(va)

    def translate(self, va: int) -> int | None:
        """Physical address of va if its PTE is present now, else None (no fault)."""
        if not 0 <= va < TASK_SIZE:
            return None
        pte = self.pt.lookup(va >> PAGE_SHIFT)
        if not pte & PTE_PRESENT:
            return None
        return (pte_pfn(pte) << PAGE_SHIFT) | (va & 4095)

    def vma_name(self, v: VMA) -> str:
        """The name column of /proc/<pid>/maps for v."""
        if v.path:
            return v.path
        # vma_is_initial_heap / vma_is_initial_stack: the VMA overlaps
        # [start_brk, brk), or contains start_stack.
        if v.start < self.brk_va and v.end > self.start_brk:
            return "[heap]"
        if v.start <= self.start_stack <= v.end:
            return "[stack]"
        return ""

    def maps_entries(self) -> list[MapsEntry]:
        """The lines of /proc/<pid>/maps as records."""
        return [
            MapsEntry(
                v.start, v.end, v.perms, v.offset, v.dev[0], v.dev[1], v.inode, self.vma_name(v)
            )
            for v in self.vmas
        ]

    def maps_text(self) -> str:
        """/proc/<pid>/maps, exactly as the kernel prints it."""
        return "".join(e.format() + "\n" for e in self.maps_entries())

    def status_text(self) -> str:
        """The memory lines of /proc/<pid>/status (VmPeak … VmSwap)."""
        s = self.statistics()
        return format_status_memory(
            {
                "VmPeak": s.vm_peak_kb,
                "VmSize": s.vm_size_kb,
                "VmLck": s.vm_lck_kb,
                "VmPin": s.vm_pin_kb,
                "VmHWM": s.vm_hwm_kb,
                "VmRSS": s.vm_rss_kb,
                "RssAnon": s.rss_anon_kb,
                "RssFile": s.rss_file_kb,
                "RssShmem": s.rss_shmem_kb,
                "VmData": s.vm_data_kb,
                "VmStk": s.vm_stk_kb,
                "VmExe": s.vm_exe_kb,
                "VmLib": s.vm_lib_kb,
                "VmPTE": s.vm_pte_kb,
                "VmSwap": s.vm_swap_kb,
            }
        )

    def reading(self) -> MemoryReading:
        return MemoryReading(self.total_vm * 4, self.rss_pages * 4, self.minor_faults)

    def accesses(self) -> dict[int, tuple[int, int]]:
        """vpn -> (reads, writes) for every page accessed so far."""
        return {vpn: (e.reads, e.writes) for vpn, e in self.pages.items()}

    def statistics(self) -> MemoryStatus:
        data = stack = exec_ = 0
        for v in self.vmas:
            if v.flags & VM_GROWSDOWN:
                stack += v.npages
            elif v.prot & PROT_WRITE:
                data += v.npages
            elif v.prot & PROT_EXEC:
                exec_ += v.npages
        text_pages = (page_align(self.end_code) - (self.start_code & PAGE_MASK)) >> PAGE_SHIFT
        text_pages = min(text_pages, exec_)
        rss_kb = self.rss_pages * 4
        lookups = sum(e.reads + e.writes for e in self.pages.values())
        return MemoryStatus(
            vm_peak_kb=max(self.hiwater_vm, self.total_vm) * 4,
            vm_size_kb=self.total_vm * 4,
            vm_lck_kb=0,
            vm_pin_kb=0,
            vm_hwm_kb=max(self.hiwater_rss, self.rss_pages) * 4,
            vm_rss_kb=rss_kb,
            rss_anon_kb=rss_kb,
            rss_file_kb=0,
            rss_shmem_kb=0,
            vm_data_kb=data * 4,
            vm_stk_kb=stack * 4,
            vm_exe_kb=text_pages * 4,
            vm_lib_kb=(exec_ - text_pages) * 4,
            vm_pte_kb=self.pt.nr_pgtable_pages * 4,
            vm_swap_kb=0,
            minor_faults=self.minor_faults,
            tlb_hits=lookups - self.tlb.misses,
            tlb_misses=self.tlb.misses,
        )

    def check_invariants(self) -> None:
        self.vmas.check_invariants()
        self.pt.check_invariants()
        self.tlb.check_invariants()
        if self.total_vm != sum(v.npages for v in self.vmas):
            raise MachineError("mm.check_invariants: total_vm drifted from the VMAs")
        frames = 0
        for vpn, pte in self.pt.present_in(0, TASK_SIZE >> PAGE_SHIFT):
            if self.vmas.find(vpn << PAGE_SHIFT) is None:
                raise MachineError(
                    f"mm.check_invariants: PTE outside every VMA at {vpn << PAGE_SHIFT:#x}"
                )
            if pte_pfn(pte) != ZERO_PFN:
                frames += 1
            if vpn in self.lazyfree and pte & PTE_DIRTY:
                raise MachineError("mm.check_invariants: a written page is still lazy-free")
        if frames != self.rss_pages:
            raise MachineError(
                f"mm.check_invariants: rss_pages {self.rss_pages} != {frames} mapped frames"
            )
        for vpn in self.tlb.read:
            pte = self.pt.lookup(vpn)
            if not pte & PTE_PRESENT:
                raise MachineError(
                    f"mm.check_invariants: stale TLB entry for {vpn << PAGE_SHIFT:#x}"
                )
            if vpn in self.tlb.write and not pte & PTE_WRITABLE:
                raise MachineError(
                    f"mm.check_invariants: TLB allows writes the PTE forbids at {vpn:#x}"
                )


def _set_flags(v: VMA, on: int, off: int) -> None:
    v.flags = (v.flags & ~off) | on
