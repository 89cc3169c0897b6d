"""`gomem vm`: the simulated machine — walkthrough, page walks, maps, status."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from gomem.machine import (
    MADV_DONTNEED,
    MAP_ANONYMOUS,
    MAP_FIXED_NOREPLACE,
    MAP_PRIVATE,
    PAGE_SIZE,
    TASK_SIZE,
    Machine,
    Process,
    SegmentationFault,
    SyscallError,
)
from gomem.machine.pagetable import (
    LEVEL_NAMES,
    PTE_PRESENT,
    PTE_PROTNONE,
    USER_VA_END,
    describe_entry,
    is_canonical,
    pte_pfn,
)
from gomem.machine.vma import PROT_EXEC, PROT_READ, PROT_WRITE

from .args import BadInput, format_size, parse_address, parse_size

# Bytes mapped by one entry at each level: 512 GiB, 1 GiB, 2 MiB, 4 KiB.
_ENTRY_SPAN = ("512 GiB", "1 GiB", "2 MiB", "4 KiB")
_INDEX_BITS = ("47..39", "38..30", "29..21", "20..12")
MIN_WIDTH = 120


def add_parser(sub: Any) -> None:
    vm = sub.add_parser(
        "vm",
        help="the simulated x86-64 Linux machine",
        description="The simulated x86-64 Linux machine under the Go runtime.",
    )
    vsub = vm.add_subparsers(dest="vm_command", metavar="SUBCOMMAND", required=True)

    demo = vsub.add_parser(
        "demo",
        help="walk through a process's memory step by step",
        description="A new process's maps and status, a page walk, then "
        "mmap -> read -> write -> madvise -> munmap with VSZ/RSS/faults after "
        "each step.",
    )
    demo.add_argument(
        "--size",
        type=parse_size,
        default=64 << 20,
        metavar="SIZE",
        help="bytes to mmap in the walkthrough (default 64MiB)",
    )
    _add_process_options(demo)
    demo.set_defaults(run=run_demo, prog=demo.prog)

    walk = vsub.add_parser(
        "walk",
        help="print the 4-level page walk of an address",
        description="Print how the MMU translates ADDRESS in a new process: "
        "the index at each level, the entry found, and what an access would do.",
    )
    walk.add_argument(
        "address",
        type=parse_address,
        metavar="ADDRESS",
        help="virtual address, hex (0x7f0000001234) or decimal",
    )
    walk.add_argument(
        "--mmap",
        type=parse_size,
        default=0,
        metavar="SIZE",
        help="first mmap SIZE bytes of anonymous memory at the address's page",
    )
    walk.add_argument(
        "--touch",
        choices=("read", "write"),
        help="first read or write the address (demand paging happens)",
    )
    _add_process_options(walk)
    walk.set_defaults(run=run_walk, prog=walk.prog)

    maps = vsub.add_parser(
        "maps",
        help="print /proc/<pid>/maps of a new process",
        description="Print /proc/<pid>/maps of a new process, in the kernel's format.",
    )
    _add_process_options(maps)
    maps.set_defaults(run=lambda a: _print_raw(_spawn(a).maps()), prog=maps.prog)

    status = vsub.add_parser(
        "status",
        help="print the memory lines of /proc/<pid>/status",
        description="Print the memory lines of /proc/<pid>/status of a new "
        "process, in the kernel's format.",
    )
    _add_process_options(status)
    status.set_defaults(run=lambda a: _print_raw(_spawn(a).status()), prog=status.prog)


def _add_process_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--aslr",
        action="store_true",
        help="randomize the layout as Linux does (seeded; default: ASLR off)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for --aslr (default 0)")


def _spawn(args: argparse.Namespace) -> Process:
    return Machine().spawn("app", aslr=args.aslr, seed=args.seed)


def _print_raw(text: str) -> int:
    print(text, end="")
    return 0


def console() -> Console:
    """A console whose output depends only on what is printed (and colour on a terminal).

    Tables are laid out for at least MIN_WIDTH columns, so output piped to a
    file is the same whatever the terminal's width.
    """
    con = Console(highlight=False, soft_wrap=True)
    con.width = max(con.width, MIN_WIDTH)
    return con


# -- page walk ---------------------------------------------------------------


def describe_walk(p: Process, va: int) -> list[str]:
    """The page walk of va in p, in words, one line per list item."""
    lines = [f"Page walk of {va:#x} in process {p.pid} ({p.comm}), CR3 = pfn {p.mm.pt.root.pfn:#x}"]
    if not is_canonical(va):
        lines.append("  bits 63..48 are not a copy of bit 47: the address is not canonical.")
        lines.append("  The CPU raises a general-protection fault without walking: SIGSEGV.")
        return lines
    if va >= USER_VA_END:
        lines.append("  A kernel-half address: the walk would find supervisor-only entries,")
        lines.append("  so a user access faults: SIGSEGV (SEGV_MAPERR).")
        return lines
    if va >= TASK_SIZE:
        lines.append(
            f"  The top page of the user half: Linux never maps above TASK_SIZE = {TASK_SIZE:#x},"
        )
        lines.append("  so an access faults: SIGSEGV (SEGV_MAPERR).")
        return lines
    lines.append("")
    for level, bits in enumerate(_INDEX_BITS):
        shift = 39 - 9 * level
        lines.append(f"  bits {bits:<7}  {LEVEL_NAMES[level]:<4} index {(va >> shift) & 511:>3}")
    lines.append(f"  bits 11..0    offset {va & 4095:#07x}")
    lines.append("")
    steps = p.mm.walk(va)
    for step in steps:
        level = LEVEL_NAMES.index(step.level)
        head = f"  {step.level:<4} table at pfn {step.table_pfn:#x}, entry {step.index:>3}: "
        if not step.entry:
            lines.append(head + "none")
            below = LEVEL_NAMES[level + 1] if level < 3 else "frame"
            lines.append(
                f"       no {below} here: nothing in this {_ENTRY_SPAN[level]} is mapped yet"
            )
            break
        what = f"-> {LEVEL_NAMES[level + 1]} at pfn {pte_pfn(step.entry):#x}" if level < 3 else ""
        lines.append(head + f"{step.entry:#018x}  {describe_entry(step.entry)} {what}".rstrip())
    leaf = steps[-1].entry if len(steps) == 4 else 0
    if leaf & PTE_PRESENT:
        pa = (pte_pfn(leaf) << 12) | (va & 4095)
        lines.append(
            f"  physical address = pfn {pte_pfn(leaf):#x} << 12 | {va & 4095:#x} = {pa:#x}"
        )
    lines.append("")
    vma = p.mm.vmas.find(va)
    if vma is None:
        lines.append(f"VMA: none contains {va:#x}.")
    else:
        name = p.mm.vma_name(vma) or "anonymous"
        lines.append(f"VMA: {vma.start:#x}-{vma.end:#x} {vma.perms} {name}")
    lines.append(_outcome(p, va, leaf))
    return lines


def _outcome(p: Process, va: int, leaf: int) -> str:
    vma = p.mm.vmas.find(va)
    if vma is None:
        if p.mm.stack_to_grow(va) is not None:
            return "An access would fault and the kernel would grow [stack] down to cover it."
        return "An access would fault: SIGSEGV (SEGV_MAPERR), no mapping there."
    if vma.path and not leaf & (PTE_PRESENT | PTE_PROTNONE):
        return (
            "A page of the executable, not touched yet. Linux would map the file's page from "
            "the page cache (RssFile); the model does not load files and faults in zeroes."
        )
    readable = bool(vma.prot & (PROT_READ | PROT_WRITE | PROT_EXEC))
    writable = bool(vma.prot & PROT_WRITE)
    if not readable:
        kept = " (its frame is kept)" if leaf & PTE_PROTNONE else ""
        return f"PROT_NONE: any access would fault: SIGSEGV (SEGV_ACCERR){kept}."
    if vma.path and leaf & PTE_PRESENT:
        return (
            f"A page of the executable, resident in frame {pte_pfn(leaf):#x} (Linux would map the "
            "file's page from the page cache; the model faulted in zeroes)."
        )
    if leaf & PTE_PRESENT and pte_pfn(leaf) == 0:
        if writable:
            return (
                "Maps the shared zero page read-only: reads see zeroes; the first write "
                "copies on write into a new frame (minor fault, RSS +4 kB)."
            )
        return (
            "Maps the shared zero page read-only: reads see zeroes; "
            "a write is SIGSEGV (SEGV_ACCERR)."
        )
    if leaf & PTE_PRESENT:
        store = "stores too" if writable else "a store is SIGSEGV (SEGV_ACCERR)"
        return f"Resident: loads go straight to frame {pte_pfn(leaf):#x}; {store}."
    write = (
        "a write would allocate a zeroed frame (minor fault, RSS +4 kB)"
        if writable
        else "a write would be SIGSEGV (SEGV_ACCERR)"
    )
    return (
        "Not touched yet: a read would map the shared zero page (minor fault, RSS +0), "
        + write
        + "."
    )


def run_walk(args: argparse.Namespace) -> int:
    p = _spawn(args)
    va = args.address
    notes = []
    if args.mmap:
        try:
            got = p.mmap(
                args.mmap,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                va & ~(PAGE_SIZE - 1),
            )
            notes.append(f"mmap: mapped {args.mmap} bytes at {got:#x}")
        except SyscallError as err:
            notes.append(f"mmap: {err}")
    if args.touch:
        try:
            if args.touch == "write":
                p.store8(va, 0x2A)
            else:
                p.load8(va)
            notes.append(f"touch: {args.touch} at {va:#x} done")
        except SegmentationFault as err:
            notes.append(f"touch: {err}")
    lines = notes + ([""] if notes else []) + describe_walk(p, va)
    print("\n".join(lines))
    return 0


# -- the walkthrough ---------------------------------------------------------


def run_demo(args: argparse.Namespace) -> int:
    size = args.size
    if size <= 0 or size % (2 * PAGE_SIZE):
        raise BadInput(f"--size must be a positive multiple of {2 * PAGE_SIZE} bytes, got {size}")
    con = console()
    p = _spawn(args)
    con.print(
        "[bold]1. A new process[/bold]: a small statically linked Go binary, "
        f"pid {p.pid}, ASLR {f'on (seed {args.seed})' if args.aslr else 'off'}."
    )
    con.print("/proc/<pid>/maps (no \\[heap] line: Go never calls brk):\n")
    _print_raw(p.maps())
    con.print("\n/proc/<pid>/status, memory lines:\n")
    _print_raw(p.status())
    top = p.mm.start_stack
    con.print(
        f"\n[bold]2. A page walk[/bold] of the stack's top page ({top:#x}), "
        "which the kernel wrote argv/envp into:\n"
    )
    print("\n".join(describe_walk(p, top)))

    con.print(f"\n[bold]3. Demand paging[/bold] of {format_size(size)} of anonymous memory:\n")
    half = size // 2
    rows: list[tuple[str, str]] = []
    before = p.statistics()

    def step(what: str, why: str) -> None:
        nonlocal before
        after = p.statistics()
        rows.append((what, why))
        table.add_row(
            what,
            f"{after.vm_size_kb:,}",
            _delta(after.vm_size_kb - before.vm_size_kb),
            f"{after.vm_rss_kb:,}",
            _delta(after.vm_rss_kb - before.vm_rss_kb),
            f"{after.minor_faults:,}",
            _delta(after.minor_faults - before.minor_faults),
            f"{after.vm_pte_kb}",
        )
        before = after

    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    table.add_column("step", no_wrap=True)
    for col in ("VSZ kB", "Δ", "RSS kB", "Δ", "faults", "Δ", "VmPTE kB"):
        table.add_column(col, justify="right")
    addr = p.mmap(size)
    step(f"mmap {format_size(size)}", "mmap only creates a VMA: VSZ grows, RSS does not")
    p.touch(addr, half)
    step("read first half", "each first read maps the shared zero page: a minor fault, no RSS")
    p.touch(addr, half, write=True)
    step("write first half", "each first write copies on write from the zero page: +4 kB per page")
    p.touch(addr + half, half, write=True)
    step("write second half", "untouched pages: the first write allocates a zeroed frame")
    p.madvise(addr, half, MADV_DONTNEED)
    step("madvise DONTNEED 1st half", "frames are freed; the next read would see zeroes")
    p.munmap(addr, size)
    step(
        f"munmap {format_size(size)}", "the VMA and the remaining frames go; page tables are freed"
    )
    con.print(table)
    con.print()
    for what, why in rows:
        con.print(f"  {what}: {why}.")
    s = p.statistics()
    con.print(
        f"\nVmPeak {s.vm_peak_kb:,} kB and VmHWM {s.vm_hwm_kb:,} kB keep the high-water marks; "
        f"of {s.tlb_hits + s.tlb_misses:,} translations, "
        f"{s.tlb_misses:,} missed the TLB and walked the page tables."
    )
    con.print("Compare with the real kernel: gomem probe demand-paging")
    return 0


def _delta(n: int) -> str:
    return f"{n:+,}" if n else "0"
