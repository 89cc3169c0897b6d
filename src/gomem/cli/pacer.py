"""`gomem pacer replay`: Go's pacer test harness run on the model's pacer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gomem.runtime.pacer_replay import replay, scenario_from_json

from .args import BadInput


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "pacer",
        help="Go's GC pacer: replay its test harness",
        description="The GC pacer (gcControllerState of mgcpacer.go).",
    )
    psub = p.add_subparsers(dest="pacer_command", metavar="SUBCOMMAND", required=True)
    rp = psub.add_parser(
        "replay",
        help="run the cycles of one TestGcPacer scenario and print the rows Go's test logs",
        description="Reads a scenario (JSON: name, gcPercent, memoryLimit, globalsBytes, "
        "nCores, cycles: [allocRate, scanRate, growthRate, scannableFrac, stackBytes] per "
        "cycle), runs Go's TestGcPacer loop on the model's pacer, and prints JSON "
        '{"name": ..., "rows": [[cycle, utilization_percent, heap_marked, trigger, peak, '
        "goal], ...]}.",
    )
    rp.add_argument("input", metavar="INPUT.json", help="the scenario's inputs")
    rp.set_defaults(run=run_replay, prog=rp.prog)


def run_replay(args: Any) -> int:
    path = Path(args.input)
    try:
        doc = json.loads(path.read_text())
    except OSError as err:
        raise BadInput(f"{path}: {err.strerror or err}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BadInput(f"{path}: not JSON ({err})") from None
    if not isinstance(doc, dict):
        raise BadInput(f"{path}: want a JSON object")
    try:
        sc = scenario_from_json(doc)
    except ValueError as err:
        raise BadInput(f"{path}: {err}") from None
    print(json.dumps({"name": sc.name, "rows": replay(sc)}))
    return 0
