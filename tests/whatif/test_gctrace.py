"""gomem.whatif.gctrace against real gctrace/gcpacertrace output of Go 1.21 to 1.27.

The fixtures in testdata/gctrace are the untouched stderr of real runs
(testdata/gctrace/README.md says how they were made). The expected values
below are read off those files by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gomem.whatif.gctrace import (
    GCTraceLine,
    PacerEnd,
    PacerStart,
    PacerSweepDone,
    parse_gctrace,
    parse_gctrace_output,
    parse_pacertrace,
)

DATA = Path(__file__).parent / "testdata" / "gctrace"

# The churn program's runs: fixture -> number of "gc N" lines (counted by hand
# with grep '^gc [0-9]'); every run ends with the one forced cycle.
CHURN = {
    "go1.21.txt": 14,
    "go1.22.txt": 12,
    "go1.23.txt": 12,
    "go1.24.txt": 13,
    "go1.25.txt": 13,
    "go1.26.txt": 15,
    "go1.27.txt": 16,
}
LEAKCHECK = "go1.27-leakcheck.txt"


def read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def test_every_fixture_is_known() -> None:
    assert sorted(p.name for p in DATA.glob("*.txt")) == sorted([*CHURN, LEAKCHECK])


@pytest.mark.parametrize("name", sorted(CHURN))
def test_churn_fixture_parses(name: str) -> None:
    lines = parse_gctrace(read(name), name)
    assert len(lines) == CHURN[name]
    assert [g.cycle for g in lines] == list(range(1, CHURN[name] + 1))
    assert [g.forced for g in lines] == [False] * (CHURN[name] - 1) + [True]
    assert not any(g.goroutine_leak_check for g in lines)
    assert all(g.procs == 2 for g in lines)  # GOMAXPROCS=2
    starts = [g.start_ms for g in lines]
    assert starts == sorted(starts)
    assert all(g.start_ms == round(g.start_s * 1000) for g in lines)
    # The ring holds 64 MiB plus its own 8 MiB slice: the forced cycle marks 72 MB.
    assert lines[-1].heap2_mb == 72


def test_first_line_go1_24() -> None:
    # go1.24.txt line 2:
    # gc 1 @0.000s 11%: 0.11+1.3+0.19 ms clock, 0.23+0/0.093/0.065+0.38 ms cpu,
    #   8->8->8 MB, 8 MB goal, 0 MB stacks, 0 MB globals, 2 P
    first = parse_gctrace(read("go1.24.txt"))[0]
    assert first == GCTraceLine(
        cycle=1,
        start_s=0.0,
        start_ms=0,
        util_percent=11,
        clock_sweep_term_ms=0.11,
        clock_mark_ms=1.3,
        clock_mark_term_ms=0.19,
        cpu_sweep_term_ms=0.23,
        cpu_assist_ms=0.0,
        cpu_background_ms=0.093,
        cpu_idle_ms=0.065,
        cpu_mark_term_ms=0.38,
        heap0_mb=8,
        heap1_mb=8,
        heap2_mb=8,
        goal_mb=8,
        stacks_mb=0,
        globals_mb=0,
        procs=2,
        forced=False,
        goroutine_leak_check=False,
        lineno=2,
    )
    assert first.pause_ms == pytest.approx(0.11 + 0.19)
    assert first.cpu_mark_ms == pytest.approx(0 + 0.093 + 0.065)
    assert first.cpu_total_ms == pytest.approx(0.23 + 0.158 + 0.38)


def test_first_line_go1_21() -> None:
    # go1.21.txt line 3:
    # gc 1 @0.000s 31%: 0.13+6.1+0.046 ms clock, 0.26+4.2/0.065/0+0.093 ms cpu,
    #   8->9->9 MB, 8 MB goal, 0 MB stacks, 0 MB globals, 2 P
    g = parse_gctrace(read("go1.21.txt"))[0]
    assert (g.cycle, g.start_ms, g.util_percent, g.lineno) == (1, 0, 31, 3)
    assert (g.clock_sweep_term_ms, g.clock_mark_ms, g.clock_mark_term_ms) == (0.13, 6.1, 0.046)
    assert (g.cpu_sweep_term_ms, g.cpu_assist_ms, g.cpu_background_ms) == (0.26, 4.2, 0.065)
    assert (g.cpu_idle_ms, g.cpu_mark_term_ms) == (0.0, 0.093)
    assert (g.heap0_mb, g.heap1_mb, g.heap2_mb, g.goal_mb) == (8, 9, 9, 8)
    assert (g.stacks_mb, g.globals_mb, g.procs, g.forced) == (0, 0, 2, False)


def test_later_lines() -> None:
    # go1.21.txt line 21:
    # gc 7 @0.356s 9%: 0.048+33+0.076 ms clock, 0.097+0.057/12/26+0.15 ms cpu,
    #   146->152->77 MB, 171 MB goal, 0 MB stacks, 0 MB globals, 2 P
    g = parse_gctrace(read("go1.21.txt"))[6]
    assert (g.cycle, g.lineno, g.start_s, g.start_ms, g.util_percent) == (7, 21, 0.356, 356, 9)
    assert (g.clock_mark_ms, g.cpu_background_ms, g.cpu_idle_ms) == (33.0, 12.0, 26.0)
    assert (g.heap0_mb, g.heap1_mb, g.heap2_mb, g.goal_mb) == (146, 152, 77, 171)
    # go1.24.txt line 37, the forced cycle:
    # gc 13 @0.625s 11%: 0.047+20+0.004 ms clock, 0.094+0/11/14+0.009 ms cpu,
    #   108->108->72 MB, 199 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)
    g = parse_gctrace(read("go1.24.txt"))[-1]
    assert (g.cycle, g.lineno, g.start_ms, g.forced) == (13, 37, 625, True)
    assert (g.clock_mark_term_ms, g.cpu_mark_term_ms) == (0.004, 0.009)
    assert (g.heap0_mb, g.heap1_mb, g.heap2_mb, g.goal_mb) == (108, 108, 72, 199)


def test_goroutine_leak_check_go1_27() -> None:
    # gc 1 @0.000s 28% (checking for goroutine leaks): 0.14+0.16+0.033 ms clock,
    #   0.28+0/0.20/0.048+0.067 ms cpu, 0->0->0 MB, 4 MB goal, 0 MB stacks,
    #   0 MB globals, 2 P (forced)
    (g,) = parse_gctrace(read(LEAKCHECK), LEAKCHECK)
    assert (g.cycle, g.util_percent, g.goroutine_leak_check, g.forced) == (1, 28, True, True)
    assert (g.clock_sweep_term_ms, g.cpu_background_ms, g.goal_mb, g.lineno) == (0.14, 0.20, 4, 4)


def test_other_lines_are_skipped() -> None:
    line = (
        "gc 5 @1.234s 3%: 0.1+2+0.1 ms clock, 0.2+0/1/2+0.2 ms cpu, "
        "10->11->5 MB, 12 MB goal, 0 MB stacks, 0 MB globals, 2 P"
    )
    text = "\r\n".join(
        [
            "GC forced",
            "scav 0 KiB work (bg), 0 KiB work (eager), 0 KiB now, 99% util",
            "gc: not a trace line",
            "gcx 1",
            " " + line,  # not at the start of a line: not the runtime's
            line,
            "",
        ]
    )
    (g,) = parse_gctrace(text)
    assert (g.cycle, g.start_ms, g.heap2_mb, g.lineno) == (5, 1234, 5, 6)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        # "+" where go prints "/" between assist and background CPU
        (
            "gc 1 @0.000s 11%: 0.11+1.3+0.19 ms clock, 0.23+0+0.093/0.065+0.38 ms cpu, "
            "8->8->8 MB, 8 MB goal, 0 MB stacks, 0 MB globals, 2 P",
            "run.log:2: malformed gctrace line: expected '/' at column 49: ",
        ),
        # the start time always has 3 decimals (itoaDiv)
        (
            "gc 12 @1.5s 3%: 1+2+3 ms clock",
            "run.log:2: malformed gctrace line: expected the start time "
            "(seconds with 3 decimals) at column 8: ",
        ),
        # cut off after the goal
        (
            "gc 12 @1.500s 3%: 1+2+3 ms clock, 0.2+0/1/2+0.2 ms cpu, 10->11->5 MB, 12 MB goal",
            "run.log:2: malformed gctrace line: expected ' MB goal, ' at column 73: ",
        ),
        (
            "gc 2 @0.012s 2%: 0.047+11+0.23 ms clock, 0.094+0.46/0.047/8.2+0.47 ms cpu, "
            "15->24->24 MB, 16 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced) x",
            "run.log:2: malformed gctrace line: unexpected text after the end of the line "
            "at column 142: ",
        ),
    ],
)
def test_malformed_gc_line(line: str, message: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_gctrace(f"hello\n{line}\n", "run.log")
    text = str(e.value)
    assert text.startswith(message) and text.endswith(repr(line))
    assert "\n" not in text


# -- gcpacertrace ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(set(CHURN) - {"go1.27.txt"}) + [LEAKCHECK])
def test_pacer_lines_parse(name: str) -> None:
    text = read(name)
    lines = parse_pacertrace(text, name)
    assert len(lines) == sum(1 for s in text.splitlines() if s.startswith("pacer: "))
    gcs = parse_gctrace(text, name)
    # One PacerStart per cycle; sweep-done lines only from Go 1.25 on.
    assert sum(isinstance(p, PacerStart) for p in lines) == len(gcs)
    sweeps = sum(isinstance(p, PacerSweepDone) for p in lines)
    assert (sweeps > 0) == (name >= "go1.25")


def test_pacer_lines_old_float_format() -> None:
    # go1.24.txt lines 3 and 4:
    # pacer: assist ratio=+4.787070e-001 (scan 8 MB in 15->16 MB) workers=0++2.500000e-001
    # pacer: 27% CPU (25 exp.) for 9432824+1976+151714 B work (191074 B exp.) in
    #   16628928 B -> 25606880 B (∆goal 8578806, cons/mark +0.000000e+000)
    lines = parse_pacertrace(read("go1.24.txt"))
    assert lines[1] == PacerStart(
        assist_ratio=0.4787070,
        scan_mb=8,
        heap_live_mb=15,
        goal_mb=16,
        dedicated_workers=0,
        fractional_goal=0.25,
        lineno=3,
    )
    assert lines[2] == PacerEnd(
        utilization_percent=27,
        goal_utilization_percent=25,
        heap_scan_work=9432824,
        stack_scan_work=1976,
        globals_scan_work=151714,
        expected_scan_work=191074,
        trigger=16628928,
        heap_live=25606880,
        goal_delta=8578806,
        cons_mark=0.0,
        lineno=4,
    )
    # line 10: ... in 95394720 B -> 110222240 B (∆goal -1818874, cons/mark +1.736085e+000)
    end = lines[6]
    assert isinstance(end, PacerEnd)
    assert (end.lineno, end.goal_delta, end.cons_mark) == (10, -1818874, 1.736085)


def test_pacer_lines_new_float_format() -> None:
    # go1.26.txt lines 1 and 4:
    # pacer: assist ratio=2.358551025390625 (scan 0 MB in 8->8 MB) workers=0+0.25
    # pacer: sweep done at heap size 10MB; allocated 0MB during sweep; swept 1389 pages
    #   at 0.0002030417080412264 pages/byte
    lines = parse_pacertrace(read("go1.26.txt"))
    assert lines[0] == PacerStart(2.358551025390625, 0, 8, 8, 0, 0.25, lineno=1)
    assert lines[2] == PacerSweepDone(10, 0, 1389, 0.0002030417080412264, lineno=4)
    # go1.27-leakcheck.txt line 3: ... swept 34 pages at 1.1764412789715966e-05 pages/byte
    sweep = parse_pacertrace(read(LEAKCHECK))[2]
    assert sweep == PacerSweepDone(0, 0, 34, 1.1764412789715966e-05, lineno=3)
    # go1.25.txt line 4: ... swept 1321 pages at +2.025187e-004 pages/byte
    sweep = parse_pacertrace(read("go1.25.txt"))[2]
    assert sweep == PacerSweepDone(10, 0, 1321, 2.025187e-04, lineno=4)


def test_broken_pacer_line_of_go1_27() -> None:
    # The last line of go1.27.txt is a real sweep-done line cut off by the
    # program's own output (see testdata/gctrace/README.md).
    with pytest.raises(ValueError) as e:
        parse_pacertrace(read("go1.27.txt"), "go1.27.txt")
    assert str(e.value).startswith(
        "go1.27.txt:63: malformed gcpacertrace line: expected the sweep pace at column 87: "
        "'pacer: sweep done at heap size 72MB; allocated 0MB during sweep; swept 10850 pages at "
        "gctracefixture: 12582912 objects allocated'"
    )
    # The gc lines of the same output are all there.
    assert len(parse_gctrace(read("go1.27.txt"))) == CHURN["go1.27.txt"]


def test_unknown_pacer_line() -> None:
    with pytest.raises(ValueError, match=r"^x:1: malformed gcpacertrace line: expected the "):
        parse_pacertrace("pacer: something new\n", "x")


def test_output_with_its_last_line_cut_off_reads_the_rest() -> None:
    line = (
        "gc 1 @0.001s 1%: 0.1+1+0.1 ms clock, 0.2+0/1/0+0.2 ms cpu, 4->4->1 MB, "
        "4 MB goal, 0 MB stacks, 0 MB globals, 2 P"
    )
    cut = line + "\n" + line.replace("gc 1", "gc 2") + "\n" + line[:30]
    assert [ln.cycle for ln in parse_gctrace_output(cut, "run.log")] == [1, 2]
    with pytest.raises(ValueError, match="run.log:3:"):
        parse_gctrace(cut, "run.log")
    # A bad line before the last is still an error.
    broken = line[:30] + "\n" + line
    with pytest.raises(ValueError, match="run.log:1:"):
        parse_gctrace_output(broken, "run.log")
