"""The program API: frames as stack slots, globals in bss, barriers, roots."""

from __future__ import annotations

import pytest

from gomem.program import Program, ProgramError, Ptr


def test_globals_live_in_bss_and_their_pointers_are_roots() -> None:
    prog = Program()
    T = prog.struct("T", N="int")
    prog.globals(count="int", root="*T", pair="[2]*T")

    @prog.func(locals={"t": "*T"})
    def main(g, f):
        f.t = g.new(T)
        g.store_global("root", f.t)
        g.store_global("count", 7)

    r = prog.run(debug=True, check=True)
    rt = r.runtime
    image = rt.process.image
    bss_lo = rt.zerobase  # bss starts after text, rodata and data (page rounded)
    names = {name: (addr, typ) for name, addr, typ in rt.globals}
    assert set(names) == {"count", "root", "pair"}
    for addr, typ in names.values():
        assert bss_lo < addr and addr + typ.size <= bss_lo + image.bss_bytes + 4096
    # Roots: root's word and pair's two words, not count.
    root_addr = names["root"][0]
    pair_addr = names["pair"][0]
    assert rt.global_roots() == [root_addr, pair_addr, pair_addr + 8]
    assert rt.process.load64(names["count"][0]) == 7
    obj = rt.process.load64(root_addr)
    assert rt.heap.span_of_heap(obj) is not None


def test_heap_and_global_pointer_stores_take_the_barrier_hook_stack_stores_do_not() -> None:
    prog = Program()
    T = prog.struct("T", P="*T", N="int")
    prog.globals(g1="*T")

    @prog.func(locals={"a": "*T", "b": "*T"})
    def main(g, f):
        f.a = g.new(T)  # stack slot store: no barrier
        f.b = g.new(T)
        g.store(f.a, "P", f.b)  # heap pointer store: barrier
        g.store(f.a, "N", 5)  # scalar store: no barrier
        g.store_global("g1", f.a)  # global pointer store: barrier

    r = prog.run(debug=True)
    assert r.runtime.pointer_stores == 2


def test_frame_slots_are_words_in_the_goroutine_stack() -> None:
    prog = Program()
    T = prog.struct("T", N="int")
    seen = {}

    @prog.func(locals={"n": "int", "t": "*T", "x": "float64"})
    def main(g, f):
        f.n = -3
        f.t = g.new(T)
        f.x = 2.5
        gp = g.gp
        fr = gp.frames[-1]
        base = gp.stack.hi - fr.depth
        seen["words"] = g.rt.process.load_words(base, 3)
        seen["t"] = f.t
        seen["stack"] = (gp.stack.lo, gp.stack.hi)
        seen["roots"] = g.rt.stack_roots(gp)
        assert (f.n, f.x) == (-3, 2.5)

    prog.run(debug=True)
    n, t, _x = seen["words"]
    assert n == (1 << 64) - 3  # int -3 as a two's complement word
    assert isinstance(seen["t"], Ptr) and t == seen["t"].addr
    lo, hi = seen["stack"]
    (root,) = seen["roots"]  # only t is a pointer slot (the stack map)
    assert lo <= root < hi and root == hi - 8 - 24 + 8


def test_unknown_local_field_and_type_are_program_errors() -> None:
    prog = Program()
    T = prog.struct("T", N="int")

    @prog.func(locals={"t": "*T"})
    def main(g, f):
        f.t = g.new(T)
        g.store(f.t, "Missing", 1)

    with pytest.raises(ProgramError, match="no field 'Missing'"):
        prog.run()
    with pytest.raises(ProgramError, match="unknown type"):
        Program().type("Nope")


def test_nil_dereference_is_a_program_error() -> None:
    prog = Program()
    prog.struct("T", N="int")

    @prog.func(locals={"t": "*T"})
    def main(g, f):
        g.load(f.t, "N")

    with pytest.raises(ProgramError, match="nil pointer dereference"):
        prog.run()


def test_make_slice_and_index() -> None:
    prog = Program()
    out = {}

    @prog.func(locals={"s": "[]int"})
    def main(g, f):
        f.s = g.make("[]int", 10)
        g.store(f.s, 3, 42)
        out["v"] = g.load(f.s, 3)
        out["len"] = f.s.len

    r = prog.run(debug=True)
    assert out == {"v": 42, "len": 10}
    # make([]int, 10): 80 bytes, class 80 (noscan); and main's g record, class 448.
    assert r.memstats.HeapAlloc == 80 + 448


def test_convert_reinterprets_an_unsafe_pointer() -> None:
    prog = Program()
    T = prog.struct("T", N="int")
    prog.globals(u="unsafe.Pointer")
    out = {}

    @prog.func(locals={"t": "*T", "u": "unsafe.Pointer"})
    def main(g, f):
        f.t = g.new(T)
        g.store(f.t, "N", 9)
        f.u = f.t
        f.t = None
        f.t = g.convert(f.u, "*T")
        out["n"] = g.load(f.t, "N")

    prog.run(debug=True)
    assert out == {"n": 9}


def test_operations_count_api_calls_and_switch_points_count_scheduled_ones() -> None:
    prog = Program()
    T = prog.struct("T", P="*T")

    @prog.func(locals={"a": "*T", "b": "*T"})
    def main(g, f):
        f.a = g.new(T)  # new: a switch point; f.a = : a slot write
        f.b = f.a  # a slot read and a slot write
        g.store(f.a, "P", f.b)  # store: a switch point; two slot reads

    r = prog.run()
    assert r.steps == 2
    assert r.operations == 2 + 5
