"""Smoke test of the churn reference program (gomem.oracle.churn) on real Go 1.24.3.

A small case of each kind, 8 MiB live and 64 MiB allocated at GOGC=100
with 2 Ps: the JSON fields are what the program was asked to do and are
consistent with each other, and the gctrace on stderr reads with
gomem.whatif.gctrace, one line per cycle the program counted.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gomem.oracle import churn, toolchain
from gomem.whatif.gctrace import (
    PacerEnd,
    parse_gctrace,
    parse_gctrace_output,
    parse_pacertrace_output,
)

pytestmark = pytest.mark.oracle

MiB = 1 << 20
LIVE = 8 * MiB
TOTAL = 64 * MiB


@pytest.mark.parametrize("kind", churn.KINDS)
def test_small_churn(kind: str, churn_binary: Path) -> None:
    out, stderr = churn.run(churn_binary, live=LIVE, total=TOTAL, kind=kind, gogc=100)
    shown = f"{kind}: {out}"
    size = churn.OBJECT_SIZE[kind]
    slots = LIVE // size

    assert out["go_version"] == toolchain.go_version()
    assert (out["object_size"], out["slots"], out["ring_bytes"]) == (size, slots, slots * 8)
    assert out["allocated"] == TOTAL  # both sizes divide 64 MiB
    assert (out["gomaxprocs"], out["gogc"], out["gomemlimit"]) == (2, 100, churn.MAX_INT64)

    # Cycles: some in the fill phase (the first goal is 4 MiB), more while churning.
    cycles = out["gc_cycles"]
    assert isinstance(cycles, int)
    assert 1 <= out["gc_cycles_fill"] < cycles, shown
    assert out["gc_cycles_forced"] == 0, shown

    # The ring's objects and slice are live at every cycle's start, so the last
    # cycle marked at least that much; the goal is above it (GOGC=100).
    ring = LIVE + slots * 8
    assert ring <= out["heap_live"] < out["heap_goal"], shown
    assert ring <= out["peak_heap"] <= out["heap_allocs"], shown
    assert out["heap_allocs"] >= TOTAL
    assert out["peak_heap_samples"] == TOTAL // MiB + 2  # every MiB, and at both ends
    assert LIVE <= out["rss"] <= out["rss_peak"], shown

    assert out["fill_seconds"] > 0 and out["churn_seconds"] > 0
    assert 0 < out["gc_cpu_seconds"] < out["total_cpu_seconds"], shown
    assert 0 < out["gc_cpu_fraction"] < 1, shown
    assert 0 < out["memstats_gc_cpu_fraction"] < 1, shown

    lines = parse_gctrace(stderr, f"churn {kind} stderr")
    # A cycle can end after the program's last reading and still print.
    assert cycles <= len(lines) <= cycles + 1, shown
    assert [g.cycle for g in lines] == list(range(1, len(lines) + 1))
    assert all(g.procs == 2 and not g.forced for g in lines)
    # /gc/heap/live:bytes is heapMarked, set from work.bytesMarked in the same
    # mark termination that printed heap2 (mgc.go, mgcpacer.go resetLive).
    assert lines[cycles - 1].heap2_mb == out["heap_live"] // MiB, shown


def test_pacertrace_and_cpu_classes(churn_binary: Path) -> None:
    out, stderr = churn.run(
        churn_binary, live=LIVE, total=TOTAL, kind="ptr64", gogc=100, pacertrace=True
    )
    gcs = parse_gctrace_output(stderr, "churn stderr")
    ends = [p for p in parse_pacertrace_output(stderr, "churn stderr") if isinstance(p, PacerEnd)]
    # endCycle prints before each gctrace line, except where heapLive had not grown
    # past the trigger (the first cycle: the start-up goal is the 4 MiB floor).
    assert len(gcs) - 1 <= len(ends) <= len(gcs)
    assert all(e.heap_scan_work > 0 for e in ends)
    # The /cpu/classes: the GC's parts add up to its total (mgc.go accumulates the
    # total from them), and every class is within the total CPU.
    c = "/cpu/classes/"
    parts = ("gc/mark/assist", "gc/mark/dedicated", "gc/mark/idle", "gc/pause")
    gc_total = out[c + "gc/total:cpu-seconds"]
    assert sum(out[c + p + ":cpu-seconds"] for p in parts) == pytest.approx(gc_total)
    assert 0 < gc_total <= out[c + "total:cpu-seconds"] == out["total_cpu_seconds"]


def test_no_gctrace(churn_binary: Path) -> None:
    out, stderr = churn.run(
        churn_binary, live=LIVE, total=LIVE, kind="noscan1k", gogc=-1, gctrace=False
    )
    assert stderr == ""
    assert (out["gogc"], out["gc_cycles"], out["allocated"]) == (-1, 0, LIVE)


def test_bad_arguments() -> None:
    churn_binary = Path("never-run")  # the arguments are checked before any run
    with pytest.raises(ValueError, match=r"^churn.run: kind 'ptr32' is not one of"):
        churn.run(churn_binary, live=LIVE, total=TOTAL, kind="ptr32")
    with pytest.raises(ValueError, match=r"^churn.run: need live >= 1024 \(one object\)"):
        churn.run(churn_binary, live=LIVE, total=LIVE - 1, kind="noscan1k")


def test_a_failing_run_names_the_programs_own_error_line(tmp_path: Path) -> None:
    # The program's fail() line comes after the runtime's trace lines on stderr.
    fake = tmp_path / "churn"
    fake.write_text(
        "#!/bin/sh\necho 'gc 1 @0.001s 1%: trace line' >&2\necho 'churn: boom' >&2\nexit 2\n"
    )
    fake.chmod(0o755)
    with pytest.raises(toolchain.ToolchainError, match=r"exit 2: churn: boom$") as info:
        churn.run(fake, live=LIVE, total=TOTAL, kind="ptr64")
    assert "\n" not in str(info.value)


FAKE_CHURN = """#!{python}
# A stand-in for the churn program: it appends its settings to a log and
# reports its call number n (1, 2, ...) as every figure, so that which runs a
# median took is plain.
import json, os, sys
log = sys.argv[0] + ".log"
n = sum(1 for _ in open(log)) + 1 if os.path.exists(log) else 1
with open(log, "a") as f:
    e = os.environ
    f.write(f"{{e['GOGC']}}|{{e['GOMEMLIMIT']}}|{{e.get('GODEBUG', '')}}\\n")
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
gogc = -1 if os.environ["GOGC"] == "off" else int(os.environ["GOGC"])
limit = {max_int64} if os.environ["GOMEMLIMIT"] == "off" else int(os.environ["GOMEMLIMIT"])
out = {{name: (0.0 if kind == "float" else 0) for name, kind in {fields}.items()}}
out.update(kind=args["-kind"], live=int(args["-live"]), total=int(args["-total"]),
           gomaxprocs=int(os.environ["GOMAXPROCS"]), gogc=gogc, gomemlimit=limit, go_version="go0",
           gc_cycles=n, heap_goal=10 * n, peak_heap=20 * n, rss=30 * n, gc_cpu_fraction=n / 100)
print(f"trace of call {{n}}", file=sys.stderr)
print(json.dumps(out))
"""


def test_interleaved_takes_turns_and_medians_over_rounds(tmp_path: Path) -> None:
    fields = {name: kind.__name__ for name, kind in churn.FIELDS.items()}
    fake = tmp_path / "churn"
    fake.write_text(
        FAKE_CHURN.format(python=sys.executable, max_int64=churn.MAX_INT64, fields=fields)
    )
    fake.chmod(0o755)
    settings = [(50, None), (-1, 96 * MiB)]
    traces, measured = churn.interleaved(
        fake, live=LIVE, total=TOTAL, kind="ptr64", settings=settings, rounds=3, pacertrace=True
    )
    # Each round: a traced GOGC=100 run, each setting once without a trace, a traced run.
    paced, limit = "gctrace=1,gcpacertrace=1", str(96 * MiB)
    round_ = [f"100|off|{paced}", "50|off|", f"off|{limit}|", f"100|off|{paced}"]
    assert (tmp_path / "churn.log").read_text().splitlines() == round_ * 3
    # The traced runs are calls 1, 4, 5, 8, 9, 12; GOGC=50 ran as calls 2, 6, 10
    # (median 6) and the limit as 3, 7, 11 (median 7).
    assert traces == [f"trace of call {n}\n" for n in (1, 4, 5, 8, 9, 12)]
    assert measured == [
        {"cycles": 6.0, "goal": 60.0, "peak": 120.0, "rss": 180.0, "cpu": 0.06},
        {"cycles": 7.0, "goal": 70.0, "peak": 140.0, "rss": 210.0, "cpu": 0.07},
    ]
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        churn.interleaved(fake, live=LIVE, total=TOTAL, kind="ptr64", settings=settings, rounds=0)
