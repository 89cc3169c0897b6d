"""Seeded synthetic traces: always valid, exactly the asked length, every block
freed, deterministic per seed, and shaped like the malloc-lab traces they imitate.
"""

from __future__ import annotations

import io
from collections import Counter

import pytest

from gomem.classic.gen import (
    COALESCE_FREE_ORDER,
    COALESCE_RUN,
    GENERATORS,
    generate,
    generate_trace,
)
from gomem.classic.trace import Trace, TraceHeader, write_trace

KINDS = ["random", "binary", "coalesce", "realloc"]

Ops = list[tuple[str, int, int]]


def live_at_end(ops: Ops) -> set[int]:
    """Replays ops with a plain set, asserting each is legal; the ids left live."""
    live: set[int] = set()
    next_id = 0
    for kind, ident, size in ops:
        if kind == "a":
            assert ident == next_id, "ids are allocated once, in order 0, 1, 2..."
            next_id += 1
            live.add(ident)
        elif kind == "r":
            assert ident in live
        else:
            assert kind == "f" and size == 0 and ident in live
            live.remove(ident)
    return live


def read_back(ops: Ops) -> Ops:
    """The ops written as a .rep text and parsed again (the reader checks them)."""
    text = io.StringIO()
    write_trace(ops, text, num_ids=sum(1 for op in ops if op[0] == "a"))
    return [(op.kind, op.id, op.size) for op in Trace.from_text(text.getvalue())]


def test_the_generators_are_the_four_kinds() -> None:
    assert sorted(GENERATORS) == sorted(KINDS)
    assert all(GENERATORS[k] for k in KINDS)  # each has a description


# (ops, seed, max_size): the smallest budgets (2, 3), budgets around one
# 14-op coalesce run (13, 14, 15), odd and even, larger ones, and max_size
# below every pattern's sizes (1, 5, 100).
CASES = [
    (2, 0, 4096),
    (3, 0, 4096),
    (4, 1, 4096),
    (13, 2, 4096),
    (14, 3, 4096),
    (15, 4, 4096),
    (100, 5, 4096),
    (1001, 6, 4096),
    (5000, 7, 4096),
    (61, 8, 1),
    (62, 9, 5),
    (333, 10, 100),
]
CASE_IDS = [f"ops{n}-seed{s}-max{m}" for n, s, m in CASES]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("ops", "seed", "max_size"), CASES, ids=CASE_IDS)
def test_generated_trace_is_valid_exact_length_and_frees_everything(
    kind: str, ops: int, seed: int, max_size: int
) -> None:
    generated = generate(kind, ops=ops, seed=seed, max_size=max_size)
    assert len(generated) == ops
    assert live_at_end(generated) == set()
    assert read_back(generated) == generated
    sizes = [size for k, _, size in generated if k != "f"]
    assert all(1 <= size <= max_size for size in sizes)


@pytest.mark.parametrize("kind", KINDS)
def test_generated_trace_depends_only_on_its_seed(kind: str) -> None:
    first = generate(kind, ops=200, seed=1)
    assert generate(kind, ops=200, seed=1) == first
    assert generate(kind, ops=200, seed=2) != first


@pytest.mark.parametrize("kind", KINDS)
def test_generator_uses_its_own_random_not_the_global_one(kind: str) -> None:
    import random

    random.seed(0)
    first = generate(kind, ops=300, seed=5)
    random.seed(99)
    state = random.getstate()
    assert generate(kind, ops=300, seed=5) == first
    assert random.getstate() == state  # the global generator was not touched


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"kind": "random", "ops": 1, "seed": 0}, "at least 2 ops"),
        ({"kind": "binary", "ops": 0, "seed": 0}, "at least 2 ops"),
        ({"kind": "coalesce", "ops": -3, "seed": 0}, "at least 2 ops"),
        ({"kind": "zipf", "ops": 10, "seed": 0}, "unknown trace kind 'zipf'"),
        ({"kind": "realloc", "ops": 10, "seed": 0, "max_size": 0}, "max_size must be >= 1"),
    ],
    ids=["one-op", "zero-ops", "negative-ops", "unknown-kind", "zero-max-size"],
)
def test_generate_refuses_impossible_requests(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        generate(**kwargs)  # type: ignore[arg-type]


# -- the shapes ---------------------------------------------------------------


def test_random_trace_mixes_all_ops_over_log_uniform_sizes() -> None:
    ops = generate("random", ops=4000, seed=11)
    kinds = Counter(k for k, _, _ in ops)
    assert kinds["a"] == kinds["f"]  # every malloc is freed
    assert kinds["r"] > 0  # "occasional" reallocs
    assert kinds["r"] < kinds["a"]
    sizes = [size for k, _, size in ops if k == "a"]
    # log-uniform on [1, 4096]: P(size < 16) = ln 16 / ln 4097 ~ 1/3 and
    # P(size >= 1024) = (ln 4097 - ln 1024) / ln 4097 ~ 1/6; uniform would
    # give 0.4% and 75%.
    small = sum(s < 16 for s in sizes) / len(sizes)
    large = sum(s >= 1024 for s in sizes) / len(sizes)
    assert 0.25 < small < 0.42
    assert 0.10 < large < 0.25


def test_binary_trace_alternates_small_and_large_then_frees_small_then_asks_bigger() -> None:
    ops = generate("binary", ops=60, seed=3)
    # 60 ops = 4k + 2m with k = 60 // 6 = 10 pairs and m = 30 - 20 = 10 big blocks:
    # 20 mallocs, 10 frees, 10 mallocs, 20 final frees.
    assert ops[:20] == [("a", i, 64 if i % 2 == 0 else 448) for i in range(20)]
    assert sorted(ident for _, ident, _ in ops[20:30]) == list(range(0, 20, 2))
    assert all(k == "f" for k, _, _ in ops[20:30])
    assert ops[30:40] == [("a", i, 512) for i in range(20, 30)]
    final = ops[40:]
    assert all(k == "f" for k, _, _ in final)
    assert sorted(ident for _, ident, _ in final) == list(range(1, 20, 2)) + list(range(20, 30))


def test_binary_trace_of_odd_length_reallocs_once_before_the_final_frees() -> None:
    ops = generate("binary", ops=61, seed=3)
    # the same 40 ops as for 60, then the one odd op: a realloc of a live block
    assert ops[:40] == generate("binary", ops=60, seed=3)[:40]
    assert ops[40][0] == "r"
    assert [k for k, _, _ in ops[41:]] == ["f"] * 20


def test_coalesce_trace_meets_all_four_coalescing_cases_then_needs_coalesced_space() -> None:
    ops = generate("coalesce", ops=30, seed=4)
    # 30 ops = 2 runs of 14 + 2 of padding. Run 0 is ids 0-4 and guard 5, run 1
    # ids 6-10 and guard 11, all allocated first, adjacent in address order.
    allocs = ops[:12]
    assert [(k, i) for k, i, _ in allocs] == [("a", i) for i in range(12)]
    unit = allocs[0][2]
    assert all(size == unit for _, _, size in allocs)
    frees = ops[12:22]
    assert frees == [("f", i, 0) for i in (1, 2, 4, 0, 3, 7, 8, 10, 6, 9)]
    # Replay the frees on the 12 blocks in address order; the case of CS:APP
    # fig. 9.40 is 1 + (next free) + 2 * (prev free): per run g1 -> 1, g2 -> 3,
    # g4 -> 1, g0 -> 2, g3 -> 4.
    free = [False] * 12
    cases = []
    for _, i, _ in frees:
        prev_free = i > 0 and free[i - 1]
        next_free = i < 11 and free[i + 1]
        cases.append(1 + next_free + 2 * prev_free)
        free[i] = True
    assert cases == [1, 3, 1, 2, 4] * 2
    # Then one block per run that is bigger than any single freed block.
    assert ops[22:24] == [("a", 12, 5 * unit), ("a", 13, 5 * unit)]
    # padding (a malloc/free pair), then the guards and big blocks in any order
    assert [(k, i) for k, i, _ in ops[24:26]] == [("a", 14), ("f", 14)]
    assert sorted(i for _, i, _ in ops[26:]) == [5, 11, 12, 13]


def test_coalesce_free_order_is_a_permutation_of_a_run() -> None:
    assert sorted(COALESCE_FREE_ORDER) == list(range(COALESCE_RUN))


def round_reallocs(ops: Ops) -> list[tuple[int, int]]:
    """(id, new size) of each realloc made between a small malloc and its free."""
    return [
        (ident, size)
        for i, (kind, ident, size) in enumerate(ops)
        if kind == "r" and ops[i - 1][0] == "a" and ops[i + 1] == ("f", ops[i - 1][1], 0)
    ]


def test_realloc_trace_grows_a_few_blocks_around_small_mallocs_and_frees() -> None:
    max_size = 1 << 20  # large enough that no block is ever reset
    ops = generate("realloc", ops=200, seed=6, max_size=max_size)
    g = next(i for i, (k, _, _) in enumerate(ops) if k == "r") - 1  # a small malloc precedes it
    assert 1 <= g <= 4
    assert ops[:g] == [("a", i, 512) for i in range(g)]  # the growing blocks
    # 200 ops = 2g for the growing blocks + 3 per round + padding (0..2)
    rounds = (200 - 2 * g) // 3
    size = dict.fromkeys(range(g), 512)
    for r in range(rounds):
        (ka, small, small_size), (kr, grown, new), (kf, freed, _) = ops[g + 3 * r : g + 3 * r + 3]
        assert (ka, kr, kf) == ("a", "r", "f")
        assert 16 <= small_size <= 128 and freed == small
        assert grown in size
        assert 16 <= new - size[grown] <= 512
        size[grown] = new
    assert len(round_reallocs(ops)) == rounds


def test_realloc_trace_resets_a_block_that_would_outgrow_max_size() -> None:
    ops = generate("realloc", ops=400, seed=6, max_size=1024)
    size = {ident: s for kind, ident, s in ops if kind == "a" and s == 512}
    resets = 0
    for ident, new in round_reallocs(ops):
        old, size[ident] = size[ident], new
        if new < old:
            # old + (16..512) > 1024, so old > 512; back to the starting 512
            assert (new, old > 512) == (512, True)
            resets += 1
        else:
            assert 16 <= new - old <= 512 and new <= 1024
    # a block grows by >= 16 from 512 and is reset past 1024, so at least once
    # every 32 growths of it; ~130 rounds on at most 4 blocks must reset
    assert resets > 0


def test_generate_trace_reads_back_with_a_computed_header() -> None:
    trace = generate_trace("binary", ops=6, seed=0)
    # binary with 6 ops: k = 1 pair, m = 1 big: a0 64, a1 448, f0, a2 512, then
    # f1 and f2. Live bytes peak after a2: 448 + 512 = 960. Ids 0..2.
    assert trace.name == "binary-6-0"
    assert trace.header == TraceHeader(heap_size=960, num_ids=3, num_ops=6, weight=1)
    ops = [(op.kind, op.id, op.size) for op in trace]
    assert ops == generate("binary", ops=6, seed=0)
    assert ops[:4] == [("a", 0, 64), ("a", 1, 448), ("f", 0, 0), ("a", 2, 512)]


def test_generate_trace_takes_a_name() -> None:
    assert generate_trace("random", ops=10, seed=0, name="rnd").name == "rnd"
