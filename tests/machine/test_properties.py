"""Random sequences of memory system calls and accesses, checked against a reference model.

A Hypothesis state machine drives mmap (MAP_FIXED, MAP_FIXED_NOREPLACE,
hints, free placement), munmap, mprotect, madvise and loads/stores over a
small window of 256 pages, so calls overlap, split and merge VMAs all the
time. Beside the model it keeps its own page-granular reference: the
protection of every mapped page, which pages must own a frame (written since
they were last mapped or dropped), and the value last stored in each page.
Linux's semantics at page granularity are easy to state, so the reference
predicts every outcome: which errno, which SIGSEGV reason, which bytes.

After every step:
  (a) maps lines are sorted and never overlap;
  (b) VmSize equals the sum of the maps lines, and 4 kB per reference page;
  (c) RssAnon equals a recount of frames from the page tables (present_in,
      pfn != 0) over the maps ranges, and the reference's count of pages
      that must own a frame;
  (d) the address space's and the machine's own invariants hold;
  (e) every tracked page holds its last stored value (read from the frame
      through the page tables, without faulting), zero if it was never
      written or was dropped by MADV_DONTNEED, munmap or MAP_FIXED.
MADV_FREE pages must keep their data here: the machine is far from memory
pressure.
"""

from __future__ import annotations

from errno import EEXIST, ENOMEM

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from gomem.machine import (
    MADV_DONTNEED,
    MADV_FREE,
    MADV_HUGEPAGE,
    MADV_NOHUGEPAGE,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_PRIVATE,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    ExecutableImage,
    Machine,
    SegmentationFault,
    SyscallError,
)
from gomem.machine.pagetable import pte_pfn

PAGE = 4096
WINDOW_PAGES = 256
# The window straddles the 2 MiB boundary at 0x10000000, so page tables of two
# PTs are built and freed.
WINDOW = 0x10000000 - (WINDOW_PAGES // 2) * PAGE
WINDOW_VPNS = range(WINDOW >> 12, (WINDOW >> 12) + WINDOW_PAGES)
STACK_TOP = 0x7FFFFFFFF000
OFF = 0x48  # where in a page the test stores its 8-byte values
ANON = MAP_PRIVATE | MAP_ANONYMOUS
MAX_NPAGES = 64  # the longest mapping or range one call makes
# Calls start inside the window but may run up to MAX_NPAGES - 1 pages past it.
REACH_VPNS = range(WINDOW_VPNS[0], WINDOW_VPNS[-1] + MAX_NPAGES)

IMAGE = ExecutableImage(text_bytes=PAGE, rodata_bytes=PAGE, data_bytes=PAGE, bss_bytes=PAGE)

PROTS = [
    PROT_NONE,
    PROT_READ,
    PROT_READ | PROT_WRITE,
    PROT_READ | PROT_EXEC,
    PROT_WRITE,
    PROT_READ | PROT_WRITE | PROT_EXEC,
]
PERMS_TO_PROT = {
    "---p": PROT_NONE,
    "r--p": PROT_READ,
    "rw-p": PROT_READ | PROT_WRITE,
    "r-xp": PROT_READ | PROT_EXEC,
    "-w-p": PROT_WRITE,
    "rwxp": PROT_READ | PROT_WRITE | PROT_EXEC,
    "--xp": PROT_EXEC,
    "-wxp": PROT_WRITE | PROT_EXEC,
}

offsets = st.integers(0, WINDOW_PAGES - 1)
npages = st.integers(1, MAX_NPAGES)
prots = st.sampled_from(PROTS)
values = st.integers(1, (1 << 64) - 1)


def maps_lines(text: str) -> list[tuple[int, int, str]]:
    out = []
    for line in text.splitlines():
        fields = line.split()
        lo, hi = fields[0].split("-")
        out.append((int(lo, 16), int(hi, 16), fields[1]))
    return out


class AddressSpaceOps(RuleBasedStateMachine):
    """One process on a 256 MiB machine, and a page-by-page reference of what it should be."""

    def __init__(self) -> None:
        super().__init__()
        self.machine = Machine(256 << 20)
        self.proc = self.machine.spawn("prop", IMAGE)
        self.mm = self.proc.mm
        # Reference model, page by page.
        self.prot: dict[int, int] = {}  # vpn -> prot, for every mapped page
        for start, end, perms in maps_lines(self.proc.maps()):
            for vpn in range(start >> 12, end >> 12):
                self.prot[vpn] = PERMS_TO_PROT[perms]
        self.framed: set[int] = {(STACK_TOP - PAGE) >> 12}  # spawn wrote argc there
        self.value: dict[int, int] = {}  # vpn -> 8 bytes at OFF, for pages mapped here

    @initialize(prot=st.sampled_from([PROT_READ | PROT_WRITE, PROT_NONE]))
    def map_the_window(self, prot: int) -> None:
        """Start from a window that is all mapped, so that later calls collide."""
        assert self.proc.mmap(WINDOW_PAGES * PAGE, prot, ANON | MAP_FIXED, WINDOW) == WINDOW
        self._add(WINDOW_VPNS, prot)

    # -- reference helpers --------------------------------------------------

    def _vpns(self, addr: int, n: int) -> range:
        return range(addr >> 12, (addr >> 12) + n)

    def _drop(self, vpns: range) -> None:
        for vpn in vpns:
            self.prot.pop(vpn, None)
            self.framed.discard(vpn)
            self.value.pop(vpn, None)

    def _add(self, vpns: range, prot: int) -> None:
        for vpn in vpns:
            self.prot[vpn] = prot
            self.value[vpn] = 0  # a fresh anonymous page reads as zeroes

    def _is_free(self, vpns: range) -> bool:
        return not any(v in self.prot for v in vpns)

    # -- mmap ---------------------------------------------------------------

    @rule(data=st.data(), n=npages, prot=prots)
    def mmap_fixed(self, data: st.DataObject, n: int, prot: int) -> None:
        addr = self._pick_start(data)
        assert self.proc.mmap(n * PAGE, prot, ANON | MAP_FIXED, addr) == addr
        self._drop(self._vpns(addr, n))  # MAP_FIXED replaces whatever was there
        self._add(self._vpns(addr, n), prot)

    @rule(data=st.data(), n=npages, prot=prots)
    def mmap_fixed_noreplace(self, data: st.DataObject, n: int, prot: int) -> None:
        addr = self._pick_page(data) << 12
        vpns = self._vpns(addr, n)
        try:
            got = self.proc.mmap(n * PAGE, prot, ANON | MAP_FIXED_NOREPLACE, addr)
        except SyscallError as e:
            assert e.errno == EEXIST
            assert not self._is_free(vpns)
            return
        assert self._is_free(vpns)
        assert got == addr
        self._add(vpns, prot)

    @rule(data=st.data(), n=npages, prot=prots)
    def mmap_with_hint(self, data: st.DataObject, n: int, prot: int) -> None:
        hint = self._pick_page(data) << 12
        got = self.proc.mmap(n * PAGE, prot, ANON, hint)
        vpns = self._vpns(got, n)
        assert got % PAGE == 0
        assert self._is_free(vpns)  # never on top of an existing mapping
        if self._is_free(self._vpns(hint, n)):
            assert got == hint  # a free hint is taken
        else:
            assert got != hint
        self._add(vpns, prot)

    @rule(n=npages, prot=prots)
    def mmap_anywhere(self, n: int, prot: int) -> None:
        got = self.proc.mmap(n * PAGE, prot)
        vpns = self._vpns(got, n)
        assert got % PAGE == 0
        assert self._is_free(vpns)
        assert got + n * PAGE <= self.mm.mmap_base
        self._add(vpns, prot)

    # -- munmap, mprotect, madvise -----------------------------------------

    @rule(data=st.data(), n=npages)
    def munmap(self, data: st.DataObject, n: int) -> None:
        addr = self._pick_start(data)
        self.proc.munmap(addr, n * PAGE)
        self._drop(self._vpns(addr, n))

    @rule(data=st.data(), n=npages, prot=prots)
    def mprotect(self, data: st.DataObject, n: int, prot: int) -> None:
        addr = self._pick_start(data)
        # Linux: change pages from addr up to the first hole; ENOMEM if there is one.
        expect_error = False
        changed = []
        for vpn in self._vpns(addr, n):
            if vpn not in self.prot:
                expect_error = True
                break
            changed.append(vpn)
        try:
            self.proc.mprotect(addr, n * PAGE, prot)
        except SyscallError as e:
            assert e.errno == ENOMEM
            assert expect_error
        else:
            assert not expect_error
        for vpn in changed:
            self.prot[vpn] = prot

    @rule(
        data=st.data(),
        n=npages,
        advice=st.sampled_from([MADV_DONTNEED, MADV_FREE, MADV_HUGEPAGE, MADV_NOHUGEPAGE]),
    )
    def madvise(self, data: st.DataObject, n: int, advice: int) -> None:
        addr = self._pick_start(data)
        vpns = self._vpns(addr, n)
        expect_error = any(v not in self.prot for v in vpns)
        try:
            self.proc.madvise(addr, n * PAGE, advice)
        except SyscallError as e:
            assert e.errno == ENOMEM
            assert expect_error
        else:
            assert not expect_error
        # Applied to every mapped page, error or not.
        if advice == MADV_DONTNEED:
            for vpn in vpns:
                if vpn in self.prot:
                    self.framed.discard(vpn)
                    self.value[vpn] = 0

    # -- loads and stores ---------------------------------------------------

    def _expected_fault(self, vpn: int, write: bool) -> str | None:
        if vpn not in self.prot:
            return "SEGV_MAPERR"
        prot = self.prot[vpn]
        if write and not prot & PROT_WRITE:
            return "SEGV_ACCERR"
        if prot == PROT_NONE:
            return "SEGV_ACCERR"
        return None  # x86: any of r, w, x allows reads

    def _pick_page(self, data: st.DataObject) -> int:
        """A page of the window, biased so that operations meet each other.

        One time in four each: a page that owns a frame, a mapped page, an
        unmapped page, any page of the window.
        """
        kind = data.draw(st.sampled_from(["framed", "mapped", "unmapped", "any"]), label="kind")
        if kind == "framed":
            pool = [v for v in WINDOW_VPNS if v in self.framed]
        elif kind == "mapped":
            pool = [v for v in WINDOW_VPNS if v in self.prot]
        elif kind == "unmapped":
            pool = [v for v in WINDOW_VPNS if v not in self.prot]
        else:
            pool = []
        if pool:
            return data.draw(st.sampled_from(pool), label="vpn")
        return WINDOW_VPNS[data.draw(offsets, label="offset")]

    def _pick_start(self, data: st.DataObject) -> int:
        """Start address of a range operation: at or a few pages below a picked page."""
        vpn = self._pick_page(data) - data.draw(st.integers(0, 4), label="back")
        return max(vpn, WINDOW_VPNS[0]) << 12

    def _store(self, vpn: int, value: int) -> bool:
        va = (vpn << 12) + OFF
        expected = self._expected_fault(vpn, write=True)
        try:
            self.proc.store64(va, value)
        except SegmentationFault as e:
            assert e.reason == expected
            assert e.va == va
            return False
        assert expected is None
        self.value[vpn] = value
        self.framed.add(vpn)
        return True

    @rule(data=st.data(), value=values)
    def store(self, data: st.DataObject, value: int) -> None:
        self._store(self._pick_page(data), value)

    @rule(data=st.data(), n=st.integers(1, 16), value=values)
    def store_run(self, data: st.DataObject, n: int, value: int) -> None:
        """Store into n consecutive pages, stopping at the first fault."""
        first = self._pick_page(data)
        for i in range(n):
            if not self._store(first + i, (value + i) % (1 << 64) or 1):
                break

    @rule(data=st.data())
    def load(self, data: st.DataObject) -> None:
        vpn = self._pick_page(data)
        va = (vpn << 12) + OFF
        expected = self._expected_fault(vpn, write=False)
        try:
            got = self.proc.load64(va)
        except SegmentationFault as e:
            assert e.reason == expected
            return
        assert expected is None
        assert got == self.value[vpn]

    # -- invariants ---------------------------------------------------------

    @invariant()
    def address_space_agrees_with_the_reference(self) -> None:
        # One parse of /proc/<pid>/maps per step serves every check below.
        lines = maps_lines(self.proc.maps())
        self._check_maps_sorted_and_disjoint(lines)
        self._check_maps_match_reference(lines)
        self._check_vm_size(lines)
        self._check_rss(lines)
        # The machine's check runs every process's mm.check_invariants() too.
        self.machine.check_invariants()
        self._check_data()

    def _check_maps_sorted_and_disjoint(self, lines: list[tuple[int, int, str]]) -> None:
        for start, end, _ in lines:
            assert start < end
            assert start % PAGE == 0 and end % PAGE == 0
        for (_, end, _), (start, _, _) in zip(lines, lines[1:], strict=False):
            assert end <= start, f"maps lines overlap at {start:#x}"

    def _check_maps_match_reference(self, lines: list[tuple[int, int, str]]) -> None:
        seen: dict[int, int] = {}
        for start, end, perms in lines:
            prot = PERMS_TO_PROT[perms]
            for vpn in range(start >> 12, end >> 12):
                seen[vpn] = prot
        assert seen == self.prot

    def _check_vm_size(self, lines: list[tuple[int, int, str]]) -> None:
        total_bytes = sum(end - start for start, end, _ in lines)
        vm_size_kb = self.proc.statistics().vm_size_kb
        assert vm_size_kb == total_bytes // 1024
        assert vm_size_kb == 4 * len(self.prot)

    def _check_rss(self, lines: list[tuple[int, int, str]]) -> None:
        # Recount frames from the page tables over the mapped ranges; PROT_NONE
        # pages keep their frame with P clear, so count entries, not translate().
        frames = 0
        for start, end, _ in lines:
            for _, pte in self.mm.pt.present_in(start >> 12, end >> 12):
                if pte_pfn(pte) != 0:
                    frames += 1
        rss_kb = self.proc.statistics().rss_anon_kb
        assert rss_kb == 4 * frames
        assert rss_kb == 4 * len(self.framed)

    def _check_data(self) -> None:
        # A page with no frame reads as zeroes, so only pages that hold a frame
        # or should hold a non-zero value need looking at.
        lo, hi = REACH_VPNS[0], REACH_VPNS[-1] + 1
        framed_ptes = {vpn: pte for vpn, pte in self.mm.pt.present_in(lo, hi) if pte_pfn(pte) != 0}
        for vpn in (v for v in self.value if not lo <= v < hi):  # e.g. from mmap_anywhere
            pte = self.mm.pt.lookup(vpn)
            if pte and pte_pfn(pte) != 0:
                framed_ptes[vpn] = pte
        for vpn in self.framed & self.value.keys():
            assert vpn in framed_ptes, f"page {vpn << 12:#x} lost its frame"
        for vpn in framed_ptes.keys() | {v for v, x in self.value.items() if x}:
            expected = self.value.get(vpn, 0)
            pfn = pte_pfn(framed_ptes[vpn]) if vpn in framed_ptes else 0
            got = int.from_bytes(self.mm.physmem.read_view(pfn)[OFF : OFF + 8], "little")
            assert got == expected, f"page {vpn << 12:#x}: {got:#x} != {expected:#x}"


AddressSpaceOps.TestCase.settings = settings(stateful_step_count=40)
TestAddressSpaceOps = AddressSpaceOps.TestCase
