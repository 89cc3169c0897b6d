"""Parsing of CLI values: addresses, sizes, rates and the GC settings, with
one-line errors.

Sizes accept Go's GOMEMLIMIT suffixes (B, KiB, MiB, GiB, TiB) and plain
byte counts; addresses accept hex (0x…) or decimal; rates are a size per
second (200MiB/s, decimals allowed); GOGC is a percent or off; a memory
limit is what Go's parseByteCount accepts, or off.
"""

from __future__ import annotations

import argparse
import re

from gomem.runtime.mgcpacer import MAX_INT64, parse_byte_count


class BadInput(Exception):
    """A value the user gave cannot be used: one line on stderr, exit code 2."""


_SIZE_RE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB|TiB)?\s*$")
_UNITS = {None: 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def parse_size(text: str) -> int:
    """'64MiB' -> 67108864. Raises argparse.ArgumentTypeError with a clear message."""
    m = _SIZE_RE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size (expected bytes or a number with B, KiB, MiB, GiB or TiB, "
            "e.g. 64MiB)"
        )
    return int(m.group(1)) * _UNITS[m.group(2)]


def parse_positive(text: str) -> int:
    """'1000' -> 1000; zero, negatives and non-integers raise ArgumentTypeError."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def parse_address(text: str) -> int:
    """'0x7f0000001234' or '139637976731188' -> int. Raises ArgumentTypeError."""
    t = text.strip().lower().replace("_", "")
    try:
        value = int(t, 16) if t.startswith("0x") else int(t, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an address (expected hex like 0x7f0000001234, or decimal)"
        ) from None
    if not 0 <= value < 1 << 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a 64-bit address")
    return value


_RATE_RE = re.compile(r"^(\d+(?:\.\d+)?)(B|KiB|MiB|GiB|TiB)?/s$")


def parse_rate(text: str) -> float:
    """'200MiB/s' -> bytes per second (positive)."""
    m = _RATE_RE.match(text)
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive rate like 200MiB/s")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_gogc(text: str) -> int:
    """GOGC: a non-negative integer percent, or off (-1)."""
    if text == "off":
        return -1
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a percent (like 100) or off")
    return int(text)


def parse_memlimit(text: str) -> int:
    """GOMEMLIMIT: a size like 512MiB or a byte count (Go's parseByteCount), or off
    (none is accepted too): no limit, math.MaxInt64."""
    if text in ("off", "none"):
        return MAX_INT64
    n = parse_byte_count(text)
    if n is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a memory limit (bytes, or a number with B, KiB, MiB, GiB or "
            "TiB like 512MiB, or off)"
        )
    return n


def format_size(nbytes: int) -> str:
    """67108864 -> '64 MiB'; sizes that are not a whole number of a unit stay in bytes."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        scale = _UNITS[unit]
        if nbytes >= scale and nbytes % scale == 0:
            return f"{nbytes // scale} {unit}"
    return f"{nbytes:,} B"
