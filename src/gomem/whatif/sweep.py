"""Many settings of one workload: serially, in worker processes, or on any executor.

`sweep` runs the model once per setting and returns the results in the
settings' order, whatever ran them, so the same input gives the same output.
Small sweeps run here; from PARALLEL_FROM settings on (and with more than
one CPU) they go to a process pool. For sweeps too large for one machine,
pass an executor: anything with concurrent.futures' `map(fn, iterable)`,
such as a Dask cluster's `distributed.Client().get_executor()`. The jobs
are plain picklable tuples and `run_one` is a module-level function, so a
remote worker needs only gomem installed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor

from gomem.whatif.model import Result, Setting, Workload, run

PARALLEL_FROM = 32  # settings in a sweep from which worker processes pay off

Job = tuple[Workload, Setting, float | None, float | None]


def run_one(job: Job) -> Result:
    """One setting of a sweep (module-level, so that it pickles to any worker)."""
    w, s, total, duration = job
    return run(w, s, total_alloc=total, duration=duration)


def sweep(
    w: Workload,
    settings: Sequence[Setting],
    *,
    total_alloc: float | None = None,
    duration: float | None = None,
    executor: Executor | None = None,
) -> list[Result]:
    """The model's result for each setting, in order (give one of total_alloc and
    duration); on `executor` when one is given."""
    if (total_alloc is None) == (duration is None):
        raise ValueError("give one of total_alloc and duration")
    jobs: Iterable[Job] = [(w, s, total_alloc, duration) for s in settings]
    if executor is not None:
        return list(executor.map(run_one, jobs))
    if len(settings) >= PARALLEL_FROM and (os.cpu_count() or 1) > 1:
        with ProcessPoolExecutor() as pool:
            return list(pool.map(run_one, jobs, chunksize=4))
    return [run_one(j) for j in jobs]


__all__ = ["PARALLEL_FROM", "run_one", "sweep"]
