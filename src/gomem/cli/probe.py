"""`gomem probe`: run an experiment on the real kernel and on the model, side by side."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.table import Table

from gomem.machine.experiments import DEFAULT_DEMAND_PAGING_BYTES, check_demand_paging_size, deltas
from gomem.machine.experiments import demand_paging as model_demand_paging
from gomem.oracle.kernel import probe_demand_paging

from .args import BadInput, parse_size
from .vm import console


def add_parser(sub: Any) -> None:
    probe = sub.add_parser(
        "probe",
        help="run an experiment on the real kernel beside the model",
        description="Run the same experiment on the real Linux kernel and on "
        "the model and print both.",
    )
    psub = probe.add_subparsers(dest="probe_command", metavar="EXPERIMENT", required=True)
    dp = psub.add_parser(
        "demand-paging",
        help="mmap, read half, write it, write the rest, munmap",
        description="mmap SIZE bytes of private anonymous memory (MADV_NOHUGEPAGE), "
        "read one byte per page of the first half, write it, write the second "
        "half, munmap; print VmSize, RssAnon and minor-fault deltas of the real "
        "kernel (/proc/self/status, getrusage) and of the model.",
    )
    dp.add_argument(
        "--size",
        type=parse_size,
        default=DEFAULT_DEMAND_PAGING_BYTES,
        metavar="SIZE",
        help="bytes to map (default 64MiB)",
    )
    dp.add_argument("--json", action="store_true", help="print the figures as JSON")
    dp.set_defaults(run=run_demand_paging, prog=dp.prog)


def run_demand_paging(args: argparse.Namespace) -> int:
    try:
        check_demand_paging_size(args.size)
    except ValueError as err:
        raise BadInput(f"--size: {err}") from None
    kernel = deltas(probe_demand_paging(args.size))
    model = deltas(model_demand_paging(args.size))
    if args.json:
        out = {
            "size_bytes": args.size,
            "phases": [
                {"phase": name, "kernel": _fields(k), "model": _fields(m)}
                for (name, k), (_, m) in zip(kernel, model, strict=True)
            ],
        }
        print(json.dumps(out, indent=2))
        return 0
    con = console()
    con.print(
        f"Demand paging of {args.size:,} bytes of private anonymous memory: "
        "deltas after each phase, real kernel vs model.\n"
    )
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    table.add_column("phase")
    for col in ("VmSize kB", "", "RssAnon kB", "", "minor faults", ""):
        table.add_column(col, justify="right")
    table.add_row("", "kernel", "model", "kernel", "model", "kernel", "model")
    for (name, k), (_, m) in zip(kernel, model, strict=True):
        table.add_row(
            name,
            _d(k.vm_size_kb),
            _d(m.vm_size_kb),
            _d(k.rss_anon_kb),
            _d(m.rss_anon_kb),
            _d(k.minor_faults),
            _d(m.minor_faults),
        )
    con.print(table)
    con.print(
        "\nKernel figures come from /proc/self/status and getrusage of this process; "
        "they vary by a few pages with what the interpreter does between readings."
    )
    return 0


def _fields(r: Any) -> dict[str, int]:
    return {
        "vm_size_kb": r.vm_size_kb,
        "rss_anon_kb": r.rss_anon_kb,
        "minor_faults": r.minor_faults,
    }


def _d(n: int) -> str:
    return f"{n:+,}" if n else "0"
