"""Malloc-lab .rep traces: the exact format written, every malformation caught
with its file:line, streaming without holding the ops, and no half-written files.
"""

from __future__ import annotations

import io
import os
import pickle
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from gomem.classic.trace import Op, Trace, TraceError, TraceHeader, read_ops, write_trace

# A small trace in the lab's style: ids 0..2, id 1 freed before id 2 is allocated.
SMALL_OPS = [
    ("a", 0, 2040),
    ("a", 1, 2040),
    ("f", 1, 0),
    ("a", 2, 48),
    ("r", 0, 4072),
    ("f", 0, 0),
    ("f", 2, 0),
]
# The header (heap size, ids, ops = len(SMALL_OPS) = 7, weight), then one op a line.
SMALL_TEXT = """\
20000
3
7
1
a 0 2040
a 1 2040
f 1
a 2 48
r 0 4072
f 0
f 2
"""


def test_write_trace_writes_the_header_then_one_op_a_line(tmp_path: Path) -> None:
    path = tmp_path / "small.rep"
    header = write_trace(SMALL_OPS, path, num_ids=3, heap_size=20000, weight=1)
    assert path.read_text() == SMALL_TEXT
    assert header == TraceHeader(heap_size=20000, num_ids=3, num_ops=7, weight=1)


def test_write_trace_to_a_file_object_writes_the_same_text() -> None:
    out = io.StringIO()
    write_trace(SMALL_OPS, out, num_ids=3, heap_size=20000)  # weight defaults to 1
    assert out.getvalue() == SMALL_TEXT


def test_written_trace_reads_back_as_the_same_ops(tmp_path: Path) -> None:
    path = tmp_path / "small.rep"
    write_trace(iter(SMALL_OPS), path, num_ids=3, heap_size=20000)
    trace = Trace.open(path)
    assert trace.name == "small"
    assert trace.path == path
    assert trace.header == TraceHeader(20000, 3, 7, 1)
    ops = list(trace)
    assert [(op.kind, op.id, op.size) for op in ops] == SMALL_OPS
    # The header takes lines 1-4, so the ops are on lines 5..11.
    assert [op.line for op in ops] == [5, 6, 7, 8, 9, 10, 11]
    assert list(read_ops(path)) == ops
    assert list(trace) == ops  # a trace can be iterated again


def test_blank_lines_and_any_whitespace_are_accepted_and_lines_still_counted() -> None:
    # Header on one line (line 1), a blank line 2, ops on lines 3 and 5 with
    # tabs and extra spaces, blank lines 4 and 6, CRLF line ends.
    text = "100 2 2 0\r\n\r\n  a\t0   16 \r\n\r\nf\t0\r\n\r\n"
    trace = Trace.from_text(text, name="loose")
    assert trace.header == TraceHeader(100, 2, 2, 0)
    assert list(trace) == [Op("a", 0, 16, 3), Op("f", 0, 0, 5)]


def test_ids_and_sizes_of_zero_and_large_values_are_valid() -> None:
    # malloc(0) and realloc to 0 are requests too; ids need not come in order.
    text = "0\n10\n4\n1\na 9 0\nr 9 0\na 0 4294967296\nf 9\n"
    assert [(op.kind, op.id, op.size) for op in Trace.from_text(text)] == [
        ("a", 9, 0),
        ("r", 9, 0),
        ("a", 0, 4294967296),
        ("f", 9, 0),
    ]


# -- malformed traces ---------------------------------------------------------


def header(num_ops: int, num_ids: int = 3) -> str:
    """A good header on lines 1-4: heap size 100, num_ids ids, num_ops ops, weight 1."""
    return f"100\n{num_ids}\n{num_ops}\n1\n"


# (file text, the line the error names, words the message must contain)
MALFORMED = [
    # an empty file has no line; the error names line 1
    ("", 1, "missing header"),
    ("\n\n", 2, "missing header"),  # two blank lines: the last one is line 2
    ("100\n3\n", 2, "truncated header: expected 4 numbers"),  # 2 numbers, ends on line 2
    ("100\nx\n2\n1\n", 2, "number of ids must be a non-negative integer, got 'x'"),
    ("100\n3\n-2\n1\n", 3, "number of ops must be a non-negative integer, got '-2'"),
    ("100\n3\n2\n1.5\n", 4, "weight must be a non-negative integer"),
    ("100\n3\n1\n1 a 0 8\n", 4, "unexpected 'a' after the 4 header numbers"),
    # a header one number short: the first op's letter is read as the weight (line 4)
    ("100\n3\n1\na 0 8\n", 4, "weight must be a non-negative integer, got 'a'"),
    (header(2) + "a 0 8\nx 0 8\n", 6, "unknown op 'x'"),  # ops start on line 5
    (header(1) + "# a comment\n", 5, "unknown op '#'"),
    (header(1) + "A 0 8\n", 5, "unknown op 'A'"),
    (header(1) + "a 0\n", 5, "'a' takes 3 fields (a id size), got 2"),
    (header(2) + "a 0 8\nf 0 8\n", 6, "'f' takes 2 fields (f id), got 3"),
    (header(2) + "a 0 8\nr 0 8 9\n", 6, "'r' takes 3 fields (r id size), got 4"),
    (header(1) + "a zero 8\n", 5, "id is not an integer: 'zero'"),
    (header(1) + "a 0 8k\n", 5, "size is not an integer: '8k'"),
    (header(1) + "a 0 +8\n", 5, "size is not an integer: '+8'"),
    (header(1) + "a 0 \uff18\n", 5, "size is not an integer"),  # a full-width digit 8
    (header(1) + "a 0 -8\n", 5, "negative size -8"),
    (header(1) + "a 3 8\n", 5, "id 3 outside [0, 3)"),  # num_ids = 3
    (header(1) + "a -1 8\n", 5, "id -1 outside [0, 3)"),
    (header(1) + "r 1 8\n", 5, "'r' of id 1, which is not live (never allocated)"),
    (header(1) + "f 2\n", 5, "'f' of id 2, which is not live (never allocated)"),
    (header(3) + "a 0 8\nf 0\nf 0\n", 7, "'f' of id 0, which is not live (already freed)"),
    (header(3) + "a 0 8\nf 0\nr 0 9\n", 7, "'r' of id 0, which is not live (already freed)"),
    (header(2) + "a 0 8\na 0 16\n", 6, "'a' of id 0, which was allocated before (still live)"),
    (header(3) + "a 0 8\nf 0\na 0 8\n", 7, "'a' of id 0, which was allocated before (since freed)"),
    # header says 2 ops: the third op (line 7) is the first extra one, whatever it says
    (header(2) + "a 0 8\nf 0\nq\n", 7, "extra op: header says 2 ops"),
    (header(3) + "a 0 8\nf 0\n", 6, "truncated: header says 3 ops, file has 2"),
    (header(3) + "a 0 8\nf 0\n\n\n", 8, "truncated: header says 3 ops, file has 2"),
    (header(1), 4, "truncated: header says 1 ops, file has 0"),  # the header's last line
]
MALFORMED_IDS = [
    "empty-file",
    "only-blank-lines",
    "header-truncated",
    "header-not-integer",
    "header-negative",
    "header-not-integer-weight",
    "header-line-has-an-op",
    "header-short-by-one",
    "unknown-op-letter",
    "comment-line",
    "upper-case-op",
    "malloc-missing-size",
    "free-with-size",
    "realloc-extra-field",
    "id-not-integer",
    "size-not-integer",
    "size-with-plus-sign",
    "size-unicode-digit",
    "negative-size",
    "id-equals-num-ids",
    "negative-id",
    "realloc-never-allocated",
    "free-never-allocated",
    "double-free",
    "realloc-after-free",
    "malloc-of-live-id",
    "malloc-of-freed-id",
    "more-ops-than-header",
    "fewer-ops-than-header",
    "fewer-ops-trailing-blank-lines",
    "header-only",
]


@pytest.mark.parametrize(("text", "line", "problem"), MALFORMED, ids=MALFORMED_IDS)
def test_malformed_trace_file_raises_trace_error_naming_file_and_line(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    path = tmp_path / "bad.rep"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TraceError) as caught:
        list(Trace.open(path))  # header problems at open, op problems while iterating
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: ")
    assert problem in message
    assert "\n" not in message
    assert (caught.value.path, caught.value.line) == (str(path), line)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(("text", "line", "problem"), MALFORMED, ids=MALFORMED_IDS)
def test_malformed_trace_text_raises_the_same_error_under_its_name(
    text: str, line: int, problem: str
) -> None:
    with pytest.raises(TraceError) as caught:
        list(Trace.from_text(text, name="mem.rep"))
    assert str(caught.value).startswith(f"mem.rep:{line}: ")
    assert problem in str(caught.value)


def test_trace_error_text_without_a_name_is_from_memory() -> None:
    with pytest.raises(TraceError, match=r"^<memory>:1: missing header"):
        Trace.from_text("")


def test_non_ascii_bytes_are_a_trace_error_on_their_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.rep"
    path.write_bytes(header(1).encode() + b"a 0 8\xe9\n")  # line 5: a Latin-1 byte after 8
    with pytest.raises(TraceError, match=r":5: size is not an integer"):
        list(Trace.open(path))


def test_trace_error_survives_pickling() -> None:
    err = TraceError("x.rep", 7, "negative size -1")
    copy = pickle.loads(pickle.dumps(err))
    assert (str(copy), copy.path, copy.line) == ("x.rep:7: negative size -1", "x.rep", 7)


def test_opening_reads_only_the_header_and_ops_come_before_a_later_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "late.rep"
    path.write_text(header(3) + "a 0 8\na 1 8\nf 2\n")  # line 7 frees an id never allocated
    trace = Trace.open(path)  # no error yet: only the header is read
    ops = iter(trace)
    assert next(ops) == Op("a", 0, 8, 5)
    assert next(ops) == Op("a", 1, 8, 6)
    with pytest.raises(TraceError, match=r":7: 'f' of id 2, which is not live"):
        next(ops)


def test_a_header_changed_after_opening_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "changed.rep"
    path.write_text(header(0))
    trace = Trace.open(path)
    path.write_text(header(0, num_ids=5))
    with pytest.raises(TraceError, match=r":4: header changed"):
        list(trace)


def test_a_missing_trace_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Trace.open(tmp_path / "nope.rep")


# -- streaming ----------------------------------------------------------------

MILLION = 1_000_000


def half_malloc_half_free(n: int) -> Iterator[tuple[str, int, int]]:
    """n ops: n/2 mallocs of ids 0..n/2-1 (all live at once), then their frees."""
    half = n // 2
    for i in range(half):
        yield ("a", i, 16 + i % 4096)
    for i in range(half):
        yield ("f", i, 0)


@pytest.mark.slow
def test_reading_a_million_op_trace_holds_one_op_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "million.rep"
    write_trace(half_malloc_half_free(MILLION), path, num_ids=MILLION // 2)
    # A list of 1M Ops would take > 80 MB (a list slot, an Op object and
    # often an int per op); 500,000 ids live at once would cost ~30 MB as a set.
    tracemalloc.start()
    try:
        count = total_size = 0
        for op in Trace.open(path):
            count += 1
            total_size += op.size
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == MILLION
    # sum of 16 + i % 4096 for i < 500,000 = 122 * 4096 + 288: 122 whole cycles
    # of 0..4095 (8,386,560 each), then 0..287 (41,328), plus 16 * 500,000
    assert total_size == 122 * 8_386_560 + 41_328 + 16 * 500_000
    assert peak < 20 << 20, f"peak {peak / 2**20:.1f} MiB while streaming"


def test_a_million_op_trace_is_read_in_reasonable_time(tmp_path: Path) -> None:
    # The same trace without tracemalloc: streaming must not be quadratic.
    path = tmp_path / "million.rep"
    write_trace(half_malloc_half_free(MILLION), path, num_ids=MILLION // 2)
    start = time.perf_counter()
    count = sum(1 for _ in read_ops(path))
    assert count == MILLION
    assert time.perf_counter() - start < 30


# -- writing ------------------------------------------------------------------


class Boom(Exception):
    pass


def breaks_after(n: int) -> Iterator[tuple[str, int, int]]:
    for i in range(n):
        yield ("a", i, 8)
    raise Boom("the op source failed")


def test_write_trace_leaves_no_file_when_the_ops_raise_midway(tmp_path: Path) -> None:
    path = tmp_path / "out.rep"
    with pytest.raises(Boom):
        write_trace(breaks_after(1000), path, num_ids=2000)
    assert list(tmp_path.iterdir()) == []  # neither the trace nor a temporary file


def test_write_trace_keeps_the_old_file_when_the_ops_raise_midway(tmp_path: Path) -> None:
    path = tmp_path / "out.rep"
    path.write_text(SMALL_TEXT)
    with pytest.raises(Boom):
        write_trace(breaks_after(10), path, num_ids=20)
    assert path.read_text() == SMALL_TEXT
    assert list(tmp_path.iterdir()) == [path]


def test_write_trace_writes_nothing_to_a_file_object_when_the_ops_raise() -> None:
    out = io.StringIO()
    with pytest.raises(Boom):
        write_trace(breaks_after(10), out, num_ids=20)
    assert out.getvalue() == ""


def test_write_trace_replaces_an_existing_file_with_ordinary_permissions(tmp_path: Path) -> None:
    plain = tmp_path / "plain.rep"
    plain.write_text("")  # what open() gives under the current umask
    path = tmp_path / "out.rep"
    path.write_text("old\n")
    write_trace(SMALL_OPS, path, num_ids=3, heap_size=20000)
    assert path.read_text() == SMALL_TEXT
    assert os.stat(path).st_mode == os.stat(plain).st_mode


# (ops, num_ids, what the ValueError says)
BAD_WRITES = [
    ([("x", 0, 8)], 1, "unknown kind 'x'"),
    ([("a", 0, 8), ("f", 0, 8)], 1, "a free has size 0"),
    ([("a", 0, 8.0)], 1, "must be integers"),
    ([("a", 1, 8)], 1, "id 1 outside [0, 1)"),
    ([("a", 0, -8)], 1, "negative size -8"),
    ([("a", 0, 8), ("f", 0, 0), ("f", 0, 0)], 1, "not live (already freed)"),
    ([("a", 0, 8), ("f", 0, 0), ("a", 0, 8)], 1, "allocated before"),
]
BAD_WRITE_IDS = [
    "unknown-kind",
    "free-with-size",
    "float-size",
    "id-out-of-range",
    "negative-size",
    "double-free",
    "reused-id",
]


@pytest.mark.parametrize(("ops", "num_ids", "problem"), BAD_WRITES, ids=BAD_WRITE_IDS)
def test_write_trace_refuses_ops_a_reader_would_reject(
    tmp_path: Path, ops: list[tuple[str, int, int]], num_ids: int, problem: str
) -> None:
    with pytest.raises(ValueError, match=r"^op #\d") as caught:
        write_trace(ops, tmp_path / "bad.rep", num_ids=num_ids)
    assert problem in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("num_ids", "heap_size", "weight"),
    [(-1, 0, 1), (1, -5, 1), (1, 0, -1), (1, 0, True)],
    ids=["negative-num-ids", "negative-heap-size", "negative-weight", "bool-weight"],
)
def test_write_trace_refuses_a_bad_header(num_ids: int, heap_size: int, weight: int) -> None:
    out = io.StringIO()
    with pytest.raises(ValueError, match="must be a non-negative integer"):
        write_trace([], out, num_ids=num_ids, heap_size=heap_size, weight=weight)
    assert out.getvalue() == ""


def test_an_empty_trace_is_written_and_read_back() -> None:
    out = io.StringIO()
    write_trace([], out, num_ids=0)
    assert out.getvalue() == "0\n0\n0\n1\n"  # heap size 0, 0 ids, 0 ops, weight 1
    assert list(Trace.from_text(out.getvalue())) == []
