"""How fast `gomem whatif` computes cycles: 8 settings x 1,000 cycles each.

Target (issue 7): under 1 second, excluding start-up and plotting. A 64 MiB
live heap at 2 GiB/s with GOGC=100 runs a cycle every ~30 ms of simulated
time; each setting is run until it has done 1,000 cycles' worth of work.
Prints cycles per second and the time for the whole sweep (best of 5).
"""

from __future__ import annotations

import sys
import time

from gomem.whatif.model import Setting, Workload, run

MiB = 1 << 20


def main() -> int:
    w = Workload(live=64 * MiB, alloc_rate=2048 * MiB, procs=8, mutator_cpus=4)
    settings = [Setting(g, m) for g in (50, 100, 200, 400) for m in ((1 << 63) - 1, 160 * MiB)]
    # Work per setting for 1,000 cycles at its own pace: cycles ~ allocated / runway.
    works = []
    for s in settings:
        probe = run(w, s, total_alloc=4 << 30)
        per_cycle = probe.allocated / max(len(probe.cycles), 1)
        works.append(per_cycle * 1000)
    best = float("inf")
    cycles = 0
    for _ in range(5):
        t0 = time.perf_counter()
        cycles = sum(
            len(run(w, s, total_alloc=a).cycles) for s, a in zip(settings, works, strict=True)
        )
        best = min(best, time.perf_counter() - t0)
    print(
        f"gomem whatif (CPython {sys.version.split()[0]}, best of 5): {len(settings)} settings, "
        f"{cycles:,} cycles in {best * 1000:.0f} ms = {cycles / best:,.0f} cycles/s"
    )
    print("  target: 8 settings x 1,000 cycles in under 1 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
