"""A steady live heap churned at full speed on the real Go runtime: the what-if reference.

The reference program of the what-if accuracy check (shipped as package
data in go/churn/, see its main.go): a ring of LIVE bytes of fixed-size
objects, filled once and then overwritten one slot at a time, round robin,
until TOTAL bytes have been allocated. Kinds: "ptr64", 64-byte objects with
one pointer (scanned), and "noscan1k", pointer-free 1 KiB objects. The ring
slice adds SLOTS x 8 bytes of live, scanned heap ("ring_bytes").

`run` sets GOGC, GOMEMLIMIT and GOMAXPROCS for the run (2 Ps unless asked
otherwise) and, with gctrace=True, GODEBUG=gctrace=1 (pacertrace=True adds
gcpacertrace=1), whose lines the runtime writes to stderr
(gomem.whatif.gctrace reads them). It returns the
program's JSON line as a dict and its stderr. The fields:

    go_version, kind, object_size, live, total   what ran
    slots, ring_bytes        LIVE // object_size slots, 8 bytes each
    allocated                bytes the program allocated: TOTAL rounded down
                             to whole objects
    fill_seconds, churn_seconds   wall time of the two phases (time.Now)
    gc_cycles                /gc/cycles/total:gc-cycles at the end
    gc_cycles_fill           the same at the end of the fill phase
    gc_cycles_forced         /gc/cycles/forced:gc-cycles (0: nothing calls runtime.GC)
    heap_goal                /gc/heap/goal:bytes at the end
    heap_live                /gc/heap/live:bytes: marked by the last cycle
    heap_allocs              /gc/heap/allocs:bytes: all heap allocation, the runtime's too
    peak_heap                the largest /memory/classes/heap/objects:bytes
                             (MemStats.HeapAlloc) seen, sampled every 1 MiB
                             allocated and at both ends; peak_heap_samples
                             is the number of samples
    rss, rss_peak            VmRSS and VmHWM of /proc/self/status at the end
    /memory/classes/...      each memory class metric at the end, under its own name
    /cpu/classes/...         each CPU class read (gc mark assist, dedicated and idle,
                             pause, scavenge assist and background, idle, user, and
                             the two totals), in seconds, under its own name; like the
                             totals they cover the run up to the last mark termination
    gc_cpu_seconds, total_cpu_seconds   /cpu/classes/gc/total:cpu-seconds and
                             /cpu/classes/total:cpu-seconds at the end; the
                             runtime updates both at mark termination only
                             (mgc.go work.cpuStats), so they cover the run up
                             to the last cycle, and total is GOMAXPROCS x wall
    gc_cpu_fraction          their quotient; includes idle mark workers
    memstats_gc_cpu_fraction MemStats.GCCPUFraction: the same window, without
                             the idle mark time (mgc.go gc_cpu_fraction)
    gomaxprocs, gogc, gomemlimit   the settings as the runtime read them
                             (gogc -1: off; gomemlimit 2^63-1: off)
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gomem.oracle import toolchain

__all__ = ["FIELDS", "FIGURES", "KINDS", "OBJECT_SIZE", "build", "interleaved", "run"]


OBJECT_SIZE = {"ptr64": 64, "noscan1k": 1024}
KINDS = tuple(OBJECT_SIZE)
MAX_INT64 = (1 << 63) - 1

# Every field of the program's JSON line and its type.
FIELDS: dict[str, type] = {
    "go_version": str,
    "kind": str,
    "object_size": int,
    "live": int,
    "total": int,
    "slots": int,
    "ring_bytes": int,
    "allocated": int,
    "fill_seconds": float,
    "churn_seconds": float,
    "gc_cycles": int,
    "gc_cycles_fill": int,
    "gc_cycles_forced": int,
    "heap_goal": int,
    "heap_live": int,
    "heap_allocs": int,
    "peak_heap": int,
    "peak_heap_samples": int,
    "rss": int,
    "rss_peak": int,
    "gc_cpu_seconds": float,
    "total_cpu_seconds": float,
    "gc_cpu_fraction": float,
    "memstats_gc_cpu_fraction": float,
    "gomaxprocs": int,
    "gogc": int,
    "gomemlimit": int,
}


# The program's groups of metrics by name prefix: (JSON key, prefix, value type).
CLASSES: tuple[tuple[str, str, type], ...] = (
    ("memory_classes", "/memory/classes/", int),
    ("cpu_classes", "/cpu/classes/", float),
)


def build(gocache: Path, outdir: Path) -> Path:
    """Copy the Go program into outdir and build it there; return the binary."""
    return toolchain.build_packaged("churn", gocache, outdir)


def _number(value: object, kind: type) -> bool:
    if kind is float:  # JSON may write a whole float as an int (0)
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, kind) and not isinstance(value, bool)


def run(
    binary: Path,
    *,
    live: int,
    total: int,
    kind: str,
    gogc: int | None = None,
    memlimit: int | None = None,
    gomaxprocs: int = 2,
    gctrace: bool = True,
    pacertrace: bool = False,
    timeout: float = 600,
) -> tuple[dict[str, int | float | str], str]:
    """Run the program once; return (its JSON result, its stderr: the gctrace lines).

    live and total in bytes; kind "ptr64" or "noscan1k"; gogc None is Go's
    default (GOGC=100, set explicitly so that no inherited GOGC applies), a
    negative gogc is off; memlimit in bytes, None is off (so is 2^63-1,
    Go's own default, which whatif.model.Setting uses for "no limit").
    """
    if kind not in OBJECT_SIZE:
        raise ValueError(f"churn.run: kind {kind!r} is not one of {KINDS}")
    if live < OBJECT_SIZE[kind] or total < live:
        raise ValueError(
            f"churn.run: need live >= {OBJECT_SIZE[kind]} (one object) and total >= live, "
            f"not live={live} total={total}"
        )
    if gomaxprocs < 1:
        raise ValueError(f"churn.run: gomaxprocs must be >= 1, not {gomaxprocs}")
    gogc_env = "100" if gogc is None else (str(gogc) if gogc >= 0 else "off")
    env = {
        "GOGC": gogc_env,
        "GOMEMLIMIT": str(memlimit) if memlimit is not None else "off",
        "GOMAXPROCS": str(gomaxprocs),
    }
    args = ("-live", str(live), "-total", str(total), "-kind", kind)
    what = (
        f"churn kind={kind} live={live} total={total} GOGC={env['GOGC']} "
        f"GOMEMLIMIT={env['GOMEMLIMIT']} GOMAXPROCS={gomaxprocs}"
    )
    traces = [name for name, on in (("gctrace", gctrace), ("gcpacertrace", pacertrace)) if on]
    godebug = ",".join(f"{name}=1" for name in traces) or None
    want_gogc = 100 if gogc is None else max(gogc, -1)
    want_limit = MAX_INT64 if memlimit is None else memlimit

    def read(raw: dict[str, Any]) -> dict[str, int | float | str]:
        out: dict[str, int | float | str] = {}
        for name, typ in FIELDS.items():
            value = raw[name]
            if not _number(value, typ):
                raise ValueError(f"{name} = {value!r} is not a {typ.__name__}")
            out[name] = float(value) if typ is float else value
        # Every /memory/classes/ and /cpu/classes/ metric, under its own name.
        for group, prefix, typ in CLASSES:
            for name, value in raw.get(group, {}).items():
                if not (name.startswith(prefix) and _number(value, typ)):
                    raise ValueError(f"{group}: {name} = {value!r}")
                out[name] = typ(value)
        ran = (out["kind"], out["live"], out["total"], out["gomaxprocs"], out["gogc"])
        if ran != (kind, live, total, gomaxprocs, want_gogc) or out["gomemlimit"] != want_limit:
            raise ValueError(
                f"the program ran with (kind, live, total, GOMAXPROCS, GOGC) = {ran}, "
                f"GOMEMLIMIT = {out['gomemlimit']}"
            )
        return out

    return toolchain.run_json(
        binary, *args, what=what, read=read, env=env, godebug=godebug, timeout=timeout
    )


# The what-if check's five figures and the program's fields they are read from.
FIGURES = {
    "cycles": "gc_cycles",
    "goal": "heap_goal",
    "peak": "peak_heap",
    "rss": "rss",
    "cpu": "gc_cpu_fraction",
}


def interleaved(
    binary: Path,
    *,
    live: int,
    total: int,
    kind: str,
    settings: Sequence[tuple[int | None, int | None]],
    rounds: int = 3,
    pacertrace: bool = False,
) -> tuple[list[str], list[dict[str, float]]]:
    """Traced runs at GOGC=100 to fit, and the five figures of each setting (gogc,
    memlimit as for run), measured in rounds: each round runs the traced program,
    then every setting once (without gctrace), then the traced program again.

    Returns (the traced runs' stderr, 2 x rounds of them; per setting, in order, the
    median of its figures over the rounds: "cycles" (gc_cycles), "goal" (heap_goal),
    "peak" (peak_heap), "rss" and "cpu" (gc_cpu_fraction), as FIGURES maps them,
    keyed as whatif.model.Result.figures gives the model's). A shared
    machine's speed drifts over minutes by 10-20%; taking the fitted and the
    measured runs turn about puts the same drift into both, where a batch of
    fitted runs followed by batches of measured ones compares different machines.
    """
    if rounds < 1:
        raise ValueError(f"churn.interleaved: rounds must be >= 1, not {rounds}")
    traces: list[str] = []
    measured: list[list[dict[str, int | float | str]]] = [[] for _ in settings]

    def traced() -> str:
        return run(binary, live=live, total=total, kind=kind, pacertrace=pacertrace)[1]

    for _ in range(rounds):
        traces.append(traced())
        for (gogc, memlimit), runs in zip(settings, measured, strict=True):
            out, _ = run(
                binary,
                live=live,
                total=total,
                kind=kind,
                gogc=gogc,
                memlimit=memlimit,
                gctrace=False,
            )
            runs.append(out)
        traces.append(traced())
    return traces, [
        {
            key: float(statistics.median(float(r[name]) for r in runs))
            for key, name in FIGURES.items()
        }
        for runs in measured
    ]
