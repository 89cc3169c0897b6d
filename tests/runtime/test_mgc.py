"""The collector's first step: a stop-the-world cycle, mark and sweep (mgc.go,
mgcmark.go, mgcsweep.go). Expectations are hand counts of what is reachable,
Go's sweepgen rule (+2 per cycle) and Go's gctrace number formatting."""

from __future__ import annotations

import pytest

from gomem.program import Program
from gomem.runtime.mgc import fmt_ns_as_ms, itoa_div
from gomem.runtime.mheap import SpanState
from gomem.runtime.runtime import Runtime


def _list_program(keep: int, garbage: int, out: dict) -> Program:
    prog = Program()
    Node = prog.struct("Node", Next="*Node", Pad="[40]byte")  # 48 B: class 48, scan
    prog.globals(head="*Node")

    @prog.func(locals={"n": "*Node", "keep": "*Node", "next": "*Node"})
    def main(g, f):
        for _ in range(keep):  # a list hanging from a global
            f.n = g.new(Node)
            f.next = g.load_global("head")
            g.store(f.n, "Next", f.next)
            g.store_global("head", f.n)
        for _ in range(garbage):  # unreachable once f.n moves on
            f.n = g.new(Node)
        f.keep = g.new(Node)  # reachable from the stack only
        f.n = None
        g.gc()
        out["after"] = g.rt.read_mem_stats()
        out["marked"] = g.rt.gc.cycles[-1].heap2

    return prog


def test_gc_keeps_what_is_reachable_and_frees_the_rest() -> None:
    out: dict = {}
    r = _list_program(1000, 500, out).run(debug=True, check=True)
    ms = out["after"]
    # Live: 1000 list nodes + the stack's node (48 B each) + the g records (448 B) of
    # main, the mark worker and the background sweeper (Go starts its gcBgMarkWorkers at
    # the first cycle; bgsweep runs from start-up).
    assert ms.HeapObjects == 1000 + 1 + 3
    assert ms.HeapAlloc == 1001 * 48 + 3 * 448
    # runtime.GC() swept everything: HeapAlloc is exactly the bytes marked.
    assert ms.HeapAlloc == out["marked"]
    assert ms.Frees == 500
    # Marked: the 1001 nodes and the two g records (the worker's was allocated black).
    assert r.runtime.gc.cycles[-1].objects_marked == 1001 + 1


def test_sweepgen_is_twice_the_completed_cycles() -> None:
    rt = Runtime()
    for n in range(1, 4):
        rt.mallocgc(100)
        rt.GC()
        assert rt.heap.sweepgen == 2 * n
        assert len(rt.gc.cycles) == n
        for s in rt.heap.spans():
            if s.state == SpanState.IN_USE:  # heap spans; stack spans are not swept
                assert s.sweepgen == rt.heap.sweepgen  # all swept after runtime.GC()
    rt.check_invariants()


def test_sweeping_touches_no_page_of_object_memory() -> None:
    rt = Runtime()
    xs = [rt.mallocgc(300) for _ in range(1000)]  # 40 spans of garbage, written once
    for x in xs:
        rt.process.write(x, b"\x55" * 300)
    big = rt.mallocgc(100_000)  # a large garbage object, its pages written too
    rt.process.write(big, b"\x66" * 100_000)
    before = rt.process.mm.accesses()
    rec = rt.GC()  # nothing is reachable: marking reads no object, sweeping must not either
    after = rt.process.mm.accesses()
    pages = {x >> 12 for x in xs} | {(big + i) >> 12 for i in range(0, 100_000, 4096)}
    assert {p: after.get(p) for p in pages} == {p: before.get(p) for p in pages}
    # Only the g records of the collector's own goroutines (mark worker, sweeper) remain.
    assert rec.spans_swept >= 41 and rt.read_mem_stats().HeapAlloc == 2 * 448


def test_large_objects_live_and_die_by_their_one_mark_bit() -> None:
    out: dict = {}
    prog = Program()
    prog.struct("Big", Data="[50000]byte")

    @prog.func(locals={"a": "*Big", "b": "*Big"})
    def main(g, f):
        f.a = g.new("Big")
        f.b = g.new("Big")
        f.b = None
        g.gc()
        out["ms"] = g.rt.read_mem_stats()

    prog.run(check=True)
    # One 50,000-byte object survives: ceil(50000 / 8192) = 7 pages = 57,344 bytes; and
    # three g records of 448 bytes (main, the mark worker and the background sweeper).
    assert out["ms"].HeapAlloc == 57_344 + 3 * 448
    assert out["ms"].HeapObjects == 4


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0"),
        (999, "0"),
        (1000, "0.001"),
        (12_345, "0.012"),
        (123_456, "0.12"),
        (1_234_567, "1.2"),
        (9_999_999, "9.9"),
        (10_000_000, "10"),
        (123_456_789, "123"),
    ],
)
def test_fmt_ns_as_ms_truncates_like_go(ns: int, text: str) -> None:
    # fmtNSAsMS: >= 10 ms as whole ms; else microseconds cut to at most 2 digits after
    # dropping decimals (x >= 100 -> x /= 10, one decimal fewer), printed by itoaDiv.
    assert fmt_ns_as_ms(ns) == text


def test_itoa_div_places_the_point() -> None:
    assert (itoa_div(5, 3), itoa_div(1234, 3), itoa_div(7, 0)) == ("0.005", "1.234", "7")


def test_gctrace_line_has_gos_layout() -> None:
    rt = Runtime(gomaxprocs=2)
    rt.gc.gctrace = True
    rt.mallocgc(100)
    rt.GC()
    (line,) = rt.gc.trace
    import re

    pattern = (
        r"gc 1 @\d+\.\d{3}s \d+%: [\d.]+\+[\d.]+\+[\d.]+ ms clock, "
        r"[\d.]+\+[\d.]+/[\d.]+/[\d.]+\+[\d.]+ ms cpu, \d+->\d+->\d+ MB, \d+ MB goal, "
        r"\d+ MB stacks, \d+ MB globals, 2 P \(forced\)"
    )
    assert re.fullmatch(pattern, line), line


def test_two_minutes_without_a_cycle_start_one_that_is_not_forced() -> None:
    from gomem.runtime.mgc import FORCE_GC_PERIOD

    prog = Program()

    @prog.func
    def main(g, f):
        g.gc()  # the first cycle: the periodic GC counts from its end
        for _ in range(3):
            g.work(FORCE_GC_PERIOD // 2 + 1)  # a minute of computing, no allocation

    r = prog.run(gctrace=True, check=True)
    # 1 forced cycle; then after 2 minutes and a bit, sysmon's cycle (not "(forced)").
    assert len(r.runtime.gc.cycles) == 2
    assert r.gctrace[0].endswith("(forced)") and not r.gctrace[1].endswith("(forced)")
    # Go: forcegcperiod = 2 * 60 * 1e9 ns (proc.go).
    assert FORCE_GC_PERIOD == 120_000_000_000


def test_allocating_during_mark_pays_with_assists() -> None:
    from gomem.runtime.mgc import GC_OVER_ASSIST_WORK

    prog = Program()
    Node = prog.struct("Node", Next="*Node", Pad="[40]byte")
    prog.globals(head="*Node")

    @prog.func(locals={"n": "*Node", "next": "*Node"})
    def main(g, f):
        for _ in range(3000):  # a live list to mark
            f.n = g.new(Node)
            f.next = g.load_global("head")
            g.store(f.n, "Next", f.next)
            g.store_global("head", f.n)
        g.go("churn")
        g.gc()

    @prog.func(locals={"n": "*Node"})
    def churn(g, f):
        for _ in range(2000):  # allocation during mark: 48 bytes of debt each
            f.n = g.new(Node)

    r = prog.run(gomaxprocs=2, check=True, gctrace=True)
    gc = r.runtime.gc
    assert gc.assists > 0
    # gctrace's second cpu field (assist time) is no longer 0 for that cycle.
    assert any(line.split(" ms cpu")[0].split("+")[1].split("/")[0] != "0" for line in r.gctrace)
    assert GC_OVER_ASSIST_WORK == 64 * 1024  # gcOverAssistWork in mgcmark.go


def test_free_os_memory_is_a_forced_cycle_then_scavenge_all() -> None:
    # runtime/debug.FreeOSMemory: GC() (so gctrace says "(forced)"), then scavengeAll:
    # every free page goes back to the OS, HeapReleased == HeapIdle.
    prog = Program()
    out: dict = {}

    @prog.func(locals={"b": "*[4096]byte"})
    def main(g, f):
        for _ in range(200):  # 800 KiB of garbage
            f.b = g.new("[4096]byte")
        f.b = None
        out["released"] = g.free_os_memory()
        out["ms"] = g.rt.read_mem_stats()

    r = prog.run(gctrace=True)
    assert len(r.gctrace) == 1 and r.gctrace[0].endswith(" (forced)")
    ms = out["ms"]
    assert out["released"] > 0 and ms.HeapReleased == ms.HeapIdle
