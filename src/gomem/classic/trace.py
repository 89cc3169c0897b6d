"""Allocation traces in the `.rep` format of the CS:APP malloc lab.

Models the trace files read by the malloc lab's driver (mdriver.c, CMU
15-213): a trace is a header of four non-negative integers, then one
request per line.

    20000        suggested heap size, bytes
    3            number of ids: every id is in [0, 3)
    7            number of ops that follow
    1            weight (mdriver counts a trace with weight 0 in no average)
    a 0 2040     malloc: block 0 gets 2040 bytes
    a 1 2040
    f 1          free block 1
    a 2 48
    r 0 4072     realloc block 0 to 4072 bytes
    f 0
    f 2

Like mdriver's fscanf, the header is the first four whitespace-separated
numbers (one per line as written here, but any whitespace will do, as long as
no op shares the line of the fourth). Blank lines are ignored anywhere;
nothing else is allowed: no comments, no other letters.

An id is allocated once (`a`), may then be reallocated (`r`) any number of
times while live, and is freed (`f`) at most once; it is never allocated
again, as in the lab's traces. Reading streams: `for op in trace` parses and
validates one line at a time, so a trace of millions of ops is never held in
memory (the per-id state is one byte per id). Every problem is a
`TraceError` naming `file:line`.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TextIO

_HEADER_FIELDS = ("heap size", "number of ids", "number of ops", "weight")
_USAGE = {"a": "a id size", "r": "r id size", "f": "f id"}  # how each op is written
_UINT = re.compile(r"[0-9]+", re.ASCII)
_INT = re.compile(r"-?[0-9]+", re.ASCII)

# The state of an id while a trace is checked.
_NEVER, _LIVE, _FREED = 0, 1, 2


@dataclass(frozen=True, slots=True)
class TraceHeader:
    """The four numbers that open a trace."""

    heap_size: int  # suggested heap size, bytes
    num_ids: int  # ids are in [0, num_ids)
    num_ops: int  # ops that follow the header
    weight: int  # mdriver's weight of the trace in averages


@dataclass(frozen=True, slots=True)
class Op:
    """One request of a trace."""

    kind: str  # "a" (malloc), "r" (realloc) or "f" (free)
    id: int  # which block
    size: int  # requested bytes; 0 for free
    line: int  # 1-based line number in the file


class TraceError(ValueError):
    """A malformed trace: `file:line: what is wrong`, on one line."""

    def __init__(self, path: str | os.PathLike[str], line: int, problem: str) -> None:
        self.path = os.fspath(path)
        self.line = line
        self.problem = problem
        super().__init__(f"{self.path}:{line}: {problem}")

    def __reduce__(self) -> tuple[type[TraceError], tuple[str, int, str]]:
        return (type(self), (self.path, self.line, self.problem))


class _IdStates:
    """Never allocated, live or freed, for each id: one byte per id.

    A bytearray grown on demand for ids below `DENSE_LIMIT`, a dict above it,
    so a header that claims an enormous number of ids costs nothing until
    the ids are used. A trace of n ops uses at most n ids.
    """

    DENSE_LIMIT = 1 << 24

    def __init__(self) -> None:
        self._dense = bytearray()
        self._sparse: dict[int, int] = {}

    def get(self, ident: int) -> int:
        if ident < len(self._dense):
            return self._dense[ident]
        if ident < self.DENSE_LIMIT:
            return _NEVER
        return self._sparse.get(ident, _NEVER)

    def set(self, ident: int, state: int) -> None:
        if ident >= self.DENSE_LIMIT:
            self._sparse[ident] = state
            return
        if ident >= len(self._dense):
            grown = min(max(ident + 1, 2 * len(self._dense)), self.DENSE_LIMIT)
            self._dense.extend(bytes(grown - len(self._dense)))
        self._dense[ident] = state


class _Checker:
    """The rules for ids: in range, allocated once, reallocated and freed while live."""

    def __init__(self, num_ids: int) -> None:
        self.num_ids = num_ids
        self._states = _IdStates()

    def check(self, kind: str, ident: int, size: int) -> str | None:
        """Apply one op; the problem with it, or None (and the state is updated)."""
        if size < 0:
            return f"negative size {size}"
        if not 0 <= ident < self.num_ids:
            return f"id {ident} outside [0, {self.num_ids})"
        state = self._states.get(ident)
        if kind == "a":
            if state != _NEVER:
                was = "still live" if state == _LIVE else "since freed"
                return f"'a' of id {ident}, which was allocated before ({was}); ids are used once"
            self._states.set(ident, _LIVE)
        elif state != _LIVE:
            why = "never allocated" if state == _NEVER else "already freed"
            return f"'{kind}' of id {ident}, which is not live ({why})"
        elif kind == "f":
            self._states.set(ident, _FREED)
        return None


def _read_header(numbered: Iterator[tuple[int, str]], where: str) -> tuple[TraceHeader, int]:
    """The header, from the first lines; and the number of the line it ends on."""
    values: list[int] = []
    lineno = 0
    for lineno, line in numbered:
        for token in line.split():
            if len(values) == 4:
                raise TraceError(
                    where, lineno, f"header: unexpected {token!r} after the 4 header numbers"
                )
            if not _UINT.fullmatch(token):
                field = _HEADER_FIELDS[len(values)]
                raise TraceError(
                    where, lineno, f"header: {field} must be a non-negative integer, got {token!r}"
                )
            values.append(int(token))
        if len(values) == 4:
            return TraceHeader(*values), lineno
    expected = f"expected 4 numbers ({', '.join(_HEADER_FIELDS)})"
    if not values:
        raise TraceError(where, max(lineno, 1), f"missing header: {expected}, file has none")
    raise TraceError(where, lineno, f"truncated header: {expected}, got {len(values)}")


def _parse_int(token: str, what: str, where: str, lineno: int) -> int:
    if not _INT.fullmatch(token):
        raise TraceError(where, lineno, f"{what} is not an integer: {token!r}")
    return int(token)


def _read_ops(
    numbered: Iterator[tuple[int, str]], where: str, header: TraceHeader, last: int
) -> Iterator[Op]:
    """Parse and check the ops after the header, one line at a time."""
    checker = _Checker(header.num_ids)
    count = 0
    for lineno, line in numbered:
        last = lineno
        fields = line.split()
        if not fields:
            continue
        if count == header.num_ops:
            raise TraceError(where, lineno, f"extra op: header says {header.num_ops} ops")
        kind = fields[0]
        usage = _USAGE.get(kind)
        if usage is None:
            raise TraceError(where, lineno, f"unknown op {kind!r} (expected a, r or f)")
        want = len(usage.split())
        if len(fields) != want:
            raise TraceError(
                where, lineno, f"'{kind}' takes {want} fields ({usage}), got {len(fields)}"
            )
        ident = _parse_int(fields[1], "id", where, lineno)
        size = _parse_int(fields[2], "size", where, lineno) if want == 3 else 0
        problem = checker.check(kind, ident, size)
        if problem is not None:
            raise TraceError(where, lineno, problem)
        count += 1
        yield Op(kind, ident, size, lineno)
    if count < header.num_ops:
        raise TraceError(
            where, last, f"truncated: header says {header.num_ops} ops, file has {count}"
        )


class Trace:
    """A trace file: its header read eagerly, its ops streamed on every iteration."""

    __slots__ = ("header", "name", "path", "_text")

    def __init__(self, name: str, path: Path | None, header: TraceHeader, text: str | None) -> None:
        self.name = name  # the file's stem, or the name given to from_text
        self.path = path  # None for a trace from text
        self.header = header
        self._text = text

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Trace:
        """The trace in a file; reads only the header (TraceError if it is bad)."""
        path = Path(path)
        with _open_text(path) as f:
            header, _ = _read_header(enumerate(f, 1), str(path))
        return cls(path.stem, path, header, None)

    @classmethod
    def from_text(cls, text: str, name: str = "<memory>") -> Trace:
        """A trace held in a string; errors name `name` as the file."""
        header, _ = _read_header(enumerate(io.StringIO(text), 1), name)
        return cls(name, None, header, text)

    @property
    def where(self) -> str:
        """What errors name as the file."""
        return self.name if self.path is None else str(self.path)

    def __iter__(self) -> Iterator[Op]:
        # A generator: nothing is opened until the first op is asked for.
        if self.path is None:
            f: TextIO = io.StringIO(self._text)
        else:
            f = _open_text(self.path)
        with f:
            numbered = enumerate(f, 1)
            header, last = _read_header(numbered, self.where)
            if header != self.header:
                raise TraceError(self.where, last, "header changed since the trace was opened")
            yield from _read_ops(numbered, self.where, header, last)

    def __repr__(self) -> str:
        return f"Trace({self.name!r}, {self.header})"


def _open_text(path: Path) -> TextIO:
    # Non-ASCII bytes become U+FFFD and are then rejected as bad tokens, with their line.
    return open(path, encoding="ascii", errors="replace")  # noqa: SIM115 - closed by callers


def read_ops(path: str | os.PathLike[str]) -> Iterator[Op]:
    """The ops of the trace file at `path`, streamed and checked."""
    return iter(Trace.open(path))


def write_trace(
    ops: Iterable[tuple[str, int, int]],
    path_or_file: str | os.PathLike[str] | TextIO,
    *,
    num_ids: int,
    heap_size: int = 0,
    weight: int = 1,
) -> TraceHeader:
    """Write (kind, id, size) ops as a trace; the header's op count is computed.

    Frees are given with size 0 and written as `f id`. The ops are checked as
    a reader would (ValueError otherwise) and written only once all are
    known good: to a file object in one go, to a path through a temporary
    file in the same directory renamed into place, so an error in the ops or
    in the iterable leaves no output, not half of it. Returns the header.
    """
    for field, value in zip(_HEADER_FIELDS, (heap_size, num_ids, 0, weight), strict=True):
        if type(value) is not int or value < 0:
            raise ValueError(f"{field} must be a non-negative integer, got {value!r}")
    checker = _Checker(num_ids)
    count = 0
    # Ops go to a spool first: the header, which comes first, needs their count.
    with tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+", encoding="ascii") as spool:
        for count, op in enumerate(ops, 1):  # noqa: B007 - count is the total after the loop
            kind, ident, size = op
            if kind not in _USAGE:
                raise ValueError(f"op #{count} {op!r}: unknown kind {kind!r}")
            if type(ident) is not int or type(size) is not int:
                raise ValueError(f"op #{count} {op!r}: id and size must be integers")
            if kind == "f" and size != 0:
                raise ValueError(f"op #{count} {op!r}: a free has size 0")
            problem = checker.check(kind, ident, size)
            if problem is not None:
                raise ValueError(f"op #{count} {op!r}: {problem}")
            spool.write(f"f {ident}\n" if kind == "f" else f"{kind} {ident} {size}\n")
        header = TraceHeader(heap_size, num_ids, count, weight)
        head = f"{heap_size}\n{num_ids}\n{count}\n{weight}\n"
        spool.seek(0)
        if isinstance(path_or_file, str | os.PathLike):
            _write_atomically(Path(path_or_file), head, spool)
        else:
            path_or_file.write(head)
            shutil.copyfileobj(spool, path_or_file)
    return header


def _write_atomically(path: Path, head: str, body: IO[str]) -> None:
    """Write head + body to a temporary file beside `path`, then rename it over `path`."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # os.open with mode 0o666 gives the permissions a plain open() would (umask applies).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(fd, "w", encoding="ascii", newline="\n") as out:
            out.write(head)
            shutil.copyfileobj(body, out)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
