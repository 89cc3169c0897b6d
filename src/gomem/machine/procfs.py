"""Text of /proc/<pid>/maps and the memory lines of /proc/<pid>/status.

Models linux 6.x fs/proc/task_mmu.c: `show_map_vma` (one maps line per VMA,
via `show_vma_header_prefix` and `seq_pad`) and `task_mem` (the Vm*/Rss* lines
of status). Formatting is byte-for-byte what the kernel writes on a 64-bit
machine, so the model's output can be compared with the real kernel's as text.
Pure functions: nothing here reads /proc.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# Where a mapping's name starts on a maps line (0-based). The kernel calls
# seq_setwidth(m, 25 + sizeof(void *) * 6 - 1), i.e. 72 on 64-bit, pads the
# header to that width, then seq_pad appends one more space before the name.
MAPS_NAME_COLUMN = 73
_MAPS_PAD_WIDTH = MAPS_NAME_COLUMN - 1

# Values the kernel prints from unsigned long / unsigned long long.
_U64_LIMIT = 1 << 64

_PERMS_RE = re.compile(r"[r-][w-][x-][ps]")

# One pattern per header field, so a parse error can name the field.
# Hex is lowercase with a minimum width, as the kernel's "%08lx"/"%02x" give.
_ADDR_RE = re.compile(r"[0-9a-f]{8,}")
_DEV_PART_RE = re.compile(r"[0-9a-f]{2,}")
_INODE_RE = re.compile(r"[0-9]+")

STATUS_MEMORY_FIELDS: tuple[str, ...] = (
    "VmPeak",
    "VmSize",
    "VmLck",
    "VmPin",
    "VmHWM",
    "VmRSS",
    "RssAnon",
    "RssFile",
    "RssShmem",
    "VmData",
    "VmStk",
    "VmExe",
    "VmLib",
    "VmPTE",
    "VmSwap",
)

# task_mem prints each value right-aligned in 8 columns; wider values just extend.
_STATUS_VALUE_WIDTH = 8

_STATUS_KB_RE = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*):[ \t]*(?P<kb>[0-9]+) kB")


@dataclass(frozen=True, slots=True)
class MapsEntry:
    """One line of /proc/<pid>/maps: a VMA as the kernel reports it.

    `offset` is the file offset in bytes (pgoff << PAGE_SHIFT); `name` is the
    path or pseudo-name ("[heap]", "[stack]", "/x (deleted)"), or "" for an
    anonymous mapping without one.
    """

    start: int
    end: int
    perms: str
    offset: int
    dev_major: int
    dev_minor: int
    inode: int
    name: str

    def __post_init__(self) -> None:
        # Checked here so that `format` can never emit a line the kernel could not.
        for field_name in ("start", "end", "offset", "dev_major", "dev_minor", "inode"):
            value = getattr(self, field_name)
            if not isinstance(value, int) or not 0 <= value < _U64_LIMIT:
                raise ValueError(f"maps {field_name} must be an int in [0, 2**64), got {value!r}")
        if self.end < self.start:
            raise ValueError(f"maps end {self.end:#x} is below start {self.start:#x}")
        if not isinstance(self.perms, str) or not _PERMS_RE.fullmatch(self.perms):
            raise ValueError(f"maps perms must look like 'rwxp' or 'r--s', got {self.perms!r}")
        # The kernel escapes a newline in a path as "\012"; a raw one would split the line.
        if "\n" in self.name:
            raise ValueError(f"maps name must not contain a newline, got {self.name!r}")

    def format(self) -> str:
        """Render this entry as the kernel's maps line, without the newline."""
        header = (
            f"{self.start:08x}-{self.end:08x} {self.perms} {self.offset:08x} "
            f"{self.dev_major:02x}:{self.dev_minor:02x} {self.inode} "
        )
        if not self.name:
            # No seq_pad without a name: the line keeps the header's trailing space.
            return header
        # seq_pad: spaces up to the width (none if the header is already longer),
        # then always one separating space.
        return header.ljust(_MAPS_PAD_WIDTH) + " " + self.name


def format_maps_line(
    start: int,
    end: int,
    perms: str,
    offset: int = 0,
    dev_major: int = 0,
    dev_minor: int = 0,
    inode: int = 0,
    name: str = "",
) -> str:
    """Render one maps line (no newline) from its fields; see `MapsEntry.format`."""
    return MapsEntry(start, end, perms, offset, dev_major, dev_minor, inode, name).format()


def _field(pattern: re.Pattern[str], text: str, field_name: str, line: str) -> str:
    if not pattern.fullmatch(text):
        raise ValueError(f"malformed maps line: bad {field_name} {text!r} in {line!r}")
    return text


def parse_maps_line(line: str) -> MapsEntry:
    """Parse one maps line (a trailing newline is allowed) into a `MapsEntry`.

    The header fields are separated by single spaces, as the kernel writes
    them; the name is everything after the padding, so it may contain spaces.
    Raises ValueError naming the first malformed field.
    """
    text = line[:-1] if line.endswith("\n") else line
    # Split off exactly the five header fields; the remainder is padding + name.
    parts = text.split(" ", 5)
    if len(parts) < 6:
        raise ValueError(f"malformed maps line: too few fields in {line!r}")
    addresses, perms, offset, dev, inode, rest = parts

    start_text, sep, end_text = addresses.partition("-")
    if not sep:
        raise ValueError(f"malformed maps line: bad address range {addresses!r} in {line!r}")
    start = int(_field(_ADDR_RE, start_text, "start address", line), 16)
    end = int(_field(_ADDR_RE, end_text, "end address", line), 16)
    _field(_PERMS_RE, perms, "perms", line)
    offset_value = int(_field(_ADDR_RE, offset, "offset", line), 16)
    major_text, sep, minor_text = dev.partition(":")
    if not sep:
        raise ValueError(f"malformed maps line: bad dev {dev!r} in {line!r}")
    dev_major = int(_field(_DEV_PART_RE, major_text, "dev major", line), 16)
    dev_minor = int(_field(_DEV_PART_RE, minor_text, "dev minor", line), 16)
    inode_value = int(_field(_INODE_RE, inode, "inode", line))

    # Paths begin with "/" and pseudo-names with "[", so leading spaces are
    # always padding, never part of the name.
    name = rest.lstrip(" ")
    try:
        return MapsEntry(start, end, perms, offset_value, dev_major, dev_minor, inode_value, name)
    except ValueError as exc:
        raise ValueError(f"malformed maps line: {exc} in {line!r}") from None


def format_status_memory(values: Mapping[str, int]) -> str:
    """Render the 15 memory lines of /proc/<pid>/status, each ending in "\\n".

    `values` maps field names (STATUS_MEMORY_FIELDS) to kB; other keys are
    ignored, so the result of `parse_status` can be passed straight in.
    """
    lines = []
    for name in STATUS_MEMORY_FIELDS:
        if name not in values:
            raise ValueError(f"status memory field {name} is missing")
        value = values[name]
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"status memory field {name} must be an int >= 0, got {value!r}")
        lines.append(f"{name}:\t{value:{_STATUS_VALUE_WIDTH}d} kB")
    return "\n".join(lines) + "\n"


def parse_status(text: str) -> dict[str, int]:
    """Parse every kB field of a /proc/<pid>/status text into {name: kB}.

    Only lines of the form "Name:<blanks><digits> kB" are taken (this includes
    fields beyond the 15 memory lines, such as HugetlbPages); all others are
    ignored.
    """
    result: dict[str, int] = {}
    for line in text.splitlines():
        # A strict match rather than endswith(" kB"): the Name line holds the
        # process's comm, which may itself end in " kB".
        match = _STATUS_KB_RE.fullmatch(line)
        if match:
            result[match["name"]] = int(match["kb"])
    return result
