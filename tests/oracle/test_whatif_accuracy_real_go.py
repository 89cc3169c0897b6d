"""The what-if model against real Go 1.24.3: a regression guard for the figures
the model already gets right (the full comparison, with the cells that still
miss and why, is benchmarks/whatif_accuracy.py and docs/VALIDATION.md).

The churn reference program (gomem.oracle.churn: a ring of 64 MiB of 64-byte
pointerful or 1 KiB pointer-free objects, 1 GiB allocated, 2 Ps) runs six
times at GOGC=100 with gctrace; the fits are combined (median of each rate)
and the model, filling from the first cycle's heap, predicts four other
settings. The truth is the median of three real runs at each. The runs take
turns (churn.interleaved), so the machine's drift reaches both sides. The
issue's tolerances apply to what is asserted here:

    memory-limit goals   the final heap goal under GOMEMLIMIT = 1.6 L (GOGC=100)
                         and 1.5 L (GOGC=off), within 5%
    RSS                  at the end, every setting, within 15%
    cycles               GOGC=50 (about 27 cycles), ptr64 only, within 10%
    peak heap            GOGC=50, within 10%

Not asserted, because they still miss in some runs (docs/VALIDATION.md): the
GC CPU fraction, cycles under a memory limit, the peak at GOGC=200 and under
GOGC=off (one cycle's figure), and the final goal at GOGC=200. Nor the cycles
at GOGC=200: this short run has about 8, and one cycle is 12%. Nor noscan1k's
cycles at GOGC=50, which the model puts 4-10% low (its marks allocate about
1 MB more black per cycle than the real ones), too near the line for a test.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gomem.oracle import churn
from gomem.whatif.fit import combine, fit_output
from gomem.whatif.model import Setting, run

pytestmark = [pytest.mark.oracle, pytest.mark.slow]

MiB = 1 << 20
LIVE = 64 * MiB
TOTAL = 1 << 30
SETTINGS = {
    "GOGC=50": Setting(50),
    "GOGC=200": Setting(200),
    "limit 1.6L": Setting(100, int(1.6 * LIVE)),
    "off, limit 1.5L": Setting(-1, int(1.5 * LIVE)),
}
TOLERANCE = {"goal": 0.05, "rss": 0.15, "cycles": 0.10, "peak": 0.10}
_LIMITS = {"limit 1.6L": ("goal", "rss"), "off, limit 1.5L": ("goal", "rss")}
CHECKED = {
    "ptr64": {"GOGC=50": ("rss", "cycles", "peak"), "GOGC=200": ("rss",), **_LIMITS},
    "noscan1k": {"GOGC=50": ("rss", "peak"), "GOGC=200": ("rss",), **_LIMITS},
}


@pytest.mark.parametrize("kind", churn.KINDS)
def test_model_matches_real_go_where_it_is_known_to(kind: str, churn_binary: Path) -> None:
    size = churn.OBJECT_SIZE[kind]
    traces, measured = churn.interleaved(
        churn_binary,
        live=LIVE,
        total=TOTAL,
        kind=kind,
        settings=[(s.gogc, s.memlimit) for s in SETTINGS.values()],
    )
    fits = [fit_output(err, object_size=size, source=f"churn {kind}") for err in traces]
    w = dataclasses.replace(combine(fits), fill=True)
    misses = []
    for (name, s), real in zip(SETTINGS.items(), measured, strict=True):
        model = run(w, s, total_alloc=TOTAL).figures(w.procs)
        for key in CHECKED[kind][name]:
            error = (model[key] - real[key]) / real[key]
            if abs(error) > TOLERANCE[key]:
                misses.append(
                    f"{name} {key}: model {model[key]:,} real {real[key]:,.0f} ({error:+.1%})"
                )
    assert not misses, f"{kind}: " + "; ".join(misses)
