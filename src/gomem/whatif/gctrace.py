"""Read the runtime's own trace lines: GODEBUG=gctrace=1 and gcpacertrace=1 (Go 1.21 to 1.27).

gctrace=1 makes the runtime print one line per finished GC cycle to stderr,
at the end of mark termination (runtime/mgc.go gcMarkTermination):

    gc 3 @0.038s 9%: 0.058+18+0.081 ms clock, 0.11+7.9/1.3/17+0.16 ms cpu,
        41->53->53 MB, 48 MB goal, 0 MB stacks, 0 MB globals, 2 P

(one line in the output; " (forced)" follows when runtime.GC() started the
cycle). The fields, as mgc.go computes them:

    gc N          memstats.numgc, the cycle's number (1, 2, ...)
    @T s          work.tSweepTerm - runtimeInitTime, whole milliseconds
                  printed as seconds with 3 decimals (itoaDiv)
    U%            int(memstats.gc_cpu_fraction * 100): GC's share of the CPU
                  time since the program started, truncated
    a+b+c ms clock  wall time of sweep termination (STW), concurrent mark,
                  mark termination (STW)
    d+e/f/g+h ms cpu  CPU time: sweep termination (stwprocs x its wall time),
                  mark assists, background mark workers (dedicated +
                  fractional), idle mark workers, mark termination
                  (stwprocs x its wall time)
    X->Y->Z MB    work.heap0 (heapLive when the cycle started), work.heap1
                  (heapLive at mark termination), work.heap2 (bytes marked)
    G MB goal     gcController.lastHeapGoal, the goal the cycle ran against
    S MB stacks   gcController.lastStackScan
    L MB globals  gcController.globalsScan
    P P           work.maxprocs, GOMAXPROCS during the cycle

Every "MB" is the byte count shifted right by 20: MiB, truncated. The
millisecond figures come from fmtNSAsMS: whole milliseconds from 10 ms up,
below that two significant digits with at most three decimals ("0.058",
"7.9"), and "0" below one microsecond.

What differs between the versions read (the mgc.go of go1.21.13, 1.22.10,
1.23.9, 1.24.11, 1.25.5, 1.26.6, 1.27.3; real lines of each are in
tests/whatif/testdata/gctrace): the layout of the gc line is the same in
all of them, except that Go 1.26 added " (checking for goroutine leaks)"
after "U%" for a cycle that ran the goroutine leak detector
(GCTraceLine.goroutine_leak_check). Go 1.21 and 1.22 print the mark
termination CPU from a local markTermCpu, the same stwprocs x wall time.

gcpacertrace=1 adds three kinds of "pacer:" lines (parse_pacertrace):
PacerStart at the start of each cycle (mgcpacer.go startCycle), PacerEnd
when the mark phase ends (endCycle; absent when heapLive had not grown
past the cycle's trigger, as often for a forced cycle), and PacerSweepDone
when the last sweeper of a cycle has finished (mgcsweep.go
activeSweep.end). Up to Go 1.24 that line is never printed: end() tests
the sweeper count from before its own decrement (`state !=
sweepDrainedMask`), which is never zero there; Go 1.25 tests `state-1`.
The layouts of the three are the same in all seven versions, but the
floats are not: Go 1.21 to 1.25 print a float64 as print() always did
("+7.568041e-001", "+0.000000e+000"), Go 1.26 and 1.27 in the shortest
form that reads back exactly (strconv 'g': "0.25", "0", "1.17e-05");
both read the same here.

The runtime prints these lines piece by piece and a program's own writes
to stderr are not serialised with them, so a line can come out broken: the
Go 1.27 fixture ends with a "pacer: sweep done" line cut off by the
program's last line and by its exit. Lines that are not trace lines are
skipped; a line that starts like a trace line ("gc " and a digit, or
"pacer: ") but does not read as one is an error naming source:line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

__all__ = [
    "MB",
    "GCTraceLine",
    "PacerEnd",
    "PacerLine",
    "PacerStart",
    "PacerSweepDone",
    "parse_gctrace",
    "parse_gctrace_output",
    "parse_pacertrace_output",
    "parse_pacertrace",
]

MB = 1 << 20  # gctrace's "MB": bytes >> 20


@dataclass(frozen=True)
class GCTraceLine:
    """One gctrace line: the summary of one finished GC cycle (see the module docstring)."""

    cycle: int  # gc N
    start_s: float  # @T s: when the cycle started, seconds since the runtime started
    start_ms: int  # the same, exactly, in the whole milliseconds the runtime printed
    util_percent: int  # U%: GC's share of all CPU time so far, truncated
    clock_sweep_term_ms: float  # wall: sweep termination (stop-the-world)
    clock_mark_ms: float  # wall: concurrent mark
    clock_mark_term_ms: float  # wall: mark termination (stop-the-world)
    cpu_sweep_term_ms: float  # CPU: sweep termination
    cpu_assist_ms: float  # CPU: mark assists by allocating goroutines
    cpu_background_ms: float  # CPU: dedicated + fractional background mark workers
    cpu_idle_ms: float  # CPU: idle mark workers
    cpu_mark_term_ms: float  # CPU: mark termination
    heap0_mb: int  # heapLive when the cycle started
    heap1_mb: int  # heapLive at mark termination
    heap2_mb: int  # bytes marked (live heap after the cycle)
    goal_mb: int  # the heap goal of this cycle
    stacks_mb: int  # stack bytes scanned by the last cycle
    globals_mb: int  # scannable globals
    procs: int  # GOMAXPROCS
    forced: bool = False  # " (forced)": started by runtime.GC()
    goroutine_leak_check: bool = False  # " (checking for goroutine leaks)", Go 1.26+
    lineno: int = 0  # 1-based line of the text it was read from

    @property
    def pause_ms(self) -> float:
        """Stop-the-world wall time: sweep termination + mark termination."""
        return self.clock_sweep_term_ms + self.clock_mark_term_ms

    @property
    def cpu_mark_ms(self) -> float:
        """CPU time of the concurrent mark: assists + background + idle workers."""
        return self.cpu_assist_ms + self.cpu_background_ms + self.cpu_idle_ms

    @property
    def cpu_total_ms(self) -> float:
        """All the CPU time the line reports for the cycle."""
        return self.cpu_sweep_term_ms + self.cpu_mark_ms + self.cpu_mark_term_ms


@dataclass(frozen=True)
class PacerStart:
    """`pacer: assist ratio=R (scan S MB in H->G MB) workers=D+F` (mgcpacer.go startCycle)."""

    assist_ratio: float  # assistWorkPerByte: scan work an assist owes per byte allocated
    scan_mb: int  # heapScan: scannable heap expected
    heap_live_mb: int  # work.initialHeapLive: heapLive at the start
    goal_mb: int  # heapGoal()
    dedicated_workers: int  # dedicatedMarkWorkersNeeded
    fractional_goal: float  # fractionalUtilizationGoal
    lineno: int = 0


@dataclass(frozen=True)
class PacerEnd:
    """`pacer: U% CPU (G exp.) for H+S+L B work (E B exp.) in T B -> V B (∆goal D, cons/mark C)`
    (mgcpacer.go endCycle)."""

    utilization_percent: int  # int(utilization*100): background goal + assists
    goal_utilization_percent: int  # int(gcGoalUtilization*100)
    heap_scan_work: int  # bytes of heap scanned
    stack_scan_work: int  # bytes of stacks scanned
    globals_scan_work: int  # bytes of globals scanned
    expected_scan_work: int  # lastHeapScan + lastStackScan + globalsScan
    trigger: int  # triggered: heapLive when the cycle started, bytes
    heap_live: int  # heapLive now, bytes
    goal_delta: int  # heapLive - lastHeapGoal, bytes (negative: finished under the goal)
    cons_mark: float  # the cons/mark estimate the cycle ran with (before this update)
    lineno: int = 0


@dataclass(frozen=True)
class PacerSweepDone:
    """`pacer: sweep done at heap size HMB; allocated AMB during sweep; swept N pages at
    R pages/byte` (mgcsweep.go activeSweep.end)."""

    heap_live_mb: int  # heapLive when the sweep finished
    allocated_mb: int  # heapLive - sweepHeapLiveBasis: allocated while sweeping
    pages_swept: int  # pagesSwept
    pages_per_byte: float  # sweepPagesPerByte: the proportional sweep's pace
    lineno: int = 0


PacerLine = PacerStart | PacerEnd | PacerSweepDone

# -- the grammar ---------------------------------------------------------------
# A line is read piece by piece, so that a bad one is reported at the piece
# that does not fit. A piece is (regex, field name or None, what it is), the
# last for the error message.

_INT = r"\d+"
_SINT = r"-?\d+"  # a Go int64 printed by print()
_MS = r"\d+(?:\.\d+)?"  # fmtNSAsMS
# print() of a float64: "+7.568041e-001" up to Go 1.25, strconv's shortest
# 'g' form ("0.25", "1e-05") from Go 1.26; "NaN", "+Inf", "-Inf" in both.
_FLOAT = r"(?:[+-]?(?:\d+(?:\.\d*)?(?:e[+-]?\d+)?|Inf)|NaN)"

_Piece = tuple[re.Pattern[str], str | None, str]


def _lit(text: str) -> _Piece:
    return (re.compile(re.escape(text)), None, repr(text))


def _f(rx: str, name: str, what: str) -> _Piece:
    return (re.compile(rx, re.ASCII), name, what)


_GC_LINE: tuple[_Piece, ...] = (
    _lit("gc "),
    _f(_INT, "cycle", "the cycle number"),
    _lit(" @"),
    _f(r"\d+\.\d{3}", "start", "the start time (seconds with 3 decimals)"),
    _lit("s "),
    _f(_INT, "util", "the GC CPU percentage"),
    _lit("%"),
    _f(r"(?: \(checking for goroutine leaks\))?", "leak", "' (checking for goroutine leaks)'"),
    _lit(": "),
    _f(_MS, "c_sweep", "the sweep termination clock time"),
    _lit("+"),
    _f(_MS, "c_mark", "the mark clock time"),
    _lit("+"),
    _f(_MS, "c_term", "the mark termination clock time"),
    _lit(" ms clock, "),
    _f(_MS, "u_sweep", "the sweep termination CPU time"),
    _lit("+"),
    _f(_MS, "u_assist", "the assist CPU time"),
    _lit("/"),
    _f(_MS, "u_bg", "the background mark CPU time"),
    _lit("/"),
    _f(_MS, "u_idle", "the idle mark CPU time"),
    _lit("+"),
    _f(_MS, "u_term", "the mark termination CPU time"),
    _lit(" ms cpu, "),
    _f(_INT, "heap0", "the heap size at the start"),
    _lit("->"),
    _f(_INT, "heap1", "the heap size at mark termination"),
    _lit("->"),
    _f(_INT, "heap2", "the marked heap size"),
    _lit(" MB, "),
    _f(_INT, "goal", "the heap goal"),
    _lit(" MB goal, "),
    _f(_INT, "stacks", "the stack size"),
    _lit(" MB stacks, "),
    _f(_INT, "globals", "the globals size"),
    _lit(" MB globals, "),
    _f(_INT, "procs", "the number of Ps"),
    _lit(" P"),
    _f(r"(?: \(forced\))?", "forced", "' (forced)'"),
)

_PACER_START: tuple[_Piece, ...] = (
    _lit("pacer: assist ratio="),
    _f(_FLOAT, "ratio", "the assist ratio"),
    _lit(" (scan "),
    _f(_INT, "scan", "the scannable heap"),
    _lit(" MB in "),
    _f(_INT, "live", "the heap size at the start"),
    _lit("->"),
    _f(_INT, "goal", "the heap goal"),
    _lit(" MB) workers="),
    _f(_SINT, "dedicated", "the dedicated workers"),
    _lit("+"),
    _f(_FLOAT, "fractional", "the fractional utilization goal"),
)

_PACER_END: tuple[_Piece, ...] = (
    _lit("pacer: "),
    _f(_SINT, "util", "the utilization percentage"),
    _lit("% CPU ("),
    _f(_SINT, "goal", "the goal utilization percentage"),
    _lit(" exp.) for "),
    _f(_INT, "heap", "the heap scan work"),
    _lit("+"),
    _f(_INT, "stack", "the stack scan work"),
    _lit("+"),
    _f(_INT, "globals", "the globals scan work"),
    _lit(" B work ("),
    _f(_INT, "expected", "the expected scan work"),
    _lit(" B exp.) in "),
    _f(_INT, "trigger", "the trigger"),
    _lit(" B -> "),
    _f(_INT, "live", "the live heap"),
    _lit(" B (∆goal "),
    _f(_SINT, "delta", "the distance to the goal"),
    _lit(", cons/mark "),
    _f(_FLOAT, "consmark", "the cons/mark ratio"),
    _lit(")"),
)

_PACER_SWEEP: tuple[_Piece, ...] = (
    _lit("pacer: sweep done at heap size "),
    _f(_INT, "live", "the heap size"),
    _lit("MB; allocated "),
    _f(_INT, "allocated", "the bytes allocated during the sweep"),
    _lit("MB during sweep; swept "),
    _f(_INT, "pages", "the pages swept"),
    _lit(" pages at "),
    _f(_FLOAT, "rate", "the sweep pace"),
    _lit(" pages/byte"),
)

_GC_START = re.compile(r"gc [0-9]")
_PACER_PREFIX = "pacer: "


class _Mismatch(Exception):
    def __init__(self, column: int, what: str) -> None:
        self.column = column
        self.what = what


def _read(line: str, grammar: tuple[_Piece, ...]) -> dict[str, str]:
    """The named pieces of line, which must be exactly the grammar's sequence."""
    fields: dict[str, str] = {}
    pos = 0
    for rx, name, what in grammar:
        m = rx.match(line, pos)
        if m is None:
            raise _Mismatch(pos + 1, f"expected {what}")
        if name is not None:
            fields[name] = m.group()
        pos = m.end()
    if pos != len(line):
        raise _Mismatch(pos + 1, "unexpected text after the end of the line")
    return fields


def _error(source: str, lineno: int, kind: str, line: str, e: _Mismatch) -> ValueError:
    shown = line if len(line) <= 160 else line[:160] + "..."
    return ValueError(
        f"{source}:{lineno}: malformed {kind} line: {e.what} at column {e.column}: {shown!r}"
    )


def _lines(text: str) -> list[tuple[int, str]]:
    # Split on "\n" only, so that line numbers are those of an editor or grep.
    return [(i, raw.rstrip()) for i, raw in enumerate(text.split("\n"), start=1)]


def parse_gctrace(text: str, source: str = "<gctrace>") -> list[GCTraceLine]:
    """The gctrace lines of text (a program's stderr), in order; other lines are skipped.

    A line that starts with "gc " and a digit but is not a gctrace line
    raises ValueError naming source:line and the first piece that does not
    fit.
    """
    out: list[GCTraceLine] = []
    for lineno, line in _lines(text):
        if not _GC_START.match(line):
            continue
        try:
            f = _read(line, _GC_LINE)
        except _Mismatch as e:
            raise _error(source, lineno, "gctrace", line, e) from None
        out.append(
            GCTraceLine(
                cycle=int(f["cycle"]),
                start_s=float(f["start"]),
                start_ms=int(f["start"].replace(".", "")),
                util_percent=int(f["util"]),
                clock_sweep_term_ms=float(f["c_sweep"]),
                clock_mark_ms=float(f["c_mark"]),
                clock_mark_term_ms=float(f["c_term"]),
                cpu_sweep_term_ms=float(f["u_sweep"]),
                cpu_assist_ms=float(f["u_assist"]),
                cpu_background_ms=float(f["u_bg"]),
                cpu_idle_ms=float(f["u_idle"]),
                cpu_mark_term_ms=float(f["u_term"]),
                heap0_mb=int(f["heap0"]),
                heap1_mb=int(f["heap1"]),
                heap2_mb=int(f["heap2"]),
                goal_mb=int(f["goal"]),
                stacks_mb=int(f["stacks"]),
                globals_mb=int(f["globals"]),
                procs=int(f["procs"]),
                forced=bool(f["forced"]),
                goroutine_leak_check=bool(f["leak"]),
                lineno=lineno,
            )
        )
    return out


def parse_gctrace_output(text: str, source: str = "<gctrace>") -> list[GCTraceLine]:
    """parse_gctrace on a whole stderr capture, where a program that exits while the
    runtime prints may leave the last line cut off: a bad last line is dropped, a
    bad line anywhere else is still a ValueError."""
    return _tolerant(parse_gctrace, text, source)


def parse_pacertrace_output(text: str, source: str = "<gctrace>") -> list[PacerLine]:
    """parse_pacertrace on a whole stderr capture, as parse_gctrace_output."""
    return _tolerant(parse_pacertrace, text, source)


def _tolerant(parse: Callable[[str, str], list[T]], text: str, source: str) -> list[T]:
    try:
        return parse(text, source)
    except ValueError as err:
        lines = text.splitlines()
        if not (lines and f"{source}:{len(lines)}:" in str(err)):
            raise
        return parse("\n".join(lines[:-1]), source)


def _pacer_line(line: str, lineno: int) -> PacerLine:
    if line.startswith("pacer: assist ratio="):
        f = _read(line, _PACER_START)
        return PacerStart(
            assist_ratio=float(f["ratio"]),
            scan_mb=int(f["scan"]),
            heap_live_mb=int(f["live"]),
            goal_mb=int(f["goal"]),
            dedicated_workers=int(f["dedicated"]),
            fractional_goal=float(f["fractional"]),
            lineno=lineno,
        )
    if line.startswith("pacer: sweep done"):
        f = _read(line, _PACER_SWEEP)
        return PacerSweepDone(
            heap_live_mb=int(f["live"]),
            allocated_mb=int(f["allocated"]),
            pages_swept=int(f["pages"]),
            pages_per_byte=float(f["rate"]),
            lineno=lineno,
        )
    f = _read(line, _PACER_END)
    return PacerEnd(
        utilization_percent=int(f["util"]),
        goal_utilization_percent=int(f["goal"]),
        heap_scan_work=int(f["heap"]),
        stack_scan_work=int(f["stack"]),
        globals_scan_work=int(f["globals"]),
        expected_scan_work=int(f["expected"]),
        trigger=int(f["trigger"]),
        heap_live=int(f["live"]),
        goal_delta=int(f["delta"]),
        cons_mark=float(f["consmark"]),
        lineno=lineno,
    )


def parse_pacertrace(text: str, source: str = "<gctrace>") -> list[PacerLine]:
    """The gcpacertrace lines of text, in order; other lines are skipped.

    A line that starts with "pacer: " but is none of the three kinds
    raises ValueError naming source:line (a line cut off by the program's
    own output is one: see the module docstring).
    """
    out: list[PacerLine] = []
    for lineno, line in _lines(text):
        if not line.startswith(_PACER_PREFIX):
            continue
        try:
            out.append(_pacer_line(line, lineno))
        except _Mismatch as e:
            raise _error(source, lineno, "gcpacertrace", line, e) from None
    return out
