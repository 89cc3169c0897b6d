"""Sweeps (gomem.whatif.sweep): the same results, in the settings' order, however run."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from gomem.whatif.model import Setting, Workload, run
from gomem.whatif.sweep import sweep

MiB = 1 << 20
W = Workload(live=64 * MiB, alloc_rate=200 * MiB, scan_rate=2e9, procs=2, mutator_cpus=1.0)
SETTINGS = [Setting(g, m) for g in (50, 100, 200, -1) for m in ((1 << 63) - 1, 112 * MiB)]


def _figures(results) -> list[tuple]:
    return [(r.setting, len(r.cycles), r.peak_heap, r.final_goal, r.rss) for r in results]


def test_a_sweep_is_each_setting_run_alone_in_order() -> None:
    want = [run(W, s, total_alloc=1 << 30) for s in SETTINGS]
    assert _figures(sweep(W, SETTINGS, total_alloc=1 << 30)) == _figures(want)


def test_any_executor_gives_the_same_results_in_the_same_order() -> None:
    # Any object with concurrent.futures' map will do (a Dask client's executor too).
    with ThreadPoolExecutor(max_workers=3) as pool:
        got = sweep(W, SETTINGS, duration=2.0, executor=pool)
    assert _figures(got) == _figures(sweep(W, SETTINGS, duration=2.0))


def test_one_amount_of_work_is_needed() -> None:
    with pytest.raises(ValueError, match="one of total_alloc and duration"):
        sweep(W, SETTINGS)
