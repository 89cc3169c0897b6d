"""`gomem whatif` from the command line: the 8-setting sweep, JSON, the plot, and
one-line errors. The model's numbers are tested in tests/whatif."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SWEEP = (
    "whatif",
    "--live",
    "300MiB",
    "--alloc-rate",
    "200MiB/s",
    "--total-alloc",
    "8GiB",
    "--gogc",
    "50,100,200,off",
    "--memlimit",
    "none,512MiB",
)


def test_the_issue_sweep_prints_eight_settings(gomem) -> None:
    r = gomem(*SWEEP)
    assert r.code == 0, r.err
    rows = [line for line in r.out.splitlines() if line.startswith("GOGC=")]
    assert len(rows) == 8
    off = next(line for line in rows if line.startswith("GOGC=off GOMEMLIMIT=none"))
    assert "no cycle runs" in off
    # GOGC=200 under a 512 MiB limit: the limit's goal (under 512 MiB), not GOGC's.
    j = json.loads(gomem(*SWEEP, "--json").out)
    by = {(d["gogc"], d["memlimit"]): d for d in j}
    assert by[(200, 512 << 20)]["final_goal"] < 512 << 20 < by[(200, None)]["final_goal"]
    assert by[(-1, None)]["cycles"] == 0 and by[(-1, None)]["final_goal"] is None
    assert by[(50, None)]["cycles"] > by[(100, None)]["cycles"] > by[(200, None)]["cycles"]


def test_same_input_same_output(gomem) -> None:
    assert gomem(*SWEEP, "--json").out == gomem(*SWEEP, "--json").out


def test_plot_writes_a_png(gomem, tmp_path: Path) -> None:
    out = tmp_path / "w.png"
    r = gomem(*SWEEP, "--plot", out)
    assert r.code == 0, r.err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "bad",
    [
        ("--alloc-rate", "200MiB"),  # not a rate
        ("--gogc", "50,lots"),
        ("--memlimit", "512MB"),
        ("--duration", "soon"),
        ("--procs", "0"),
        ("--scannable", "1.5"),
    ],
)
def test_bad_arguments_are_one_line(gomem, bad: tuple[str, str]) -> None:
    args = ["whatif", "--live", "64MiB", "--alloc-rate", "100MiB/s", "--duration", "10s"]
    i = args.index(bad[0]) if bad[0] in args else -1
    if i >= 0:
        args[i + 1] = bad[1]
    else:
        args += list(bad)
    gomem(*args).assert_one_line_error()


def test_plot_into_a_missing_directory_is_one_line(gomem, tmp_path: Path) -> None:
    gomem(*SWEEP, "--plot", tmp_path / "no" / "w.png").assert_one_line_error()
    assert not (tmp_path / "no").exists()


def test_from_gctrace_fits_a_real_trace(gomem) -> None:
    log = Path(__file__).parents[1] / "whatif" / "testdata" / "gctrace" / "go1.24.txt"
    r = gomem("whatif", "--from-gctrace", log, "--gogc", "50,200", "--total-alloc", "1GiB")
    assert r.code == 0, r.err
    assert "rates fitted to" in r.out
    assert sum(line.startswith("GOGC=") for line in r.out.splitlines()) == 2


def test_from_gctrace_twice_with_the_same_run_answers_as_once(gomem) -> None:
    # Several runs are fitted each and the medians taken: two copies of one run give
    # that run's numbers, and the fitted mark slowdown is kept (the table is the same).
    log = Path(__file__).parents[1] / "whatif" / "testdata" / "gctrace" / "go1.24.txt"
    args = ("--gogc", "50,200", "--total-alloc", "1GiB", "--json")
    once = gomem("whatif", "--from-gctrace", log, *args)
    twice = gomem("whatif", "--from-gctrace", log, "--from-gctrace", log, *args)
    assert once.code == twice.code == 0, twice.err
    assert once.out == twice.out


def test_from_gctrace_with_too_few_cycles_is_one_line(gomem, tmp_path: Path) -> None:
    log = tmp_path / "short.log"
    log.write_text(
        "gc 1 @0.001s 1%: 0.1+1+0.1 ms clock, 0.2+0/1/0+0.2 ms cpu, 4->4->1 MB, "
        "4 MB goal, 0 MB stacks, 0 MB globals, 2 P\n"
    )
    gomem("whatif", "--from-gctrace", log).assert_one_line_error()


def test_neither_rates_nor_a_trace_is_one_line(gomem) -> None:
    gomem("whatif", "--gogc", "50").assert_one_line_error()


def test_gcpacertrace_fits_with_the_logs_pacer_lines(gomem, tmp_path: Path) -> None:
    log = Path(__file__).parents[1] / "whatif" / "testdata" / "gctrace" / "go1.24.txt"
    args = ("--gogc", "50", "--total-alloc", "1GiB", "--json")
    plain = gomem("whatif", "--from-gctrace", log, *args)
    paced = gomem("whatif", "--from-gctrace", log, "--gcpacertrace", *args)
    assert plain.code == paced.code == 0, paced.err
    assert plain.out != paced.out  # the pacer's scan work changes the assists
    # A log without pacer lines, and the flag without a log, are one-line errors.
    bare = tmp_path / "bare.log"
    bare.write_text("\n".join(ln for ln in log.read_text().splitlines() if "pacer:" not in ln))
    gomem("whatif", "--from-gctrace", bare, "--gcpacertrace").assert_one_line_error()
    gomem(
        "whatif", "--gcpacertrace", "--live", "64MiB", "--alloc-rate", "1GiB/s"
    ).assert_one_line_error()
