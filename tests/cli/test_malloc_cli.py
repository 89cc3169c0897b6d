"""`gomem malloc`: run, compare, quiz, map and gen, through `main(argv)` in-process.

Expected figures come from the rules the code models, worked by hand in comments:

* CS:APP 9.9 (`--preset csapp`): 4-byte words, 8-byte alignment, implicit list,
  first fit, immediate coalescing. mm_init takes 4 words (pad, prologue header
  and footer, epilogue) = 16 bytes, then extends the heap by CHUNKSIZE = 4096.
  A request of s bytes needs asize = 8 * ((s + 8 + 7) // 8); when nothing fits
  the heap grows by max(asize, 4096), and the new block coalesces with a free
  block at the heap's end. realloc is malloc + copy + free.
* The default allocator (explicit list, first fit): 8-byte words, 16-byte
  alignment, so mm_init takes 4 * 8 = 32 bytes, then 4096.
* malloc-lab utilisation = peak aggregate live payload / heap size at the end.
* A trace is a 4-number header (heap size, ids, ops, weight) on lines 1-4 as
  written here, then one op per line: op k is on line 4 + k (blank lines count).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gomem.classic.gen import generate
from gomem.classic.trace import Trace, write_trace


def assert_one_line_error(r) -> None:
    r.assert_one_line_error()


KINDS = ("binary", "coalesce", "random", "realloc")  # gen.py's four trace families

# Every allocator `compare` must run, written out by hand: csapp; implicit and
# explicit lists with first/next/best/worst fit; segregated lists with
# first/best/worst (next fit does not apply to them); simple segregated storage.
ALL_ALLOCATORS = {
    "csapp",
    "implicit-first",
    "implicit-next",
    "implicit-best",
    "implicit-worst",
    "explicit-first",
    "explicit-next",
    "explicit-best",
    "explicit-worst",
    "segregated-first",
    "segregated-best",
    "segregated-worst",
    "simple-segregated",
}
assert len(ALL_ALLOCATORS) == 13


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One small generated trace per kind: KIND.rep with 200 ops (seed 11)."""
    d = tmp_path_factory.mktemp("traces")
    out = {}
    for kind in KINDS:
        ops = generate(kind, ops=200, seed=11)
        path = d / f"{kind}.rep"
        write_trace(ops, path, num_ids=1 + max(op[1] for op in ops))
        out[kind] = path
    return out


def write_rep(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def run_json(gomem, *argv: str | Path) -> dict:
    r = gomem(*argv, "--json")
    assert (r.code, r.err) == (0, ""), r
    return json.loads(r.out)


# -- --help ---------------------------------------------------------------------------

HELP_COMMANDS = [
    ("malloc",),
    ("malloc", "run"),
    ("malloc", "compare"),
    ("malloc", "quiz"),
    ("malloc", "map"),
    ("malloc", "gen"),
]


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=[" ".join(c) for c in HELP_COMMANDS])
def test_help_of_malloc_and_each_subcommand_prints_usage_and_exits_0(
    gomem, command: tuple[str, ...]
) -> None:
    r = gomem(*command, "--help")
    assert (r.code, r.err) == (0, "")
    assert r.out.startswith("usage: gomem " + " ".join(command))
    assert "options:" in r.out


def test_malloc_without_a_subcommand_is_a_one_line_error(gomem) -> None:
    r = gomem("malloc")
    assert_one_line_error(r)
    assert r.err.startswith("gomem malloc: error: ")
    assert "SUBCOMMAND" in r.err


# -- gen ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_gen_writes_a_valid_trace_of_exactly_the_requested_ops(
    gomem, tmp_path: Path, kind: str
) -> None:
    out = tmp_path / "t.rep"
    r = gomem("malloc", "gen", kind, "--ops", "250", "--seed", "5", "-o", out)
    assert (r.code, r.out, r.err) == (0, "", "")
    trace = Trace.open(out)
    assert trace.header.num_ops == 250
    ops = list(trace)  # parses and checks every op: raises TraceError if invalid
    assert len(ops) == 250
    # gen.py's promises: ids numbered 0, 1, 2... in order of allocation; sizes in
    # [1, max_size] (default 4096); every block freed by the end.
    allocated = [op.id for op in ops if op.kind == "a"]
    assert allocated == list(range(len(allocated)))
    assert all(1 <= op.size <= 4096 for op in ops if op.kind != "f")
    assert sorted(op.id for op in ops if op.kind == "f") == allocated
    assert trace.header.num_ids == len(allocated)


@pytest.mark.parametrize("kind", KINDS)
def test_gen_keeps_every_request_within_max_size(gomem, tmp_path: Path, kind: str) -> None:
    out = tmp_path / "t.rep"
    r = gomem("malloc", "gen", kind, "--ops", "200", "--max-size", "64", "-o", out)
    assert r.code == 0, r
    sizes = [op.size for op in Trace.open(out) if op.kind != "f"]
    assert sizes and max(sizes) <= 64 and min(sizes) >= 1


@pytest.mark.parametrize("kind", KINDS)
def test_gen_to_stdout_prints_the_same_text_as_the_file(gomem, tmp_path: Path, kind: str) -> None:
    out = tmp_path / "t.rep"
    assert gomem("malloc", "gen", kind, "--ops", "200", "--seed", "3", "-o", out).code == 0
    r = gomem("malloc", "gen", kind, "--ops", "200", "--seed", "3")
    assert (r.code, r.err) == (0, "")
    assert r.out == out.read_text()


@pytest.mark.parametrize("kind", KINDS)
def test_gen_with_the_same_seed_writes_identical_bytes(gomem, tmp_path: Path, kind: str) -> None:
    a, b, c = tmp_path / "a.rep", tmp_path / "b.rep", tmp_path / "c.rep"
    for path, seed in ((a, "9"), (b, "9"), (c, "10")):
        assert gomem("malloc", "gen", kind, "--ops", "300", "--seed", seed, "-o", path).code == 0
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()  # the seed matters


BAD_GEN = [
    (("--ops", "0"), "--ops"),
    (("--ops", "x"), "--ops"),
    (("--ops", "-3"), "--ops"),
    (("--ops", "1"), "1"),  # a trace needs a malloc and its free: at least 2 ops
    (("--max-size", "0"), "--max-size"),
]


@pytest.mark.parametrize(
    ("options", "named"),
    BAD_GEN,
    ids=["ops-zero", "ops-not-a-number", "ops-negative", "ops-one", "max-size-zero"],
)
def test_gen_with_a_bad_value_is_one_line_error_and_writes_nothing(
    gomem, tmp_path: Path, options: tuple[str, ...], named: str
) -> None:
    r = gomem("malloc", "gen", "random", *options, "-o", tmp_path / "t.rep")
    assert_one_line_error(r)
    assert r.err.startswith("gomem malloc gen: error: ")
    assert named in r.err
    assert list(tmp_path.iterdir()) == []


def test_gen_into_a_missing_directory_is_one_line_error_and_writes_nothing(
    gomem, tmp_path: Path
) -> None:
    out = tmp_path / "nosuchdir" / "t.rep"
    r = gomem("malloc", "gen", "random", "--ops", "50", "-o", out)
    assert_one_line_error(r)
    assert r.err.startswith("gomem malloc gen: error: ")
    assert list(tmp_path.iterdir()) == []


def test_gen_onto_an_existing_directory_is_bad_input_exit_2(gomem, tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    r = gomem("malloc", "gen", "random", "--ops", "50", "-o", target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp file left
    assert list(target.iterdir()) == []
    assert_one_line_error(r)


# -- run: table and JSON ----------------------------------------------------------------


def table_rows(out: str) -> dict[str, list[str]]:
    """The `run` table: first cell -> the other cells, for the rows after the header."""
    lines = [line.split() for line in out.splitlines() if line.strip()]
    assert lines[0][0] == "allocator:"
    assert lines[1] == ["trace", "ops", "util", "%", "Kops"]
    return {cells[0]: cells[1:] for cells in lines[2:]}


def test_run_table_has_one_row_per_trace_and_an_average_with_op_counts(
    gomem, traces: dict[str, Path], tmp_path: Path
) -> None:
    tiny = write_rep(tmp_path / "tiny.rep", "0\n1\n2\n1\na 0 100\nf 0\n")
    r = gomem("malloc", "run", traces["random"], traces["binary"], tiny)
    assert (r.code, r.err) == (0, "")
    assert r.out.splitlines()[0] == "allocator: explicit-first"  # the defaults
    rows = table_rows(r.out)
    assert list(rows) == ["random", "binary", "tiny", "average"]
    ops = {name: int(cells[0].replace(",", "")) for name, cells in rows.items()}
    # 200 generated ops each; the tiny trace has 2; the average row shows the total.
    assert ops == {"random": 200, "binary": 200, "tiny": 2, "average": 402}


@pytest.mark.parametrize(
    ("options", "title"),
    [
        ((), "allocator: explicit-first"),
        (("--preset", "csapp"), "allocator: csapp"),
        (("--list", "implicit", "--policy", "best"), "allocator: implicit-best"),
        (("--list", "segregated", "--policy", "worst"), "allocator: segregated-worst"),
    ],
    ids=["default", "csapp", "implicit-best", "segregated-worst"],
)
def test_run_table_title_names_the_chosen_allocator(
    gomem, traces: dict[str, Path], options: tuple[str, ...], title: str
) -> None:
    r = gomem("malloc", "run", traces["coalesce"], *options)
    assert r.code == 0, r
    assert r.out.splitlines()[0] == title


def test_run_json_has_exactly_the_documented_schema_in_the_given_order(
    gomem, traces: dict[str, Path]
) -> None:
    given = [traces["realloc"], traces["binary"], traces["random"]]  # not alphabetical
    data = run_json(gomem, "malloc", "run", *given)
    assert list(data) == ["traces", "avg_util"]
    assert [list(t) for t in data["traces"]] == [["trace", "ops", "util", "kops"]] * 3
    assert [t["trace"] for t in data["traces"]] == ["realloc", "binary", "random"]
    assert [t["ops"] for t in data["traces"]] == [Trace.open(p).header.num_ops for p in given]
    for t in data["traces"]:
        assert isinstance(t["ops"], int)
        assert 0 < t["util"] <= 1  # peak live payload can never exceed the heap
        assert t["kops"] > 0


def test_run_avg_util_is_the_mean_of_the_per_trace_utils(gomem, traces: dict[str, Path]) -> None:
    data = run_json(gomem, "malloc", "run", *traces.values())
    utils = [t["util"] for t in data["traces"]]
    assert len(utils) == 4
    assert data["avg_util"] == pytest.approx(sum(utils) / 4, rel=1e-12)


def test_run_table_percentages_agree_with_the_json_utils(gomem, traces: dict[str, Path]) -> None:
    data = run_json(gomem, "malloc", "run", *traces.values())
    rows = table_rows(gomem("malloc", "run", *traces.values()).out)
    for t in data["traces"]:
        assert rows[t["trace"]][1] == f"{100 * t['util']:.1f}"
    assert rows["average"][1] == f"{100 * data['avg_util']:.1f}"


def test_run_names_simple_segregated_as_compare_does(gomem, traces: dict[str, Path]) -> None:
    r = gomem("malloc", "run", traces["coalesce"], "--list", "simple-segregated")
    assert r.code == 0, r
    assert r.out.splitlines()[0] == "allocator: simple-segregated"  # the name in compare


# (options, trace ops after the header, expected util worked by hand)
HAND_UTILS = [
    # csapp: heap = 16 (pad, prologue header + footer, epilogue) + 4096 = 4112.
    # a 0 100: asize = 8 * ((100 + 8 + 7) // 8) = 112 fits in the 4096 free block.
    # Peak payload 100 -> util = 100 / 4112 = 0.02432.
    (("--preset", "csapp"), ["a 0 100", "f 0"], 100 / 4112),
    # csapp: a 0 5000: asize = 8 * ((5000 + 8 + 7) // 8) = 5008 > 4096 free: no fit.
    # Extend by max(5008, 4096) = 5008, which coalesces with the 4096 free block at
    # the end (9104 free, 5008 placed): heap = 16 + 4096 + 5008 = 9120.
    # util = 5000 / 9120 = 0.5482.
    (("--preset", "csapp"), ["a 0 5000", "f 0"], 5000 / 9120),
    # csapp: live payload 100, 300 (peak), 200, 250, 50, 0 -> peak 300. asizes 112,
    # 208, 56 all fit in the first 4096: heap stays 4112. util = 300 / 4112.
    (
        ("--preset", "csapp"),
        ["a 0 100", "a 1 200", "f 0", "a 2 50", "f 1", "f 2"],
        300 / 4112,
    ),
    # csapp realloc = malloc + copy + free. a 0 2000: asize 2008, leaves 4096 - 2008
    # = 2088 free. r 0 3000: malloc asize 8 * ((3000 + 15) // 8) = 3008 > 2088: no fit;
    # extend by max(3008, 4096) = 4096, coalesced with the 2088 at the end; the copy
    # fits there. heap = 16 + 4096 + 4096 = 8208; peak payload 3000. util = 3000 / 8208.
    (("--preset", "csapp"), ["a 0 2000", "r 0 3000", "f 0"], 3000 / 8208),
    # Default (explicit, first fit): 8-byte words, 16-byte alignment. mm_init
    # 4 * 8 = 32 bytes + 4096 = 4128. a 0 100 (asize 16 * ceil(116 / 16) = 128) fits.
    ((), ["a 0 100", "f 0"], 100 / 4128),
    # Default: a 0 5000: asize = 16 * ceil(5016 / 16) = 5024 > 4096: extend by 5024,
    # coalesced with the free 4096: heap = 32 + 4096 + 5024 = 9152. util = 5000 / 9152.
    ((), ["a 0 5000", "f 0"], 5000 / 9152),
]


@pytest.mark.parametrize(
    ("options", "ops", "util"),
    HAND_UTILS,
    ids=[
        "csapp-fits-first-chunk",
        "csapp-forces-growth",
        "csapp-peak-of-three",
        "csapp-realloc-grows",
        "explicit-fits-first-chunk",
        "explicit-forces-growth",
    ],
)
def test_run_util_of_a_tiny_trace_matches_the_hand_calculation(
    gomem, tmp_path: Path, options: tuple[str, ...], ops: list[str], util: float
) -> None:
    n_ids = len({line.split()[1] for line in ops})
    path = write_rep(tmp_path / "hand.rep", f"0\n{n_ids}\n{len(ops)}\n1\n" + "\n".join(ops) + "\n")
    data = run_json(gomem, "malloc", "run", path, *options)
    (t,) = data["traces"]
    assert t["ops"] == len(ops)
    assert t["util"] == pytest.approx(util, rel=1e-12)
    assert data["avg_util"] == pytest.approx(util, rel=1e-12)


@pytest.mark.parametrize(
    "options",
    [(), ("--preset", "csapp"), ("--list", "simple-segregated")],
    ids=["default", "csapp", "simple-segregated"],
)
def test_run_utilisation_replays_exactly_only_kops_may_differ(
    gomem, traces: dict[str, Path], options: tuple[str, ...]
) -> None:
    first = run_json(gomem, "malloc", "run", *traces.values(), *options)
    second = run_json(gomem, "malloc", "run", *traces.values(), *options)

    def without_kops(d: dict) -> dict:
        return {**d, "traces": [{k: v for k, v in t.items() if k != "kops"} for t in d["traces"]]}

    assert without_kops(first) == without_kops(second)


# -- run --check and allocator options ---------------------------------------------------

CHECK_COMBOS = [
    ("--preset", "csapp"),
    ("--list", "implicit", "--policy", "next"),
    ("--list", "implicit", "--policy", "worst", "--coalesce", "deferred"),
    ("--list", "explicit", "--policy", "best", "--insertion", "address"),
    ("--list", "explicit", "--policy", "next", "--coalesce", "deferred"),
    ("--list", "segregated", "--policy", "first"),
    ("--list", "segregated", "--policy", "best", "--insertion", "address"),
    ("--list", "simple-segregated"),
]


@pytest.mark.parametrize("options", CHECK_COMBOS, ids=["-".join(o[1::2]) for o in CHECK_COMBOS])
def test_run_check_is_green_on_generated_traces_and_changes_no_figure(
    gomem, traces: dict[str, Path], options: tuple[str, ...]
) -> None:
    checked = run_json(gomem, "malloc", "run", *traces.values(), *options, "--check")
    plain = run_json(gomem, "malloc", "run", *traces.values(), *options)
    assert [t["ops"] for t in checked["traces"]] == [200] * 4
    # Checking only observes: the utilisation is the same with and without it.
    assert [t["util"] for t in checked["traces"]] == [t["util"] for t in plain["traces"]]


@pytest.mark.parametrize("command", ["run", "map"])
@pytest.mark.parametrize(
    ("options", "named"),
    [
        (("--list", "simple-segregated", "--policy", "best"), "--policy first"),
        (("--list", "simple-segregated", "--policy", "worst"), "--policy first"),
        (("--list", "segregated", "--policy", "next"), "next fit"),
    ],
    ids=["simple-segregated-best", "simple-segregated-worst", "segregated-next"],
)
def test_an_impossible_list_and_policy_is_a_one_line_error(
    gomem, traces: dict[str, Path], tmp_path: Path, command: str, options: tuple[str, ...], named
) -> None:
    extra = ("-o", tmp_path / "m.png") if command == "map" else ()
    r = gomem("malloc", command, traces["random"], *options, *extra)
    assert_one_line_error(r)
    assert r.err.startswith(f"gomem malloc {command}: error: ")
    assert named in r.err
    assert list(tmp_path.iterdir()) == []


# -- malformed traces ----------------------------------------------------------------------

# (id, trace text, line the error must name (worked out from the text), words it must contain)
MALFORMED = [
    ("unknown-op", "0\n2\n2\n1\na 0 8\nx 0\n", 6, "unknown op"),  # op 2 -> line 6
    ("free-of-dead-id", "0\n1\n3\n1\na 0 8\nf 0\nf 0\n", 7, "already freed"),  # op 3
    ("free-never-allocated", "0\n2\n1\n1\nf 1\n", 5, "never allocated"),  # op 1
    ("realloc-of-dead-id", "0\n1\n3\n1\na 0 8\nf 0\nr 0 16\n", 7, "not live"),
    # The header promises 3 ops, the file ends after 2: named at its last line, 6.
    ("truncated-ops", "0\n1\n3\n1\na 0 8\nf 0\n", 6, "truncated"),
    # Two header numbers, then end of file on line 2.
    ("truncated-header", "0\n2\n", 2, "truncated header"),
    ("empty-file", "", 1, "missing header"),
    ("missing-size", "0\n1\n2\n1\na 0\nf 0\n", 5, "'a' takes 3 fields"),
    # The header promises 1 op; the second (line 6) is one too many.
    ("count-mismatch-extra-op", "0\n1\n1\n1\na 0 8\nf 0\n", 6, "extra op"),
    ("negative-size", "0\n1\n2\n1\na 0 -8\nf 0\n", 5, "negative size"),
    ("id-out-of-range", "0\n1\n2\n1\na 1 8\nf 1\n", 5, "outside [0, 1)"),
    # Blank lines count: header 1-4, blank 5, a on 6, blank 7, the bad op on 8.
    ("blank-lines-are-counted", "0\n1\n2\n1\n\na 0 8\n\nq 0\n", 8, "unknown op"),
]


@pytest.mark.parametrize(
    ("text", "line", "words"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_trace_is_one_error_line_naming_file_and_line(
    gomem, traces: dict[str, Path], tmp_path: Path, text: str, line: int, words: str
) -> None:
    bad = write_rep(tmp_path / "bad.rep", text)
    # A good trace first: nothing of it may be printed when a later one is bad.
    r = gomem("malloc", "run", traces["random"], bad)
    assert_one_line_error(r)
    assert r.err.startswith(f"gomem malloc run: error: {bad}:{line}: "), r.err
    assert words in r.err


def test_non_ascii_bytes_in_a_trace_are_an_error_at_their_line(gomem, tmp_path: Path) -> None:
    bad = tmp_path / "bad.rep"
    bad.write_bytes(b"0\n1\n2\n1\na 0 8\nf \xc3\xa9\n")  # "f é" on line 6
    r = gomem("malloc", "run", bad)
    assert_one_line_error(r)
    assert r.err.startswith(f"gomem malloc run: error: {bad}:6: ")


@pytest.mark.parametrize("command", ["run", "compare"])
def test_malformed_trace_in_compare_or_run_json_prints_no_json(
    gomem, traces: dict[str, Path], tmp_path: Path, command: str
) -> None:
    bad = write_rep(tmp_path / "bad.rep", "0\n1\n2\n1\na 0 -8\nf 0\n")  # line 5
    r = gomem("malloc", command, traces["random"], bad, "--json")
    assert_one_line_error(r)
    assert r.err.startswith(f"gomem malloc {command}: error: {bad}:5: ")


@pytest.mark.parametrize("command", ["run", "compare", "map"])
@pytest.mark.parametrize("what", ["missing-file", "directory"])
def test_unreadable_trace_path_is_one_error_line_naming_it(
    gomem, tmp_path: Path, command: str, what: str
) -> None:
    path = tmp_path / "nosuch.rep"
    if what == "directory":
        path = tmp_path / "adir.rep"
        path.mkdir()
    extra = ("-o", tmp_path / "m.png") if command == "map" else ()
    r = gomem("malloc", command, path, *extra)
    assert_one_line_error(r)
    assert r.err.startswith(f"gomem malloc {command}: error: {path}: ")
    assert not (tmp_path / "m.png").exists()


# -- compare -----------------------------------------------------------------------------------


def test_compare_runs_all_13_allocators_best_first_ties_by_name(
    gomem, traces: dict[str, Path]
) -> None:
    data = run_json(gomem, "malloc", "compare", traces["random"], traces["coalesce"])
    assert list(data) == ["allocators"]
    rows = data["allocators"]
    assert [list(row) for row in rows] == [["allocator", "avg_util", "kops", "traces"]] * 13
    names = [row["allocator"] for row in rows]
    assert set(names) == ALL_ALLOCATORS and len(names) == 13
    # Sorted by average utilisation, highest first; equal averages by name.
    assert names == [
        row["allocator"] for row in sorted(rows, key=lambda r: (-r["avg_util"], r["allocator"]))
    ]
    for row in rows:
        assert [t["trace"] for t in row["traces"]] == ["random", "coalesce"]  # given order
        utils = [t["util"] for t in row["traces"]]
        assert row["avg_util"] == pytest.approx(sum(utils) / 2, rel=1e-12)


def test_compare_ties_are_broken_by_name(gomem, tmp_path: Path) -> None:
    # A trace of no ops: peak payload 0, so every allocator's util is 0 / heap = 0,
    # a 13-way tie; the order must then be the names, alphabetically.
    empty = write_rep(tmp_path / "empty.rep", "0\n0\n0\n1\n")
    rows = run_json(gomem, "malloc", "compare", empty)["allocators"]
    assert [row["avg_util"] for row in rows] == [0.0] * 13
    assert [row["allocator"] for row in rows] == [
        "csapp",
        "explicit-best",
        "explicit-first",
        "explicit-next",
        "explicit-worst",
        "implicit-best",
        "implicit-first",
        "implicit-next",
        "implicit-worst",
        "segregated-best",
        "segregated-first",
        "segregated-worst",
        "simple-segregated",
    ]


def test_compare_order_and_utils_are_identical_across_runs(gomem, traces: dict[str, Path]) -> None:
    argv = ("malloc", "compare", traces["binary"], traces["realloc"])
    first, second = run_json(gomem, *argv), run_json(gomem, *argv)

    def figures(d: dict) -> list[tuple]:
        return [(r["allocator"], r["avg_util"], r["traces"]) for r in d["allocators"]]

    assert figures(first) == figures(second)


def test_compare_table_lists_the_allocators_in_the_json_order(
    gomem, traces: dict[str, Path]
) -> None:
    argv = ("malloc", "compare", traces["random"], traces["binary"])
    order = [row["allocator"] for row in run_json(gomem, *argv)["allocators"]]
    r = gomem(*argv)
    assert (r.code, r.err) == (0, "")
    lines = [line.split() for line in r.out.splitlines() if line.strip()]
    assert lines[0] == ["allocator", "avg", "util", "%", "random", "binary", "Kops"]
    assert [cells[0] for cells in lines[1:]] == order


def test_compare_agrees_with_run_for_the_same_allocator(gomem, traces: dict[str, Path]) -> None:
    rows = run_json(gomem, "malloc", "compare", traces["coalesce"])["allocators"]
    by_name = {row["allocator"]: row["traces"][0]["util"] for row in rows}
    for name, options in [
        ("csapp", ("--preset", "csapp")),
        ("implicit-next", ("--list", "implicit", "--policy", "next")),
        ("simple-segregated", ("--list", "simple-segregated")),
    ]:
        (t,) = run_json(gomem, "malloc", "run", traces["coalesce"], *options)["traces"]
        assert t["util"] == by_name[name], name


# -- quiz ------------------------------------------------------------------------------------

_STEP_RE = re.compile(r"^(\d+)\. (?:(p\d+) = malloc\((\d+)\)|free\((p\d+)\))$")


def quiz_steps(out: str) -> list[tuple[str, str, int, str]]:
    """(kind 'malloc' or 'free', name, size (0 for free), the answer line) per step."""
    lines = out.splitlines()
    steps = []
    for i, line in enumerate(lines):
        m = _STEP_RE.match(line)
        if m:
            if m.group(2):
                steps.append(("malloc", m.group(2), int(m.group(3)), lines[i + 1]))
            else:
                steps.append(("free", m.group(4), 0, lines[i + 1]))
    return steps


def test_quiz_without_solve_hides_every_answer(gomem) -> None:
    r = gomem("malloc", "quiz", "--seed", "3")
    assert (r.code, r.err) == (0, "")
    steps = quiz_steps(r.out)
    assert len(steps) == 8  # --steps defaults to 8
    for _kind, _name, _size, answer in steps:
        assert answer.strip() == "answer: ?  (free list after this step?)"
        assert "heap+" not in answer
    assert "--solve" in r.out.splitlines()[-1]


def test_quiz_with_solve_shows_addresses_and_free_lists(gomem) -> None:
    r = gomem("malloc", "quiz", "--seed", "3", "--solve")
    assert (r.code, r.err) == (0, "")
    steps = quiz_steps(r.out)
    assert len(steps) == 8
    free_list = r"free list: (\(empty\)|\[heap\+\d+: \d+\]( -> \[heap\+\d+: \d+\])*)"
    for kind, name, _size, answer in steps:
        if kind == "malloc":
            assert re.fullmatch(rf"   {name} = heap\+\d+; {free_list}", answer), answer
        else:
            assert re.fullmatch(rf"   {free_list}", answer), answer


@pytest.mark.parametrize("solve", [(), ("--solve",)], ids=["hidden", "solved"])
def test_quiz_with_the_same_seed_prints_the_same_output(gomem, solve: tuple[str, ...]) -> None:
    a = gomem("malloc", "quiz", "--seed", "3", *solve)
    b = gomem("malloc", "quiz", "--seed", "3", *solve)
    assert a.code == 0 and a.out == b.out


def test_quiz_asks_the_same_questions_with_and_without_solve(gomem) -> None:
    hidden = gomem("malloc", "quiz", "--seed", "4", "--steps", "12").out
    solved = gomem("malloc", "quiz", "--seed", "4", "--steps", "12", "--solve").out
    assert len(quiz_steps(hidden)) == 12
    assert [s[:3] for s in quiz_steps(hidden)] == [s[:3] for s in quiz_steps(solved)]


def test_quiz_first_step_matches_the_rules_in_its_header(gomem) -> None:
    r = gomem("malloc", "quiz", "--seed", "3", "--solve")
    lines = r.out.splitlines()
    assert "explicit free list, address order" in lines[0]
    assert "8-byte words" in lines[0]
    # mm_init: pad, prologue header + footer, epilogue = 4 words of 8 = 32 bytes, so
    # the first block's payload is at heap+32; the first chunk is one free 256-byte block.
    assert "Start: free list [heap+32: 256]" in r.out
    kind, name, size, answer = quiz_steps(r.out)[0]
    assert (kind, name) == ("malloc", "p1")  # nothing is live yet, so step 1 is a malloc
    # asize = payload + 16 of header and footer, rounded up to 8, at least 32.
    asize = max(32, (size + 16 + 7) // 8 * 8)
    rest = 256 - asize
    free_list = f"[heap+{32 + asize}: {rest}]" if rest >= 32 else "(empty)"
    assert answer == f"   p1 = heap+32; free list: {free_list}"


def model_quiz(steps: list[tuple[str, str, int, str]], policy: str) -> list[str]:
    """The answer lines of a solved quiz, from the textbook rules alone.

    Blocks are [payload offset, size, allocated] in address order, starting with
    one free block of 256 at heap+32. A request takes asize = max(32, 8-rounded
    size + 16); the fit is chosen among the free blocks in address order (the list
    is kept in address order); a block splits when the rest is >= 32 bytes; when
    nothing fits the heap grows by 256 bytes (every request here is < 256) and the
    new block merges with a free block at the end. A free merges with free
    neighbours on both sides.
    """
    blocks = [[32, 256, False]]
    where: dict[str, int] = {}
    answers = []

    def free_list() -> str:
        nodes = [f"[heap+{o}: {s}]" for o, s, alloc in blocks if not alloc]
        return " -> ".join(nodes) if nodes else "(empty)"

    for kind, name, size, _ in steps:
        if kind == "malloc":
            asize = max(32, (size + 16 + 7) // 8 * 8)
            fits = [b for b in blocks if not b[2] and b[1] >= asize]
            if not fits:
                end = blocks[-1][0] + blocks[-1][1]
                if not blocks[-1][2]:
                    blocks[-1][1] += 256
                else:
                    blocks.append([end, 256, False])
                fits = [blocks[-1]]
            if policy == "best":
                b = min(fits, key=lambda b: b[1])  # min/max keep the lowest address on ties
            elif policy == "worst":
                b = max(fits, key=lambda b: b[1])
            else:
                b = fits[0]
            if b[1] - asize >= 32:
                blocks.insert(blocks.index(b) + 1, [b[0] + asize, b[1] - asize, False])
                b[1] = asize
            b[2] = True
            where[name] = b[0]
            answers.append(f"   {name} = heap+{b[0]}; free list: {free_list()}")
        else:
            i = next(k for k, b in enumerate(blocks) if b[0] == where[name])
            blocks[i][2] = False
            if i + 1 < len(blocks) and not blocks[i + 1][2]:
                blocks[i][1] += blocks.pop(i + 1)[1]
            if i > 0 and not blocks[i - 1][2]:
                blocks[i - 1][1] += blocks.pop(i)[1]
            answers.append(f"   free list: {free_list()}")
    return answers


@pytest.mark.parametrize("policy", ["first", "best", "worst"])
@pytest.mark.parametrize("seed", ["1", "2", "3", "7"])
def test_solved_quiz_matches_a_hand_model_of_the_rules(gomem, seed: str, policy: str) -> None:
    r = gomem("malloc", "quiz", "--seed", seed, "--steps", "16", "--policy", policy, "--solve")
    assert r.code == 0, r
    steps = quiz_steps(r.out)
    assert len(steps) == 16
    assert [s[3] for s in steps] == model_quiz(steps, policy)


@pytest.mark.parametrize("steps", ["0", "-1", "two"])
def test_quiz_with_bad_steps_is_a_one_line_error(gomem, steps: str) -> None:
    r = gomem("malloc", "quiz", "--steps", steps)
    assert_one_line_error(r)
    assert r.err.startswith("gomem malloc quiz: error: ")
    assert "--steps" in r.err


# -- map ---------------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def small_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60-op random trace: enough blocks to draw, quick to render."""
    path = tmp_path_factory.mktemp("map") / "small.rep"
    ops = generate("random", ops=60, seed=2)
    write_trace(ops, path, num_ids=1 + max(op[1] for op in ops))
    return path


def test_map_writes_a_png_of_10_by_6_inches_at_100_dpi(
    gomem, small_trace: Path, tmp_path: Path
) -> None:
    import matplotlib.image  # noqa: PLC0415 - only the map tests need it

    out = tmp_path / "out.png"
    r = gomem("malloc", "map", small_trace, "-o", out)
    assert (r.code, r.err) == (0, "")
    # 60 ops: one snapshot every max(1, 60 // 300) = 1 op -> 60 snapshots.
    assert r.out == f"wrote {out} (60 snapshots of 60 ops)\n"
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(out)
    # 10 in x 100 dpi = 1000 px wide, 6 in x 100 dpi = 600 px high; RGB or RGBA.
    assert image.shape[:2] == (600, 1000)
    assert image.shape[2] in (3, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temp file left


def test_map_of_the_same_trace_twice_gives_identical_png_bytes(
    gomem, small_trace: Path, tmp_path: Path
) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert gomem("malloc", "map", small_trace, "-o", a).code == 0
    assert gomem("malloc", "map", small_trace, "-o", b).code == 0
    assert a.read_bytes() == b.read_bytes()


def test_map_into_a_missing_directory_is_one_line_error_and_writes_nothing(
    gomem, small_trace: Path, tmp_path: Path
) -> None:
    r = gomem("malloc", "map", small_trace, "-o", tmp_path / "nosuchdir" / "out.png")
    assert_one_line_error(r)
    assert r.err.startswith("gomem malloc map: error: ")
    assert list(tmp_path.iterdir()) == []


def test_map_of_a_malformed_trace_is_one_line_error_and_leaves_no_png(
    gomem, tmp_path: Path
) -> None:
    bad = write_rep(tmp_path / "bad.rep", "0\n1\n3\n1\na 0 8\nf 0\nf 0\n")  # op 3, line 7
    out = tmp_path / "out.png"
    r = gomem("malloc", "map", bad, "-o", out)
    assert_one_line_error(r)
    assert r.err.startswith(f"gomem malloc map: error: {bad}:7: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.rep"]


def test_map_onto_an_existing_directory_is_bad_input_exit_2(
    gomem, small_trace: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    target.mkdir()
    r = gomem("malloc", "map", small_trace, "-o", target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp file left
    assert list(target.iterdir()) == []
    assert_one_line_error(r)
