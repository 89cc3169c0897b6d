"""Workload specs (gomem.program.workload): validation, and programs that do what they say.

Every run uses debug=True, so each pointer an operation gets must have been
read from a frame slot or global since the worker's previous operation.
The live heap is checked by marking from the globals (the roots a collector
would start from, once every goroutine has exited) and comparing with the
workers' own bookkeeping.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gomem.program.api import RunResult
from gomem.program.workload import (
    Workload,
    WorkloadError,
    WorkloadProgram,
    build_program,
    load_workload,
    parse_workload,
)
from gomem.runtime.msize import size_to_class

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

BASE = """
[workload]
goroutines = 2
gomaxprocs = 2
allocs = 400

[[types]]
name = "Node"
size = 64
pointers = 2
weight = 3

[[types]]
name = "Buf"
size = "1KiB"
"""


def spec(
    shape: str = "ring",
    lifetime: str = "survive = 0.3",
    *,
    allocs: int = 400,
    goroutines: int = 2,
    max_objects: int = 40,
    rate: float = 0.0,
    types: str = "",
) -> str:
    head = BASE.replace("allocs = 400", f"allocs = {allocs}").replace(
        "goroutines = 2", f"goroutines = {goroutines}"
    )
    if types:
        head = head[: head.index("[[types]]")] + types
    return (
        f"{head}\n[lifetime]\n{lifetime}\n\n[live]\nshape = {shape!r}\nmax_objects = {max_objects}"
        f"\n\n[stores]\nrate = {rate}\n"
    )


def run(text: str, *, seed: int | None = None) -> tuple[WorkloadProgram, RunResult]:
    prog, opts = build_program(parse_workload(text, "t.toml"), seed=seed)
    return prog, prog.run(**opts, debug=True, check=True)


# -- what a collector would see --------------------------------------------------


def root_slices(result: RunResult) -> set[int]:
    rt = result.runtime
    return {rt.process.load64(a) for a in rt.global_roots()} - {0}


def heap_edges(result: RunResult, objs: set[int]) -> list[tuple[int, int]]:
    """Pointers from one of objs to another, read from the simulated heap."""
    rt = result.runtime
    out = []
    for p in objs:
        for a in rt.pointer_words(p):
            q = rt.process.load64(a)
            if q in objs:
                out.append((p, q))
    return out


def reachable(result: RunResult) -> set[int]:
    """Heap objects reachable from the globals (a mark from the data/bss roots)."""
    rt = result.runtime
    marked: set[int] = set()
    stack = [rt.process.load64(a) for a in rt.global_roots()]
    while stack:
        p = stack.pop()
        if not p or p in marked or rt.heap.span_of_heap(p) is None:
            continue
        marked.add(p)
        stack.extend(rt.process.load64(a) for a in rt.pointer_words(p))
    return marked


def live_set(prog: WorkloadProgram) -> set[int]:
    return {a for r in prog.reports.values() for a in r.live_addrs}


def entries(prog: WorkloadProgram) -> int:
    return sum(r.entries for r in prog.reports.values())


# -- examples ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["steady", "tree"])
def test_examples_validate_and_a_shortened_run_keeps_the_live_heap(name: str) -> None:
    w = load_workload(EXAMPLES / f"{name}.toml")
    assert w.name == name
    w = dataclasses.replace(w, allocs=3000, nbytes=None)
    prog, opts = build_program(w)
    result = prog.run(**opts, debug=True, check=True)
    # Plus one root slice per worker, and one g record (runtime.g) per goroutine, main too.
    assert result.memstats.Mallocs == 3000 + w.goroutines + (w.goroutines + 1)
    assert reachable(result) - root_slices(result) == live_set(prog)


def test_steady_example_is_a_list_with_stores_on_two_ps() -> None:
    w = load_workload(EXAMPLES / "steady.toml")
    assert (w.shape, w.goroutines >= 2, w.gomaxprocs, w.store_rate > 0) == ("list", True, 2, True)
    assert any(t.pointers == 0 for t in w.types) and any(t.pointers for t in w.types)


# -- programs do what the spec says ------------------------------------------------


def test_allocation_count_and_type_mix_match_the_spec() -> None:
    types = """
[[types]]
name = "Node"
size = 64
pointers = 2
weight = 3

[[types]]
name = "Buf"
size = "1KiB"
weight = 1

[[types]]
name = "Mid"
size = 256
pointers = 1
weight = 2
"""
    prog, result = run(spec(allocs=6000, goroutines=3, max_objects=24, types=types))
    reports = prog.reports.values()
    by_type = [sum(r.by_type[i] for r in reports) for i in range(3)]
    assert sum(by_type) == 6000
    assert [r.allocs for r in sorted(reports, key=lambda r: r.index)] == [2000, 2000, 2000]
    ms = result.memstats
    # Each worker's root slice (8 slots = 64 B, with the Nodes), and 4 g records (448 B).
    assert ms.Mallocs == 6000 + 3 + 4
    assert ms.BySize[size_to_class(440)].Mallocs == 4
    assert ms.BySize[size_to_class(64)].Mallocs == by_type[0] + 3
    assert ms.BySize[size_to_class(1024)].Mallocs == by_type[1]
    assert ms.BySize[size_to_class(256)].Mallocs == by_type[2]
    # Weights 3:1:2; a binomial count of 6000 draws stays within 5 sigma (about 190).
    for count, share in zip(by_type, (3 / 6, 1 / 6, 2 / 6), strict=True):
        assert abs(count - 6000 * share) < 5 * (6000 * share * (1 - share)) ** 0.5


def test_a_bytes_budget_stops_each_worker_at_its_share() -> None:
    text = spec(goroutines=2).replace("allocs = 400", 'bytes = "200KiB"')
    prog, result = run(text)
    for r in prog.reports.values():
        assert 100 * 1024 <= r.nbytes < 100 * 1024 + 1024  # one object past the share at most
    # Plus two root slices and three g records (two workers and main).
    assert result.memstats.Mallocs == sum(r.allocs for r in prog.reports.values()) + 2 + 3


@pytest.mark.parametrize("shape", ["ring", "list", "tree", "graph"])
def test_max_objects_caps_the_live_set(shape: str) -> None:
    prog, result = run(spec(shape, "survive = 1.0", allocs=600, max_objects=30, rate=0.5))
    for r in prog.reports.values():
        assert r.max_live == 15 and len(r.live_addrs) == 15  # 30 split over 2 workers
        assert r.evicted == r.survivors - 15
    assert reachable(result) - root_slices(result) == live_set(prog)


LIFETIMES = {
    "forever": "survive = 0.4",
    "exponential": 'survive = 0.6\ndistribution = "exponential"\nmean_allocs = 25',
    "uniform": 'survive = 1.0\ndistribution = "uniform"\nmin_allocs = 1\nmax_allocs = 60',
}


@pytest.mark.parametrize("allocs", [1, 37, 300])
@pytest.mark.parametrize("lifetime", sorted(LIFETIMES))
@pytest.mark.parametrize("shape", ["ring", "list", "tree", "graph"])
def test_objects_reachable_from_the_globals_are_exactly_the_live_set(
    shape: str, lifetime: str, allocs: int
) -> None:
    # One worker's state after n allocations is the same in any longer run, so
    # the end states of short runs check the middle of long ones.
    text = spec(shape, LIFETIMES[lifetime], allocs=allocs, goroutines=1, rate=1.5)
    prog, result = run(text)
    live = live_set(prog)
    assert reachable(result) - root_slices(result) == live
    assert len(live) <= 40


def test_expired_objects_leave_the_live_set() -> None:
    lifetime = 'survive = 1.0\ndistribution = "uniform"\nmin_allocs = 5\nmax_allocs = 5'
    prog, _ = run(spec("tree", lifetime, allocs=100, goroutines=1, max_objects=50))
    (r,) = prog.reports.values()
    assert len(r.live_addrs) == 5 and r.max_live == 5
    assert r.expired == 95 and r.evicted == 0


POINTERFUL = """
[[types]]
name = "Node"
size = 48
pointers = 2
"""


def test_a_list_is_one_chain_from_the_oldest_survivor() -> None:
    prog, result = run(spec("list", "survive = 0.5", types=POINTERFUL, goroutines=1))
    (r,) = prog.reports.values()
    assert r.entries == 1
    live = live_set(prog)
    rt = result.runtime
    (table,) = root_slices(result)
    p = next(q for a in rt.pointer_words(table) if (q := rt.process.load64(a)))
    chain = []
    while p:
        chain.append(p)
        p = rt.process.load64(p)  # p0, the next node
    assert set(chain) == live and len(chain) == 40
    assert chain == sorted(chain)  # allocated in order, from fresh spans


@pytest.mark.parametrize(
    ("shape", "lifetime"),
    [("tree", "forever"), ("tree", "exponential"), ("graph", "forever"), ("graph", "uniform")],
)
def test_a_tree_is_one_tree_and_a_graph_adds_edges(shape: str, lifetime: str) -> None:
    text = spec(shape, LIFETIMES[lifetime], types=POINTERFUL, goroutines=1, allocs=800)
    prog, result = run(text)
    live = live_set(prog)
    edges = heap_edges(result, live)
    assert entries(prog) == 1  # one root: everything else hangs below it
    if shape == "tree":
        assert len(edges) == len(live) - 1  # a tree: one parent each, but the root
        assert len({q for _, q in edges}) == len(live) - 1
    else:
        assert len(edges) > len(live) - 1


def test_a_ring_holds_every_survivor_in_its_own_slot() -> None:
    prog, result = run(spec("ring", "survive = 0.5", types=POINTERFUL, goroutines=1))
    live = live_set(prog)
    assert entries(prog) == len(live) == 40
    assert heap_edges(result, live) == []


@pytest.mark.parametrize("lifetime", sorted(LIFETIMES))
def test_every_pointer_store_is_a_runtime_store(lifetime: str) -> None:
    prog, result = run(spec("graph", LIFETIMES[lifetime], allocs=1000, rate=2.0))
    reports = prog.reports.values()
    assert result.runtime.pointer_stores == sum(r.stores for r in reports)
    extra = sum(r.extra_stores for r in reports)
    skipped = sum(r.skipped_stores for r in reports)
    assert extra + skipped == 2000  # rate 2: two per allocation, made or skipped
    if lifetime == "forever":
        assert skipped < 40  # only while there is no earlier survivor with a free field


def test_fanout_leaves_the_other_fields_to_stores() -> None:
    types = "[[types]]\nname = 'Node'\nsize = 64\npointers = 3\n"
    text = spec("tree", "survive = 0.5", types=types, goroutines=1)
    prog, result = run(text.replace("max_objects", "fanout = 1\nmax_objects"))
    rt = result.runtime
    live = live_set(prog)
    for p in live:
        assert rt.process.load64(p + 8) == 0 and rt.process.load64(p + 16) == 0  # p1, p2
    assert len(heap_edges(result, live)) == len(live) - 1  # a chain through p0


def test_alloc_rate_spaces_allocations_in_simulated_time() -> None:
    text = spec(goroutines=1, allocs=100, types=POINTERFUL)
    slow = text.replace("allocs = 100", 'allocs = 100\nalloc_rate = "48MiB/s"')
    _, fast_result = run(text)
    _, slow_result = run(slow)
    # 100 x 48 B at 48 MiB/s: about 95 us of computing on top of the operations.
    assert slow_result.now_ns - fast_result.now_ns == 100 * (48 * 10**9 // (48 << 20))


# -- determinism -------------------------------------------------------------------


def test_the_same_seed_replays_and_another_seed_differs() -> None:
    text = spec("tree", LIFETIMES["exponential"], rate=1.0)
    text = text.replace("gomaxprocs = 2", 'gomaxprocs = 2\npolicy = "random"')
    prog_a, a = run(text, seed=3)
    prog_b, b = run(text, seed=3)
    _, c = run(text, seed=4)
    assert a.digest == b.digest and a.steps == b.steps
    assert a.memstats == b.memstats
    assert live_set(prog_a) == live_set(prog_b)
    assert c.digest != a.digest


def test_the_same_seed_replays_in_another_process(tmp_path: Path) -> None:
    # Python's hash() of a str differs between processes; the workload must not use it.
    path = tmp_path / "tree.toml"
    path.write_text((EXAMPLES / "tree.toml").read_text().replace('bytes = "1MiB"', "allocs = 1500"))
    code = (
        "import json, sys\n"
        "from gomem.program.workload import build_program, load_workload\n"
        "p, o = build_program(load_workload(sys.argv[1]))\n"
        "r = p.run(**o)\n"
        "print(json.dumps([r.digest, r.memstats.as_dict(), p.reports[0].live_addrs]))\n"
    )
    outs = []
    for hashseed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONHASHSEED=hashseed),
            check=True,
            timeout=120,
        )
        outs.append(json.loads(done.stdout))
    assert outs[0] == outs[1]


def test_build_program_takes_the_seed_and_returns_run_options() -> None:
    w = parse_workload(spec(), "t.toml")
    _, opts = build_program(w)
    assert opts == {"seed": 0, "gomaxprocs": 2, "policy": "roundrobin"}
    prog, opts = build_program(w, seed=9)
    assert opts["seed"] == 9 and prog.seed == 9


# -- validation --------------------------------------------------------------------

GOOD = spec()

BAD = [
    ("toml-syntax", "[workload\nallocs = 1", "line 1"),
    ("unknown-top-table", GOOD + "\n[lifetim]\nsurvive = 1\n", "lifetim: unknown key"),
    ("unknown-key-typo", GOOD.replace("weight = 3", "wieght = 3"), "types[0].wieght"),
    ("no-workload", "[[types]]\nname = 'A'\nsize = 8\n", "workload: required"),
    ("both-budgets", GOOD.replace("allocs = 400", "allocs = 4\nbytes = 64"), "workload: "),
    ("no-budget", GOOD.replace("allocs = 400", ""), "workload: give exactly one"),
    ("allocs-string", GOOD.replace("allocs = 400", 'allocs = "400"'), "workload.allocs"),
    ("allocs-zero", GOOD.replace("allocs = 400", "allocs = 0"), "workload.allocs"),
    ("goroutines-bool", GOOD.replace("goroutines = 2", "goroutines = true"), "goroutines"),
    ("gomaxprocs-zero", GOOD.replace("gomaxprocs = 2", "gomaxprocs = 0"), "gomaxprocs"),
    ("bad-policy", GOOD.replace("gomaxprocs = 2", "policy = 'fifo'"), "workload.policy"),
    ("bad-bytes", GOOD.replace("allocs = 400", 'bytes = "64MB"'), "workload.bytes"),
    ("bad-rate", GOOD.replace("allocs = 400", "allocs = 4\nalloc_rate = '1MiB'"), "alloc_rate"),
    ("no-types", spec().split("[[types]]")[0] + "[live]\nmax_objects = 1\n", "types: required"),
    ("types-not-array", BASE.split("[[types]]")[0] + "[types]\nname = 'A'\n", "types: must"),
    ("empty-types", "types = []\n" + BASE.split("[[types]]")[0], "types: must list"),
    ("size-bad", GOOD.replace('size = "1KiB"', 'size = "1 kilo"'), "types[1].size"),
    ("size-zero", GOOD.replace("size = 64", "size = 0"), "types[0].size"),
    ("size-missing", GOOD.replace('size = "1KiB"', ""), "types[1].size: required"),
    ("too-small", GOOD.replace("pointers = 2", "pointers = 9"), "types[0].size: 64 bytes"),
    ("odd-pointerful", GOOD.replace("size = 64", "size = 60"), "types[0].size: must be a mul"),
    ("pointers-negative", GOOD.replace("pointers = 2", "pointers = -1"), "types[0].pointers"),
    ("weight-zero", GOOD.replace("weight = 3", "weight = 0"), "types[0].weight"),
    ("name-bad", GOOD.replace('name = "Buf"', 'name = "2Buf"'), "types[1].name"),
    ("name-basic", GOOD.replace('name = "Buf"', 'name = "int"'), "types[1].name"),
    ("name-twice", GOOD.replace('name = "Buf"', 'name = "Node"'), "types[1].name"),
    ("name-missing", GOOD.replace('name = "Buf"', ""), "types[1].name: required"),
    ("type-survive", GOOD.replace("weight = 3", "weight = 3\nsurvive = 2"), "types[0].survive"),
    ("survive-range", spec(lifetime="survive = 1.5"), "lifetime.survive: must be a fraction"),
    ("survive-missing", spec(lifetime='distribution = "forever"'), "lifetime.survive"),
    ("bad-dist", spec(lifetime="survive = 1\ndistribution = 'pareto'"), "lifetime.distribution"),
    ("mean-missing", spec(lifetime="survive = 1\ndistribution = 'exponential'"), "mean_allocs"),
    ("mean-unused", spec(lifetime="survive = 1\nmean_allocs = 5"), "lifetime.mean_allocs: not"),
    (
        "uniform-reversed",
        spec(lifetime="survive = 1\ndistribution = 'uniform'\nmin_allocs = 9\nmax_allocs = 2"),
        "lifetime.max_allocs",
    ),
    ("bad-shape", spec(shape="heap"), "live.shape"),
    ("max-objects-zero", spec(max_objects=0), "live.max_objects"),
    ("max-objects-missing", spec().replace("max_objects = 40", ""), "live.max_objects: required"),
    ("live-missing", BASE + "\n[lifetime]\nsurvive = 0.5\n", "live.max_objects: required"),
    ("store-rate-negative", spec(rate=-1), "stores.rate"),
    ("store-rate-string", spec().replace("rate = 0.0", "rate = 'often'"), "stores.rate"),
    (
        "lifetime-not-table",
        "lifetime = 3\n" + GOOD.replace("[lifetime]\nsurvive = 0.3", ""),
        "lifetime: must be a table",
    ),
    ("fanout-for-ring", spec().replace("max_objects", "fanout = 1\nmax_objects"), "live.fanout"),
]


@pytest.mark.parametrize(("text", "key"), [(t, k) for _, t, k in BAD], ids=[i for i, _, _ in BAD])
def test_bad_specs_raise_one_line_naming_file_and_key(text: str, key: str) -> None:
    with pytest.raises(WorkloadError) as err:
        parse_workload(text, "bad.toml")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("bad.toml: ")
    assert key in msg


def test_a_typo_gets_a_suggestion() -> None:
    with pytest.raises(WorkloadError, match=r"types\[0\]\.wieght: unknown key \(did you mean"):
        parse_workload(GOOD.replace("weight = 3", "wieght = 3"), "bad.toml")


def test_load_workload_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "oops.toml"
    path.write_text(GOOD.replace("size = 64", "size = -64"))
    with pytest.raises(WorkloadError, match=r"oops\.toml: types\[0\]\.size: must be a positive"):
        load_workload(path)
    with pytest.raises(WorkloadError, match="missing.toml: cannot read"):
        load_workload(tmp_path / "missing.toml")


def test_defaults_of_a_minimal_spec() -> None:
    w = parse_workload("[workload]\nallocs = 10\n[[types]]\nname = 'A'\nsize = 8\n", "min.toml")
    assert isinstance(w, Workload)
    assert (w.name, w.seed, w.gomaxprocs, w.goroutines, w.policy) == (
        "workload",
        0,
        1,
        1,
        "roundrobin",
    )
    assert (w.shape, w.max_objects, w.store_rate, w.lifetime.survive) == ("ring", 0, 0.0, 0.0)
    prog, opts = build_program(w)
    result = prog.run(**opts, debug=True, check=True)
    assert result.memstats.Mallocs == 10 + 2  # no root slice; g records of worker and main
