"""Write barriers against the lost-object race (mbarrier.go, mwbbuf.go, go1.24).

The race (gomem.program.builtins.race): while the mark worker runs, a
mutator copies the only other pointer to white Z from grey Y into black X
through its (already scanned) stack and deletes Y's copy. The scripted
schedule puts every step in that order. Expected outcomes are the
invariants each design promises: without a barrier Z is freed while X
still points to it; with any real barrier Z survives.
"""

from __future__ import annotations

import importlib

import pytest

from gomem.program.builtins import race as race_module
from gomem.runtime.mbarrier import WB_BUF_ENTRIES, WriteBarrier
from gomem.runtime.mem_linux import RuntimeThrow


def run_race(mode: str):
    race = importlib.reload(race_module)
    return race.prog.run(
        gomaxprocs=race.PROCS,
        policy="script",
        script=race.script(mode),
        barrier=mode,
        check=True,
        debug=True,
    )


def test_without_a_barrier_the_race_leaves_a_reachable_object_white() -> None:
    # The checkmark at mark termination (Program.run(check=True)) finds Z reachable and
    # white, before the sweep would free it.
    with pytest.raises(
        RuntimeThrow,
        match=r"checkmark: 1 reachable blocks unmarked; "
        r"reachable block 0x[0-9a-f]+ is white",
    ):
        run_race("none")


@pytest.mark.parametrize("mode", ["dijkstra", "yuasa", "hybrid", "go"])
def test_every_real_barrier_keeps_the_object(mode: str) -> None:
    r = run_race(mode)
    rt = r.runtime
    gx = next(a for n, a, _ in rt.globals if n == "gx")
    x = rt.process.load64(gx)
    z = rt.process.load64(x)  # X.P
    assert z and rt.gc.colour(z) != "free"
    b = rt.gc.barrier
    assert b.executions == 2  # the two heap pointer stores during mark
    assert b.shaded == 1  # Z, greyed by the barrier (in go mode: at the buffer flush)


@pytest.mark.parametrize(
    ("mode", "old", "new", "shades"),
    [
        ("dijkstra", 0xA, 0xB, {0xB}),
        ("yuasa", 0xA, 0xB, {0xA}),
        ("hybrid", 0xA, 0xB, {0xA, 0xB}),  # the current goroutine's stack is not scanned
        ("none", 0xA, 0xB, set()),
    ],
)
def test_which_pointers_each_barrier_shades(mode: str, old: int, new: int, shades: set) -> None:
    class FakeMarker:
        def __init__(self) -> None:
            self.shaded: set[int] = set()
            self.stats = type("S", (), {"objects_marked": 0})()

        def shade(self, p: int) -> None:
            self.shaded.add(p)
            self.stats.objects_marked += 1

    m = FakeMarker()
    WriteBarrier(mode).on_store(m, None, old, new)  # type: ignore[arg-type]
    assert m.shaded == shades


def test_go_barrier_buffers_until_512_entries() -> None:
    class FakeMarker:
        def __init__(self) -> None:
            self.shaded: list[int] = []
            self.stats = type("S", (), {"objects_marked": 0})()

        def shade(self, p: int) -> None:
            self.shaded.append(p)

    m = FakeMarker()
    b = WriteBarrier("go")
    for i in range(WB_BUF_ENTRIES // 2 - 1):  # two entries per store: 510 buffered
        b.on_store(m, None, 0x1000 + i, 0x2000 + i)  # type: ignore[arg-type]
    assert m.shaded == [] and b.flushes == 0 and len(b.buffered()) == 510
    b.on_store(m, None, 0x3000, 0x4000)  # 512: the buffer is full and flushed
    assert b.flushes == 1 and len(m.shaded) == 512 and b.buffered() == []


@pytest.mark.parametrize(
    ("mode", "message"),
    [("hybrid", "weak invariant: black"), ("dijkstra", "strong invariant: black")],
)
def test_the_per_step_check_catches_a_barrier_that_does_nothing(mode: str, message: str) -> None:
    # A barrier that claims a mode but shades nothing: the check run before every step
    # (Program.run(check=True)) must name the black -> white pointer of the race as soon
    # as it breaks the mode's invariant, before mark termination's checkmark.
    class Broken(WriteBarrier):
        def on_store(self, marker, g, old, new) -> None:  # type: ignore[no-untyped-def]
            self.executions += 1

    race = importlib.reload(race_module)
    with pytest.raises(RuntimeThrow, match=message):
        race.prog.run(
            gomaxprocs=race.PROCS,
            policy="script",
            script=race.script(mode),
            barrier=Broken(mode),
            check=True,
            debug=True,
        )
