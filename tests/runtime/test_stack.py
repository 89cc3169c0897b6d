"""Goroutine stacks (runtime/stack.go, go1.24).

Expected figures come from Go's constants: fixedStack 2 KiB, four orders
(2/4/8/16 KiB) carved from 32 KiB spans (_StackCacheSize), stackGuard =
stackNosplit 800 + StackSmall 128 = 928, half-a-cache refills (16 KiB),
and shrinkstack's quarter rule.
"""

from __future__ import annotations

import pytest

from gomem.program import Program, Ptr
from gomem.runtime.mheap import PAGE_SIZE, SpanState
from gomem.runtime.runtime import Runtime
from gomem.runtime.stack import FIXED_STACK, STACK_GUARD, Frame, FuncInfo


def test_stack_guard_is_928_bytes_above_lo() -> None:
    assert STACK_GUARD == 800 + 128


def test_new_goroutine_stack_is_2kib_from_a_32kib_stack_span() -> None:
    rt = Runtime()
    g = rt.newproc("f", lambda g: None)
    assert (g.stack.size, g.stackguard0) == (FIXED_STACK, g.stack.lo + 928)
    s = rt.heap.span_of(g.stack.lo)
    assert s is not None and s.state == SpanState.MANUAL and s.npages == 32 * 1024 // PAGE_SIZE
    stats = rt.read_mem_stats()
    # The P's cache took half a cache (16 KiB = 8 stacks) from one 32 KiB span.
    assert (stats.StackInuse, stats.StackSys) == (32 * 1024, 32 * 1024)
    assert rt.mcaches[0].stackcache[0].size == 16 * 1024 - FIXED_STACK
    # Stack spans are not heap; the heap holds the g record: 440 bytes, class 448, one span.
    assert (stats.HeapInuse, stats.HeapAlloc) == (8192, 448)


def test_goroutine_stacks_live_in_the_heap_arena_not_in_stack() -> None:
    rt = Runtime()
    gs = [rt.newproc(f"g{i}", lambda g: None) for i in range(20)]
    maps = rt.process.mm.vmas
    for g in gs:
        vma = maps.find(g.stack.lo)
        assert vma is not None and vma.start >= 0xC000000000 and vma.end <= 0xC004000000
    stack_vma = [v for v in maps if v.start <= rt.g0.stack.lo < v.end]
    assert stack_vma and stack_vma[0].flags & 0x100  # VM_GROWSDOWN: the process [stack]
    assert "[stack]" in rt.process.maps().splitlines()[-1]


def test_scheduler_stack_g0_is_the_process_stack() -> None:
    rt = Runtime()
    line = next(x for x in rt.process.maps().splitlines() if x.endswith("[stack]"))
    lo, hi = (int(a, 16) for a in line.split()[0].split("-"))
    assert lo <= rt.g0.stack.lo < rt.g0.stack.hi <= hi


def _deep_program(depth: int) -> tuple[Program, list[tuple[int, int]], list[tuple[int, int]]]:
    """walk(d, up): each frame holds &caller.d in `up`; the deepest frame checks them all."""
    prog = Program()
    seen: list[tuple[int, int]] = []
    bounds: list[tuple[int, int]] = []

    @prog.func(args=["d", "up"], locals={"d": "int", "up": "*int", "pad": "[6]int"})
    def walk(g, f):
        if f.d < depth:
            g.call(walk, f.d + 1, g.addr_of(f, "d"))
            return
        # At the bottom: follow every frame's `up` pointer through the (moved) stack.
        gp = g.gp
        bounds.append((gp.stack.lo, gp.stack.hi))
        for fr in gp.frames[1:]:
            base = gp.stack.hi - fr.depth
            up = rt_of(g).process.load64(base + 8)  # the `up` slot: word 1
            caller_d = rt_of(g).process.load64(up)
            seen.append((up, caller_d))
        f.up = None

    @prog.func
    def main(g, f):
        g.go(walk, 0, None)

    return prog, seen, bounds


def rt_of(g):  # the test reaches the runtime the goroutine runs on
    return g.rt


def test_stack_growth_keeps_every_pointer_into_the_stack_valid() -> None:
    prog, seen, bounds = _deep_program(300)
    r = prog.run(debug=True, check=True)
    rt = r.runtime
    # 300 frames of 64 B (d, up, pad[6]) + 8 B return address = 21,600 B: 2K -> 32K, 4 copies.
    assert r.stack_copies == 4
    assert len(seen) == 300
    for i, (_up, caller_d) in enumerate(seen):
        assert caller_d == i  # frame i+1's `up` points at frame i's `d`
    # Every `up` pointed into the final (32 KiB) stack, not into a freed one.
    ((lo, hi),) = bounds
    assert hi - lo == 32 * 1024
    assert all(lo <= up < hi for up, _ in seen)
    rt.check_invariants()


def test_copystack_moves_pointer_slots_and_leaves_others() -> None:
    rt = Runtime()
    g = rt.newproc("f", lambda g: None)
    info = FuncInfo("f", 32, 0b0011)  # words 0 and 1 are pointers, 2 and 3 scalars
    sp = g.stack.hi - 8 - 32
    g.sched_sp = sp
    g.frames.append(Frame(info, g.stack.hi - sp))
    inside = g.stack.hi - 4  # points into the stack
    heap = 0xC000001000  # points elsewhere
    rt.process.store_words(sp, [inside, heap, inside, 7])
    old_hi = g.stack.hi
    rt.grow_stack(g, 4096)
    new_sp = g.stack.hi - 40
    words = rt.process.load_words(new_sp, 4)
    delta = g.stack.hi - old_hi
    assert words == (inside + delta, heap, inside, 7)  # scalar word 2 is not adjusted
    assert g.stack.size == 8192  # 2 KiB doubled until 4096 + guard fits: 8 KiB
    assert g.stackguard0 == g.stack.lo + STACK_GUARD


@pytest.mark.parametrize(
    ("used", "shrinks"),
    [(100, True), (8192 // 4 - 800 - 1, True), (8192 // 4 - 800, False), (5000, False)],
    ids=["tiny-use", "just-under-a-quarter", "a-quarter", "most"],
)
def test_shrinkstack_halves_below_a_quarter(used: int, shrinks: bool) -> None:
    rt = Runtime()
    g = rt.newproc("f", lambda g: None)
    rt.grow_stack(g, 5000)  # 2 KiB -> 8 KiB
    assert g.stack.size == 8192
    g.sched_sp = g.stack.hi - used
    # shrinkstack: used + stackNosplit (800) must be under a quarter of 8 KiB (2048).
    assert rt.shrink_stack(g) is shrinks
    assert g.stack.size == (4096 if shrinks else 8192)


def test_stack_never_shrinks_below_2kib() -> None:
    rt = Runtime()
    g = rt.newproc("f", lambda g: None)
    assert rt.shrink_stack(g) is False


def test_large_stack_gets_its_own_span_and_frees_it() -> None:
    rt = Runtime()
    stk = rt.stackalloc.alloc(64 * 1024, rt.mcaches[0])  # >= 32 KiB: a dedicated span
    s = rt.heap.span_of(stk.lo)
    assert s is not None and s.npages == 8
    rt.stackalloc.free(stk, rt.mcaches[0])
    assert rt.heap.span_of(stk.lo) is None


def test_pointer_results_must_go_through_a_slot_in_debug_mode() -> None:
    from gomem.program import ProgramError

    prog = Program()
    T = prog.struct("T", P="*T")

    @prog.func(locals={"a": "*T"})
    def main(g, f):
        x = g.new(T)  # held only in Python
        f.a = g.new(T)
        g.store(f.a, "P", x)  # x crossed the second new's switch point

    with pytest.raises(ProgramError, match="across a switch point"):
        prog.run(debug=True)


def test_debug_mode_accepts_pointers_read_from_slots() -> None:
    prog = Program()
    T = prog.struct("T", P="*T")

    @prog.func(locals={"a": "*T", "b": "*T"})
    def main(g, f):
        f.a = g.new(T)
        f.b = g.new(T)
        g.store(f.a, "P", f.b)
        f.b = g.load(f.a, "P")
        assert isinstance(f.b, Ptr)

    # Two 8-byte scan objects and main's g record.
    assert prog.run(debug=True, check=True).memstats.HeapObjects == 3
