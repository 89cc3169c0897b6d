"""Fitting a workload to gctrace lines (gomem.whatif.fit), by hand on a small
synthetic trace in Go 1.24's layout, and on a real one (the go1.24 fixture)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gomem.whatif.fit import fit
from gomem.whatif.gctrace import parse_gctrace

MB = 1 << 20
FIXTURES = Path(__file__).parent / "testdata" / "gctrace"

# Eight cycles 0.100 s apart on 4 Ps. Each marks 40 MB after allocating 10 MB
# during a 20 ms mark (X->Y->Z = 100->110->50): live = Z - (Y - X) = 40 MB. Between
# cycles: 100 - 50 = 50 MB from one's mark end (0.010 + 20 ms after its start) to the
# next start, 0.1 s after it: 50 MB / 0.07999 s. During mark 10 MB in 20 ms: the
# mutator's rate while marking is (10 / 0.020) / (50 / 0.07999) of it. Mark CPU is
# 2 + 8 + 10 = 20 ms for 50 + 1 + 1 = 52 MB of work: 52 MB per 0.020 CPU-seconds.
# Idle marking 10 ms over a 20 ms mark: 0.5 idle Ps; mutator = 4 - 1 - 0.5 = 2.5.
SYNTH = "\n".join(
    f"gc {i} @{0.1 * i:.3f}s 5%: 0.010+20+0.010 ms clock, 0.040+2/8/10+0.040 ms cpu, "
    "100->110->50 MB, 100 MB goal, 1 MB stacks, 1 MB globals, 4 P"
    for i in range(1, 9)
)


def test_fit_by_hand() -> None:
    w = fit(parse_gctrace(SYNTH))
    assert w.live == 40 * MB
    assert w.alloc_rate == pytest.approx(50 * MB / 0.07999)
    assert w.mark_alloc_factor == pytest.approx((10 / 0.020) / (50 / 0.07999))
    assert w.scan_rate == pytest.approx(52 * MB / 0.020)
    assert (w.procs, w.stacks, w.globals) == (4, 1 * MB, 1 * MB)
    assert w.mutator_cpus == pytest.approx(2.5)


def test_forced_cycles_are_left_out_and_too_few_is_one_line() -> None:
    forced = "\n".join(line + " (forced)" for line in SYNTH.splitlines())
    with pytest.raises(ValueError, match="need at least 4 unforced GC cycles"):
        fit(parse_gctrace(forced), source="run.log")


def test_a_real_trace_fits() -> None:
    w = fit(parse_gctrace((FIXTURES / "go1.24.txt").read_text()))
    assert w.live > 0 and w.alloc_rate > 0 and w.scan_rate > 0 and w.procs >= 1
