"""`gomem run`: programs and workloads, their summary, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def test_run_node_example_prints_memstats_and_digest(gomem) -> None:
    r = gomem("run", EXAMPLES / "node.py", "--check")
    assert r.code == 0, r.err
    # New allocates two 16-byte Nodes (ID int, Parent *Node: a scan object, class 2); the
    # main goroutine's g record is a 440-byte heap object (class 448): 32 + 448 bytes.
    assert "HeapObjects                3" in r.out
    assert "HeapAlloc                480" in r.out
    assert "schedule digest: " in r.out
    # Switch points: call, new, new, store. Operations add the frame-slot reads and writes:
    # f.child =, f.parent =, f.child and f.parent (the store's operands), return f.child,
    # and main's f.n = : six.
    assert "1 goroutine, 10 operations (4 switch points)" in r.out


def test_run_json_and_save_agree(gomem, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    r = gomem("run", EXAMPLES / "linkedlist.py", "--gomaxprocs", "2", "--json", "--save", out)
    assert r.code == 0, r.err
    shown = json.loads(r.out)
    assert json.loads(out.read_text()) == shown
    # Two builders x 500 Items of 64 bytes (Val, Next, [48]byte payload): 64,000 bytes,
    # and three g records (main and two builders) of 448 bytes.
    assert shown["memstats"]["HeapAlloc"] == 64_000 + 3 * 448
    assert shown["memstats"]["HeapObjects"] == 1003
    assert shown["pointer_stores"] == 2000  # it.Next and the global head, per Item
    assert shown["goroutines"] == 3


def test_stack_growth_example_copies_stacks(gomem) -> None:
    r = gomem("run", EXAMPLES / "deepstack.py", "--json")
    data = json.loads(r.out)
    # 200 nested frames of 88 B + 8 B return address = 19,200 B: 2K -> 4K -> 8K -> 16K -> 32K.
    assert data["stack_copies"] == 4
    assert data["memstats"]["StackInuse"] >= 32 * 1024


def _run_subprocess(args: list[str], hashseed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    cmd = [sys.executable, "-m", "gomem.cli.main", "run", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout


def test_same_seed_same_output_across_hash_seeds() -> None:
    args = [str(EXAMPLES / "linkedlist.py"), "--gomaxprocs", "2", "--schedule", "random"]
    a = _run_subprocess([*args, "--seed", "5"], "1")
    b = _run_subprocess([*args, "--seed", "5"], "2")
    c = _run_subprocess([*args, "--seed", "6"], "1")
    assert a == b
    digest = [line for line in a.splitlines() if line.startswith("schedule digest")]
    other = [line for line in c.splitlines() if line.startswith("schedule digest")]
    assert digest != other


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("x = 1\n", "expected one gomem.program.Program"),
        ("from gomem.program import Program\nprog = Program()\n", "no func 'main'"),
        ("def broken(:\n", "syntax error"),
        ("raise ValueError('nope')\n", "ValueError: nope"),
        (
            "from gomem.program import Program\nprog = Program()\n"
            "@prog.func\ndef main(g, f):\n    g.new('Missing')\n",
            "unknown type 'Missing'",
        ),
    ],
    ids=["no-program", "no-main", "syntax", "import-error", "bad-type"],
)
def test_bad_program_is_one_line_exit_2(gomem, tmp_path: Path, source: str, needle: str) -> None:
    path = tmp_path / "p.py"
    path.write_text(source)
    r = gomem("run", path)
    r.assert_one_line_error()
    assert needle in r.err


def test_missing_file_and_bad_suffix(gomem, tmp_path: Path) -> None:
    gomem("run", tmp_path / "nope.py").assert_one_line_error()
    other = tmp_path / "x.txt"
    other.write_text("")
    gomem("run", other).assert_one_line_error()


def test_save_into_missing_directory_writes_nothing(gomem, tmp_path: Path) -> None:
    r = gomem("run", EXAMPLES / "node.py", "--save", tmp_path / "no" / "run.json")
    r.assert_one_line_error()
    assert not (tmp_path / "no").exists()


@pytest.mark.slow
def test_steady_workload_is_byte_identical_across_processes() -> None:
    args = [str(EXAMPLES / "steady.toml")]
    a = _run_subprocess([*args, "--seed", "7"], "1")
    b = _run_subprocess([*args, "--seed", "7"], "99")
    c = _run_subprocess([*args, "--seed", "8"], "1")
    assert a == b
    assert "4 goroutines" in a or "5 goroutines" in a  # four workers and main
    digest = [line for line in a.splitlines() if line.startswith("schedule digest")]
    other = [line for line in c.splitlines() if line.startswith("schedule digest")]
    assert digest and other and digest != other


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ('[workload]\nname = "x"\ngoroutines = 2\nallocs = 10\nsurvive = 2\n', "survive"),
        (
            '[workload]\ngoroutines = 1\nallocs = 10\n[[types]]\nname = "A"\nsize = "12x"\n',
            "types[0].size",
        ),
        ("[workload\n", "invalid TOML"),
    ],
    ids=["misplaced-key", "bad-size", "syntax"],
)
def test_bad_workload_is_one_line_naming_the_key(
    gomem, tmp_path: Path, toml: str, needle: str
) -> None:
    path = tmp_path / "w.toml"
    path.write_text(toml)
    r = gomem("run", path)
    r.assert_one_line_error()
    assert needle in r.err


def test_builtin_node_runs_by_name(gomem) -> None:
    r = gomem("run", "node", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["memstats"]["HeapObjects"] == 3  # two Nodes and main's g
    gomem("run", "nosuchprogram").assert_one_line_error()


def test_gctrace_lines_go_to_stderr_and_gogc_off_disables_collection(gomem) -> None:
    r = gomem("run", EXAMPLES / "steady.toml", "--gctrace", "--json")
    assert r.code == 0
    lines = r.err.splitlines()
    cycles = json.loads(r.out)["gc_cycles"]
    assert cycles >= 1 and len(lines) == cycles
    assert all(line.startswith(f"gc {i} @") for i, line in enumerate(lines, 1))
    off = gomem("run", EXAMPLES / "steady.toml", "--gogc", "off", "--gctrace", "--json")
    assert off.err == "" and json.loads(off.out)["gc_cycles"] == 0


def test_bad_gogc_is_one_line(gomem) -> None:
    gomem("run", "node", "--gogc", "lots").assert_one_line_error()


@pytest.mark.parametrize("bad", ["512MB", "-1", "1.5GiB", "lots"])
def test_bad_memlimit_is_one_line(gomem, bad: str) -> None:
    gomem("run", "node", "--memlimit", bad).assert_one_line_error()


def test_a_binding_memory_limit_lowers_the_goal_and_collects_more_often(gomem) -> None:
    # steady.toml's heap stays under 3 MiB; GOMEMLIMIT=3MiB leaves a goal of the limit
    # less the non-heap memory (metadata, stacks) less 1 MiB of headroom: under 4 MiB.
    free = gomem("run", EXAMPLES / "steady.toml", "--gctrace", "--json")
    tight = gomem("run", EXAMPLES / "steady.toml", "--gctrace", "--json", "--memlimit", "3MiB")
    assert tight.code == 0, tight.err
    assert json.loads(tight.out)["gc_cycles"] > json.loads(free.out)["gc_cycles"]
    goals = [int(line.split(" MB goal")[0].rsplit(" ", 1)[1]) for line in tight.err.splitlines()]
    assert goals and max(goals) < 4


def test_gc_demo_shows_the_lost_object_without_a_barrier(gomem) -> None:
    r = gomem("gc", "demo", "--barrier", "none")
    assert r.code == 0, r.err
    assert "LOST OBJECT" in r.out and "reachable from object" in r.out and "was freed" in r.out
    ok = gomem("gc", "demo", "--barrier", "go", "--json")
    data = json.loads(ok.out)
    assert data["lost"] == "" and data["after_sweep"]["Z"] != "free"
    # After x.P = z and y.P = nil the buffered barrier has Z in its buffer: grey.
    colours = [row["colours"]["Z"] for row in data["steps"] if row.get("colours")]
    assert "grey" in colours and colours[0] == "white"


def test_gc_sweepgen_counts_by_two_and_shows_span_states(gomem) -> None:
    r = gomem("gc", "sweepgen", "--cycles", "3")
    assert r.code == 0, r.err
    ends = [line for line in r.out.splitlines() if "after the sweep" in line]
    assert [line.split("sweepgen = ")[1].split(",")[0] for line in ends] == ["2", "4", "6"]
    assert "-2 needs sweeping" in r.out and "+0 swept" in r.out and "+3 cached" in r.out
    # 150 of the 600 sixteen-byte nodes are kept from the global root: 2,400 bytes; and
    # the g records (448 B) of the collector's mark worker and background sweeper.
    assert all("HeapAlloc 3,296 bytes" in line for line in ends)


def test_run_barrier_is_selectable(gomem) -> None:
    r = gomem("run", EXAMPLES / "steady.toml", "--barrier", "dijkstra", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["barrier"] == "dijkstra" and data["gc_cycles"] >= 1
    gomem("run", "node", "--barrier", "steele").assert_one_line_error()
