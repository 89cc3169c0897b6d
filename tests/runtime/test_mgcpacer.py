"""The pacer's formulas (gcControllerState, mgcpacer.go go1.24), each against a
hand calculation from Go's source; the whole pacer is checked against Go's
own TestGcPacer in tests/oracle/test_pacer_replay.py."""

from __future__ import annotations

import math

import pytest

from gomem.runtime.mgcpacer import (
    MAX_INT64,
    MAX_UINT64,
    GCControllerState,
    f2i64,
    f2u64,
    fdiv,
)

MiB = 1 << 20


def _after_cycle(c: GCControllerState, marked: int, stack_scan: int = 0, globals_: int = 0):
    c.globals_scan = globals_
    c.stack_scan_work = stack_scan
    c.reset_live(marked)
    c.commit(True)
    return c


@pytest.mark.parametrize(
    ("gogc", "marked", "stacks", "globals_", "goal"),
    [
        (100, 0, 0, 0, 4 * MiB),  # the floor: 4 MiB x 100/100
        (100, 10 * MiB, 1 * MiB, 1 * MiB, 22 * MiB),  # 10 + (10 + 1 + 1) x 100/100
        (200, 10 * MiB, 0, 2 * MiB, 34 * MiB),  # 10 + 12 x 2
        (50, 1 * MiB, 0, 0, 2 * MiB),  # floor 4 MiB x 50/100 = 2 MiB beats 1.5 MiB
    ],
)
def test_gogc_heap_goal_counts_stacks_and_globals(gogc, marked, stacks, globals_, goal) -> None:
    c = GCControllerState(gogc)
    _after_cycle(c, marked, stacks, globals_)
    assert c.heap_goal() == goal


def test_gogc_off_leaves_the_memory_limit_goal() -> None:
    # GOGC=off: gcPercentHeapGoal = ^uint64(0); heapMinimum = 4 MiB x uint64(-1) / 100
    # wraps. The goal is then the memory-limit goal: MaxInt64 less 3% (no other memory).
    c = GCControllerState(-1)
    assert c.gc_percent_heap_goal == MAX_UINT64
    assert c.heap_minimum == ((4 * MiB * MAX_UINT64) % (1 << 64)) // 100
    assert c.heap_goal() == MAX_INT64 - MAX_INT64 // 100 * 3


def test_memory_limit_goal_leaves_out_non_heap_memory_and_headroom() -> None:
    c = GCControllerState(100, 100 * MiB)
    c.mapped_ready_source = lambda: 60 * MiB
    c.heap_free.add(5 * MiB)
    c.total_alloc, c.total_free = 50 * MiB, 10 * MiB  # 40 MiB of heap objects
    # non-heap = 60 - 5 - 40 = 15 MiB; 85 MiB left, less 3% of it (2,673,867 > 1 MiB).
    assert c.memory_limit_heap_goal() == 85 * MiB - (85 * MiB // 100 * 3)
    c.heap_marked = 90 * MiB  # never below the heap marked
    assert c.memory_limit_heap_goal() == 90 * MiB


def test_first_trigger_is_61_64_of_the_goal() -> None:
    # No cons/mark yet: runway 0, so the trigger is the upper bound, 61/64 of the way
    # from 0 to 4 MiB = 3,997,696 (the trigger of real Go's first Steady cycle).
    c = GCControllerState()
    assert c.trigger_and_goal() == (4 * MiB // 64 * 61, 4 * MiB)
    assert c.trigger() == 3_997_696


def test_trigger_bounds() -> None:
    c = _after_cycle(GCControllerState(), 100 * MiB)  # goal 200 MiB
    # Upper bound: 61/64 of the runway is 195.3125 MiB, but for goals above 4 MiB it
    # is raised to goal - 4 MiB = 196 MiB.
    assert c.trigger() == 196 * MiB
    c.runway = 1 << 62  # more runway than goal: the lower bound, 45/64
    assert c.trigger() == 100 * MiB + 100 * MiB // 64 * 45
    c.runway = 20 * MiB  # in between (above 170.3125 MiB): goal - runway
    assert c.trigger() == 180 * MiB


def test_runway_from_cons_mark() -> None:
    # runway = consMark x (1 - 0.25) / 0.25 x (last heap scan + last stack scan + globals)
    c = GCControllerState()
    c.cons_mark = 0.5
    c.last_heap_scan, c.last_stack_scan, c.globals_scan = 2 * MiB, 0, 0
    c.commit(True)
    assert c.runway == 3 * MiB


def test_revise_spreads_the_expected_scan_work_over_the_heap_left() -> None:
    c = GCControllerState()
    c.last_heap_scan = 3 * MiB  # the work expected: 3 MiB
    c.heap_live = 1 * MiB
    c.start_cycle(0, 1)  # goal 4 MiB: 3 MiB of heap left
    c.blacken_enabled = True  # the collector's gcBlackenEnabled
    assert c.assist_work_per_byte == pytest.approx(1.0)
    c.update(1 * MiB, 5 * MiB)  # during mark: heap_scan stays, the ratio is revised
    assert c.heap_scan == 0 and c.assist_work_per_byte == pytest.approx(3 / 2)


def test_end_cycle_keeps_the_max_cons_mark_of_the_last_four() -> None:
    # cons/mark = (heap_live - triggered) x (u + idle u) / (scan work x (1 - u)), u =
    # 0.25 + assist time / (duration x procs).
    c = GCControllerState()
    c.heap_live = 1 * MiB
    c.start_cycle(0, 4)  # triggered = 1 MiB
    c.heap_live = 2 * MiB
    c.heap_scan_work = 4 * MiB
    c.assist_time = 1_000_000  # 1 ms of assists over 4 Ps x 4 ms: u = 0.25 + 0.0625
    c.end_cycle(4_000_000, 4)
    u = 0.25 + 1_000_000 / (4_000_000 * 4)
    want = (1 * MiB * u) / (4 * MiB * (1 - u))
    assert c.cons_mark == want and c.last_cons_mark == [0.0, 0.0, 0.0, want]


def test_settings_return_the_old_value() -> None:
    c = GCControllerState()
    assert c.set_gc_percent(200) == 100 and c.heap_minimum == 8 * MiB
    assert c.set_gc_percent(-5) == 200 and c.gc_percent == -1
    assert c.set_memory_limit(-1) == MAX_INT64 and c.memory_limit == MAX_INT64  # reads
    assert c.set_memory_limit(64 * MiB) == MAX_INT64 and c.memory_limit == 64 * MiB


def test_go_conversions_and_division() -> None:
    # amd64: CVTTSD2SQ gives 0x8000000000000000 for NaN and out of range; uint64 of a
    # value >= 2^63 goes through f - 2^63 and sets the top bit.
    assert f2i64(math.nan) == -(1 << 63) and f2i64(1e19) == -(1 << 63)
    assert f2i64(-2.9) == -2 and f2i64(2.9) == 2
    assert f2u64(math.inf) == 1 << 63 and f2u64(2.0**63 + 4096) == (1 << 63) + 4096
    assert f2u64(-1.0) == MAX_UINT64  # int64(-1) as uint64
    assert fdiv(1.0, 0.0) == math.inf and fdiv(-1.0, 0.0) == -math.inf
    assert math.isnan(fdiv(0.0, 0.0))


@pytest.mark.parametrize(
    ("env", "gogc"),
    [
        (None, 100),  # unset: the default
        ("", 100),
        ("off", -1),
        ("50", 50),
        ("-5", -5),  # taken as is; setGCPercent makes any negative -1
        ("+50", 100),  # atoi32 takes no '+': malformed means the default, silently
        ("1e3", 100),
        ("2147483648", 100),  # past int32
        ("OFF", 100),  # only lower-case off
    ],
)
def test_read_gogc_does_what_go_does_with_the_environment(env, gogc) -> None:
    from gomem.runtime.mgcpacer import read_gogc

    assert read_gogc(env) == gogc


@pytest.mark.parametrize(
    ("env", "limit"),
    [
        (None, MAX_INT64),
        ("off", MAX_INT64),
        ("1024", 1024),
        ("1024B", 1024),
        ("512MiB", 512 << 20),
        ("1GiB", 1 << 30),
        ("8TiB", 8 << 40),
        ("9223372036854775807", MAX_INT64),
    ],
)
def test_read_memlimit_accepts_what_parse_byte_count_accepts(env, limit) -> None:
    from gomem.runtime.mgcpacer import read_memlimit

    assert read_memlimit(env) == limit


@pytest.mark.parametrize("env", ["512MB", "1 GiB", "-1", "1.5GiB", "KiB", "9000000TiB", "1kiB"])
def test_a_malformed_gomemlimit_is_fatal(env) -> None:
    from gomem.runtime.mgcpacer import MalformedGOMEMLIMIT, read_memlimit

    with pytest.raises(MalformedGOMEMLIMIT, match="malformed GOMEMLIMIT"):
        read_memlimit(env)


# Two lines real go1.24.3 printed with GODEBUG=gcpacertrace=1 (a small allocating
# program on 2 Ps), the layout the model's lines must have.
REAL_START = "pacer: assist ratio=+7.568041e-001 (scan 0 MB in 3->4 MB) workers=0++2.500000e-001"
REAL_END = (
    "pacer: 37% CPU (25 exp.) for 294048+1160+142594 B work (142594 B exp.) in 4005888 B -> "
    "4423680 B (\u2206goal 229376, cons/mark +0.000000e+000)"
)
FLOAT = r"[+-]\d\.\d{6}e[+-]\d{3}"
START_RE = rf"pacer: assist ratio={FLOAT} \(scan \d+ MB in \d+->\d+ MB\) workers=\d+\+{FLOAT}"
END_RE = (
    rf"pacer: \d+% CPU \(25 exp\.\) for \d+\+\d+\+\d+ B work \(\d+ B exp\.\) in \d+ B -> \d+ B "
    rf"\(\u2206goal -?\d+, cons/mark {FLOAT}\)"
)


@pytest.mark.parametrize(
    ("v", "text"),
    [
        (0.25, "+2.500000e-001"),  # as real Go printed the fractional goal above
        (0.0, "+0.000000e+000"),
        (123456789.0, "+1.234568e+008"),  # 7 digits, rounded by adding 5e-7
        (9.99999999, "+1.000000e+001"),  # the rounding carries into the exponent
        (-2.5, "-2.500000e+000"),
        (math.inf, "+Inf"),
        (math.nan, "NaN"),
    ],
)
def test_go_print_float(v: float, text: str) -> None:
    from gomem.runtime.mgcpacer import go_print_float

    assert go_print_float(v) == text


def test_gcpacertrace_lines_have_gos_layout() -> None:
    import re

    from gomem.program import Program

    assert re.fullmatch(START_RE, REAL_START) and re.fullmatch(END_RE, REAL_END)
    prog = Program()

    @prog.func(locals={"b": "*[1024]byte"})
    def main(g, f):
        for _ in range(6000):
            f.b = g.new("[1024]byte")

    r = prog.run(gcpacertrace=True, gctrace=True)
    lines = list(r.gctrace)
    assert len(lines) >= 3
    # Per cycle, in Go's order: startCycle's line, endCycle's line, then gctrace's.
    for i in range(0, len(lines) - 2, 3):
        assert re.fullmatch(START_RE, lines[i]), lines[i]
        assert re.fullmatch(END_RE, lines[i + 1]), lines[i + 1]
        assert lines[i + 2].startswith("gc ")
