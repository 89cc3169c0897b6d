"""Fitting a workload to gctrace lines (gomem.whatif.fit), by hand on a small
synthetic trace in Go 1.24's layout, and on a real one (the go1.24 fixture)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gomem.runtime.cost import DEFAULT_COSTS
from gomem.whatif.fit import SWEEP_COST, combine, fit
from gomem.whatif.gctrace import (
    parse_gctrace,
    parse_gctrace_output,
    parse_pacertrace,
    parse_pacertrace_output,
)

MB = 1 << 20
FIXTURES = Path(__file__).parent / "testdata" / "gctrace"

# Eight cycles 0.100 s apart on 4 Ps. Each marks 40 MB after allocating 10 MB
# during a 20 ms mark (X->Y->Z = 100->110->50): live = Z - (Y - X) = 40 MB. Between
# cycles: 100 - 50 = 50 MB from one's mark end (0.010 + 20 ms after its start) to the
# next start, 0.1 s after it, less the sweeping of the 110 MB of spans (S a byte):
# 50 MB / (0.07999 s - 110 MB x S). During mark 10 MB in 20 ms: the mutator's rate
# while marking is (10 / 0.020) / that rate. Mark CPU is
# 2 + 8 + 10 = 20 ms for 40 + 1 + 1 = 42 MB of work (the 10 MB allocated during the
# mark is black, never scanned): 42 MB per 0.020 CPU-seconds. The workers marked for
# 8 + 10 = 18 ms over a 20 ms mark: 0.9 Ps; the mutator had 4 - 0.9 = 3.1. The trace
# starts at gc 1 with 100 MB: the start heap; the heap never grows past 110 MB, so
# there is no fresh memory to put a fault cost on.
SYNTH = "\n".join(
    f"gc {i} @{0.1 * i:.3f}s 5%: 0.010+20+0.010 ms clock, 0.040+2/8/10+0.040 ms cpu, "
    "100->110->50 MB, 100 MB goal, 1 MB stacks, 1 MB globals, 4 P"
    for i in range(1, 9)
)


def test_fit_by_hand() -> None:
    w = fit(parse_gctrace(SYNTH))
    assert w.live == 40 * MB
    between = 0.07999 - 110 * MB * SWEEP_COST
    assert w.alloc_rate == pytest.approx(50 * MB / between)
    assert w.mark_alloc_factor == pytest.approx((10 / 0.020) / (50 / between))
    assert w.scan_rate == pytest.approx(42 * MB / 0.020)
    assert (w.procs, w.stacks, w.globals) == (4, 1 * MB, 1 * MB)
    assert w.mutator_cpus == pytest.approx(3.1)
    assert w.start_heap == 100 * MB
    assert w.fault_cost == 0.0
    assert w.sweep_cost == SWEEP_COST


def test_sweep_cost_is_the_cost_tables_span_sweep_per_byte() -> None:
    # One span swept (mspan.sweep, measured on real Go) over the 8 KiB of a one-page span.
    assert pytest.approx(DEFAULT_COSTS.sweep_span * 1e-9 / 8192) == SWEEP_COST


def _line(n: int, at: float, heaps: str) -> str:
    return (
        f"gc {n} @{at:.3f}s 5%: 0.010+20+0.010 ms clock, 0.040+2/8/10+0.040 ms cpu, "
        f"{heaps} MB, 100 MB goal, 1 MB stacks, 1 MB globals, 4 P"
    )


def test_fault_cost_by_hand() -> None:
    """Four cycles while the heap grows (10, 30, 70, then 100 MB at the cycle's
    start), then four steady ones as in SYNTH (rate r = 50 MB / (0.07999 s - 110 MB
    x S)). Between growing cycles the time beyond what r explains, after sweeping the
    previous cycle's heap (Y MB x S), over the MB beyond the largest heap before:
        gc 1 -> 2: 0.100 - 0.02001 s - 10 MB S - 20 MB / r, 20 MB new
        gc 2 -> 3: 0.200 - 0.02001 s - 30 MB S - 40 MB / r, 40 MB new
        gc 3 -> 4: 0.400 - 0.02001 s - 70 MB S - 30 MB / r, 30 MB new
    """
    lines = [
        _line(1, 0.0, "10->10->10"),
        _line(2, 0.1, "30->30->30"),
        _line(3, 0.3, "70->70->70"),
        _line(4, 0.7, "100->110->50"),
    ] + [_line(5 + k, 1.0 + 0.1 * k, "100->110->50") for k in range(4)]
    w = fit(parse_gctrace("\n".join(lines)))
    r = 50 * MB / (0.07999 - 110 * MB * SWEEP_COST)
    assert w.alloc_rate == pytest.approx(r)
    excess = (
        (0.07999 - 10 * MB * SWEEP_COST - 20 * MB / r)
        + (0.17999 - 30 * MB * SWEEP_COST - 40 * MB / r)
        + (0.37999 - 70 * MB * SWEEP_COST - 30 * MB / r)
    )
    assert w.fault_cost == pytest.approx(excess / (90 * MB))
    assert w.start_heap == 10 * MB


def test_combine_takes_each_median() -> None:
    w = fit(parse_gctrace(SYNTH))
    runs = [
        w,
        dataclasses.replace(w, scan_rate=w.scan_rate * 2, live=w.live + 3),
        dataclasses.replace(w, scan_rate=w.scan_rate / 2, live=w.live + 1),
    ]
    c = combine(runs)
    assert c.scan_rate == w.scan_rate and c.live == w.live + 1
    assert c.alloc_rate == w.alloc_rate and c.procs == w.procs
    with pytest.raises(ValueError, match="no fitted runs"):
        combine([])


def test_forced_cycles_are_left_out_and_too_few_is_one_line() -> None:
    forced = "\n".join(line + " (forced)" for line in SYNTH.splitlines())
    with pytest.raises(ValueError, match="need at least 4 unforced GC cycles"):
        fit(parse_gctrace(forced), source="run.log")


def test_a_real_trace_fits() -> None:
    w = fit(parse_gctrace((FIXTURES / "go1.24.txt").read_text()))
    assert w.live > 0 and w.alloc_rate > 0 and w.scan_rate > 0 and w.procs >= 1


def _with_pacer(n: int, heap_work: int, stack_work: int, globals_work: int) -> str:
    """Eight SYNTH cycles, each preceded by an end-of-mark pacer line (as mark
    termination prints them), except cycle n, which has none."""
    out = []
    for i in range(1, 9):
        if i != n:
            out.append(
                f"pacer: 27% CPU (25 exp.) for {heap_work}+{stack_work}+{globals_work} B work "
                f"(1000 B exp.) in {100 * MB} B -> {110 * MB} B (∆goal 0, cons/mark "
                "+0.000000e+000)"
            )
        out.append(SYNTH.splitlines()[i - 1])
    return "\n".join(out)


def test_fit_with_the_pacers_scan_work_by_hand() -> None:
    # The steady cycles are 5 to 8, each with 20 ms of mark CPU (2 + 8 + 10). Cycle 6
    # has no pacer line, so cycles 5, 7 and 8 count: (20 MiB heap + 4 KiB stacks +
    # 1 MiB globals) of scan work per 0.020 CPU-s; the scannable share is 20 MiB of
    # the 40 MiB live heap; stacks and globals are the bytes scanned.
    text = _with_pacer(6, 20 * MB, 4096, 1 * MB)
    w = fit(parse_gctrace(text), pacer=parse_pacertrace(text))
    assert w.scan_rate == pytest.approx((20 * MB + 4096 + 1 * MB) / 0.020)
    assert w.scannable == pytest.approx(0.5)
    assert (w.stacks, w.globals) == (4096, 1 * MB)
    # What the pacer does not count is as from gctrace alone.
    alone = fit(parse_gctrace(text))
    assert (w.live, w.alloc_rate, w.mutator_cpus) == (
        alone.live,
        alone.alloc_rate,
        alone.mutator_cpus,
    )


def test_too_few_pacer_lines_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="0 of the 4 steady cycles have a gcpacertrace"):
        fit(parse_gctrace(SYNTH), pacer=[], source="run.log")


def test_a_real_trace_fits_with_its_pacer_lines() -> None:
    # go1.24's pacer counts the scan work of the churn program's 64-byte objects up to
    # their one pointer word: well under the whole live heap.
    text = (FIXTURES / "go1.24.txt").read_text()
    w = fit(parse_gctrace_output(text), pacer=parse_pacertrace_output(text))
    assert 0 < w.scannable < 0.5
    assert w.stacks > 0 and w.globals > 0
