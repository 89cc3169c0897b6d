"""The GC pacer's per-cycle figures, as the real runtime's own test computes them.

The oracle for the model's pacer: Go's TestGcPacer (runtime/mgcpacer_test.go)
drives the real gcControllerState through 19 scenarios of simulated cycles
(via export_test.go's GCController) and logs one line per cycle:

    GC <cycle> <util>% <heap_marked>-><trigger>-><peak> (goal: <goal>)

util is the cycle's GC CPU utilization in percent, printed "%2.1f";
heap_marked is the live heap marked by the previous cycle (HeapMarked),
trigger the heap size that started this one (Triggered), peak the live heap
when its mark finished (HeapLive) and goal the heap goal (HeapGoal), all in
bytes.

go_pacer_rows runs that test with the installed toolchain and returns the
logged rows of every scenario. The subtests run in parallel, so their plain
output interleaves; the JSON event stream (`go test -json`) names the
subtest of every output line, which is how the rows are told apart. Other
lines (=== RUN and --- PASS markers, a failed check's message) are skipped.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

from gomem.oracle import toolchain
from gomem.oracle.toolchain import ToolchainError

__all__ = ["TEST", "default_gocache", "go_pacer_rows", "parse_test_json"]

TEST = "TestGcPacer"

# t.Log("GC", result.String()) with gcCycleResult.String's
# "%d %2.1f%% %d->%d->%d (goal: %d)", after the "    file.go:NNN: " that t.Log prepends.
_PREFIX = re.compile(r"^\s*mgcpacer_test\.go:\d+: ")
_ROW = re.compile(r"^GC (\d+) (-?\d+\.\d)% (\d+)->(\d+)->(\d+) \(goal: (\d+)\)$")


def default_gocache() -> Path:
    """A GOCACHE kept between runs, so the runtime's test binary is built only once.

    $XDG_CACHE_HOME/gomem/gocache, or ~/.cache/gomem/gocache.
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gomem" / "gocache"


def parse_test_json(stream: str) -> dict[str, list[list[int | float]]]:
    """The cycle rows of every TestGcPacer subtest in a `go test -json` event stream.

    Rows are [cycle, util_percent, heap_marked, trigger, peak, goal]: util as
    printed (one decimal), the rest ints; each subtest's rows in logged order.
    """
    rows: dict[str, list[list[int | float]]] = {}
    for line in stream.splitlines():
        if not line.startswith("{"):
            continue  # the go command's own messages, if any
        try:
            event = json.loads(line)
        except ValueError:
            continue
        test = event.get("Test") or ""
        if event.get("Action") != "output" or not test.startswith(TEST + "/"):
            continue
        match = _ROW.match(_PREFIX.sub("", event.get("Output", "")).rstrip("\n"))
        if match is None:
            continue  # a subtest's start/pass marker, or a checker's message
        cycle, util, marked, trigger, peak, goal = match.groups()
        name = test.removeprefix(TEST + "/")
        row = [int(cycle), float(util), int(marked), int(trigger), int(peak), int(goal)]
        rows.setdefault(name, []).append(row)
    return rows


def _plain(stream: str) -> list[str]:
    """The text of a `go test -json` stream: its events' Output, and any line not JSON."""
    lines = []
    for line in stream.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            event = {"Output": line}
        if isinstance(event, dict) and event.get("Output", "").strip():
            lines.append(event["Output"].rstrip())
    return lines


def go_pacer_rows(
    gocache: Path | None = None, timeout: float = 900
) -> dict[str, list[list[int | float]]]:
    """Run the toolchain's TestGcPacer and return {scenario: rows} (see parse_test_json).

    gocache defaults to default_gocache(). A cold cache spends tens of seconds
    building the runtime's test binary; -count=1 runs the test anew even then.
    """
    cache = default_gocache() if gocache is None else gocache
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [str(toolchain.go_binary()), "test", "-json", "-count=1", "-run", f"^{TEST}$", "runtime"]
    # An empty directory: outside any module, `runtime` is GOROOT's.
    with tempfile.TemporaryDirectory(prefix="gomem-pacer-") as cwd:
        try:
            result = subprocess.run(
                cmd,
                cwd=cwd,
                env=toolchain.build_env(cache),
                capture_output=True,
                text=True,
                check=False,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise ToolchainError(f"go test {TEST} runtime: timed out after {timeout} s") from None
    if result.returncode != 0:
        tail = " | ".join(_plain(result.stdout + "\n" + result.stderr)[-5:])
        raise ToolchainError(f"go test {TEST} runtime: exit {result.returncode}: {tail}")
    rows = parse_test_json(result.stdout)
    if not rows:
        raise ToolchainError(f"go test {TEST} runtime: passed but logged no cycle rows")
    return rows
