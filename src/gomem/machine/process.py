"""The machine and its processes: an x86-64 Linux process layout.

Models what fs/binfmt_elf.c (load_elf_binary) and arch/x86/mm/mmap.c
(arch_pick_mmap_layout) set up for a new process, and what
/proc/<pid>/maps then shows, from low addresses to high:

    text    r-xp  the executable's code (0x400000 for a non-PIE binary, as Go builds)
    rodata  r--p  read-only data
    data    rw-p  initialised data (a private file mapping)
    bss     rw-p  zero-initialised data (anonymous)
    [heap]        the brk area, growing up from the end of bss (absent until brk moves;
                  a pure Go program never uses it)
    ...           free: top-down mmap placement starts at mmap_base and goes down
    [stack]       the main thread's stack, growing down from the top of user space,
                  with a guard gap of 1 MiB that mmap placement keeps free

With ASLR off (the default) the layout is Linux's with `setarch -R`:
stack top = TASK_SIZE = 0x7ffffffff000, mmap_base = TASK_SIZE - 128 MiB,
start_brk = end of bss. With ASLR on, a seeded RNG draws the offsets with
Linux's ranges (mmap: 28 bits of pages, stack: 22 bits of pages, brk: up to
32 MiB), so the same seed gives the same layout.

Simplified: the executable's pages are never faulted in from a file (they
read as zeroes and RssFile stays 0); there is no dynamic loader, vdso, vvar
or vsyscall page; the initial stack holds one written page (argv, envp and
auxv) instead of their real contents.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import MachineError
from .mm import STACK_GUARD_GAP, TASK_SIZE, AddressSpace, page_align
from .physmem import PAGE_SHIFT, PAGE_SIZE, PhysicalMemory
from .stats import MemoryReading, MemoryStatus, PhysicalStatus
from .vma import PROT_EXEC, PROT_READ, PROT_WRITE, VM_ACCOUNT, VM_GROWSDOWN, VMA

INITIAL_STACK = 132 << 10  # setup_arg_pages leaves 128 KiB + the argument page(s)
MIN_GAP = 128 << 20  # mmap_base keeps at least this much below the stack top
STACK_RND_PAGES = 0x3FFFFF  # STACK_RND_MASK on x86-64: 22 bits of pages
MMAP_RND_BITS = 28  # vm.mmap_rnd_bits default
BRK_RND = 0x0200_0000  # arch_randomize_brk: up to 32 MiB


@dataclass(frozen=True, slots=True)
class ExecutableImage:
    """Sizes and identity of the ELF executable a process runs.

    Defaults are the segments of a small statically linked Go 1.24 program
    (non-PIE at 0x400000), as /proc/self/maps showed them for a go1.24.3
    linux/amd64 binary that reads its own maps and status.
    """

    path: str = "/usr/local/bin/app"
    text_bytes: int = 0x9F000
    rodata_bytes: int = 0xCD000
    data_bytes: int = 0xB000
    bss_bytes: int = 0x23000
    base: int = 0x400000  # where text starts
    dev: tuple[int, int] = (0xFE, 0x00)  # device of the file, shown in maps
    inode: int = 1_048_577

    def __post_init__(self) -> None:
        for name in ("text_bytes", "rodata_bytes", "data_bytes", "bss_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"ExecutableImage.{name} must be >= 0")
        if self.text_bytes == 0:
            raise ValueError("ExecutableImage.text_bytes must be > 0")
        if self.base % PAGE_SIZE or self.base < 65536:
            raise ValueError(
                f"ExecutableImage.base {self.base:#x} must be page-aligned and >= 0x10000"
            )


class Process:
    """A process: a pid, a name and an address space.

    System calls are methods; loads and stores are the address space's own
    bound methods, so calling them through the process costs nothing extra.
    """

    load64: Callable[[int], int]
    store64: Callable[[int, int], None]
    update64: Callable[[int, int, int], int]
    load32: Callable[[int], int]
    store32: Callable[[int, int], None]
    load8: Callable[[int], int]
    store8: Callable[[int, int], None]
    load_words: Callable[[int, int], tuple[int, ...]]
    store_words: Callable[[int, Sequence[int]], None]
    read: Callable[[int, int], bytes]
    write: Callable[[int, bytes | bytearray | memoryview], None]

    def __init__(
        self,
        machine: Machine,
        pid: int,
        comm: str,
        image: ExecutableImage,
        *,
        aslr: bool,
        seed: int,
        tlb_entries: int,
    ) -> None:
        self.machine = machine
        self.pid = pid
        self.comm = comm[:15]  # TASK_COMM_LEN - 1
        self.image = image
        rng = random.Random(seed) if aslr else None
        stack_top = TASK_SIZE
        if rng is not None:
            stack_top -= rng.randrange(STACK_RND_PAGES + 1) << PAGE_SHIFT
        # arch_pick_mmap_layout: the gap below the stack is the stack rlimit
        # plus the stack's random range and guard gap, at least 128 MiB.
        stack_rlimit = 8 << 20
        gap = stack_rlimit + STACK_GUARD_GAP + ((STACK_RND_PAGES << PAGE_SHIFT) if rng else 0)
        gap = min(max(gap, MIN_GAP), TASK_SIZE // 6 * 5)
        mmap_rnd = (rng.getrandbits(MMAP_RND_BITS) << PAGE_SHIFT) if rng else 0
        mmap_base = page_align(TASK_SIZE - gap - mmap_rnd)
        self.mm = mm = AddressSpace(
            machine.physmem,
            pid=pid,
            comm=self.comm,
            mmap_base=mmap_base,
            stack_rlimit=stack_rlimit,
            tlb_entries=tlb_entries,
        )
        self._load_image(image, rng)
        stack_lo = stack_top - INITIAL_STACK
        mm.insert_vma(VMA(stack_lo, stack_top, PROT_READ | PROT_WRITE, VM_GROWSDOWN))
        mm.start_stack = stack_top - PAGE_SIZE  # where argc sits, near the top
        mm.store64(mm.start_stack, 1)  # the kernel wrote argc/argv/envp/auxv here
        for name in (
            "load64",
            "store64",
            "update64",
            "load32",
            "store32",
            "load8",
            "store8",
            "load_words",
            "store_words",
            "read",
            "write",
        ):
            setattr(self, name, getattr(mm, name))

    def _load_image(self, image: ExecutableImage, rng: random.Random | None) -> None:
        mm = self.mm
        va = image.base
        offset = 0
        # Private writable segments are charged (VM_ACCOUNT), as mmap charges them.
        for nbytes, prot, flags in (
            (image.text_bytes, PROT_READ | PROT_EXEC, 0),
            (image.rodata_bytes, PROT_READ, 0),
            (image.data_bytes, PROT_READ | PROT_WRITE, VM_ACCOUNT),
        ):
            if nbytes:
                size = page_align(nbytes)
                mm.insert_vma(
                    VMA(va, va + size, prot, flags, image.path, offset, image.dev, image.inode)
                )
                va += size
                offset += size
        mm.start_code = image.base
        mm.end_code = image.base + image.text_bytes
        if image.bss_bytes:
            size = page_align(image.bss_bytes)
            mm.insert_vma(VMA(va, va + size, PROT_READ | PROT_WRITE, VM_ACCOUNT))
            va += size
        brk = va
        if rng is not None:
            brk += rng.randrange(BRK_RND >> PAGE_SHIFT) << PAGE_SHIFT
        mm.start_brk = mm.brk_va = brk

    # -- system calls -------------------------------------------------------

    def mmap(
        self,
        length: int,
        prot: int = PROT_READ | PROT_WRITE,
        flags: int | None = None,
        addr: int = 0,
    ) -> int:
        """mmap(2) for anonymous private memory; see AddressSpace.mmap."""
        if flags is None:
            return self.mm.mmap(length, prot, addr=addr)
        return self.mm.mmap(length, prot, flags, addr)

    def munmap(self, addr: int, length: int) -> None:
        self.mm.munmap(addr, length)

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        self.mm.mprotect(addr, length, prot)

    def madvise(self, addr: int, length: int, advice: int) -> None:
        self.mm.madvise(addr, length, advice)

    def brk(self, addr: int) -> int:
        return self.mm.brk(addr)

    def sbrk(self, increment: int) -> int:
        return self.mm.sbrk(increment)

    def touch(self, va: int, nbytes: int, *, write: bool = False) -> None:
        self.mm.touch(va, nbytes, write=write)

    def exit(self) -> None:
        """Release all memory and leave the machine's process table."""
        if self.mm.killed is None:
            self.mm.exit_mm()
            self.mm.killed = "exited"
        self.machine.processes.pop(self.pid, None)

    # -- observation --------------------------------------------------------

    def maps(self) -> str:
        """/proc/<pid>/maps."""
        return self.mm.maps_text()

    def status(self) -> str:
        """The memory lines of /proc/<pid>/status."""
        return self.mm.status_text()

    def statistics(self) -> MemoryStatus:
        return self.mm.statistics()

    def reading(self) -> MemoryReading:
        return self.mm.reading()

    def check_invariants(self) -> None:
        self.mm.check_invariants()


class Machine:
    """An x86-64 Linux machine: physical memory and a process table."""

    def __init__(self, memory_bytes: int = 16 << 30, *, tlb_entries: int = 1536) -> None:
        self.physmem = PhysicalMemory(memory_bytes)
        self.tlb_entries = tlb_entries
        self.processes: dict[int, Process] = {}
        self._next_pid = 1000  # deterministic pids

    def spawn(
        self,
        comm: str = "app",
        image: ExecutableImage | None = None,
        *,
        aslr: bool = False,
        seed: int = 0,
    ) -> Process:
        """Start a process running `image` (a small Go binary by default)."""
        pid = self._next_pid
        self._next_pid += 1
        p = Process(
            self,
            pid,
            comm,
            image or ExecutableImage(),
            aslr=aslr,
            seed=seed,
            tlb_entries=self.tlb_entries,
        )
        self.processes[pid] = p
        return p

    def statistics(self) -> PhysicalStatus:
        return self.physmem.statistics()

    def check_invariants(self) -> None:
        self.physmem.check_invariants()
        for p in self.processes.values():
            p.check_invariants()
        used = sum(p.mm.rss_pages + sum(p.mm.pt.table_pages) for p in self.processes.values())
        if used != self.physmem.used_frames:
            raise MachineError(
                f"machine.check_invariants: {self.physmem.used_frames} frames used, "
                f"processes account for {used}"
            )
