"""procfs text: hand-written kernel lines, and the real /proc of this machine as oracle."""

from __future__ import annotations

import mmap
import os
import sys
from pathlib import Path

import pytest

from gomem.machine.procfs import (
    MAPS_NAME_COLUMN,
    STATUS_MEMORY_FIELDS,
    MapsEntry,
    format_maps_line,
    format_status_memory,
    parse_maps_line,
    parse_status,
)

needs_proc = pytest.mark.skipif(
    not Path("/proc/self/maps").exists() or sys.maxsize != 2**63 - 1,
    reason="needs a 64-bit Linux /proc",
)


def _read_proc(path: str) -> str:
    # Paths in maps are raw bytes; surrogateescape keeps non-UTF-8 names round-trippable.
    return Path(path).read_text(encoding="utf-8", errors="surrogateescape")


def _maps_lines() -> list[str]:
    # Not splitlines(): the kernel escapes only "\n" in names, so other line
    # breaks ("\x0b", "\x1c", ...) may legitimately sit inside a path.
    text = _read_proc("/proc/self/maps")
    assert text.endswith("\n")
    return text[:-1].split("\n")


# Expected strings written out from the kernel format: header fields, one
# space, and for a named mapping spaces up to column 72 plus one more space.
HAND_WRITTEN_MAPS = [
    pytest.param(
        MapsEntry(0x7FBB6B920000, 0x7FBB6B923000, "rw-p", 0, 0, 0, 0, ""),
        "7fbb6b920000-7fbb6b923000 rw-p 00000000 00:00 0 ",
        id="anonymous-keeps-trailing-space",
    ),
    pytest.param(
        MapsEntry(0x7FFCCBE5A000, 0x7FFCCBE7B000, "rw-p", 0, 0, 0, 0, "[stack]"),
        "7ffccbe5a000-7ffccbe7b000 rw-p 00000000 00:00 0                          [stack]",
        id="stack",
    ),
    pytest.param(
        MapsEntry(0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, "--xp", 0, 0, 0, 0, "[vsyscall]"),
        "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]",
        id="vsyscall-16-hex-digits",
    ),
    pytest.param(
        MapsEntry(0x5646219F1000, 0x5646219F7000, "r-xp", 0x2000, 0xFE, 0, 260386, "/usr/bin/head"),
        "5646219f1000-5646219f7000 r-xp 00002000 fe:00 260386                     /usr/bin/head",
        id="file-with-offset-and-dev",
    ),
    pytest.param(
        MapsEntry(0x400000, 0x452000, "r-xp", 0, 8, 1, 1234, "/bin/a.out"),
        "00400000-00452000 r-xp 00000000 08:01 1234                               /bin/a.out",
        id="low-address-zero-padded-to-8",
    ),
    pytest.param(
        MapsEntry(0x7F0000000000, 0x7F0000001000, "rw-s", 0, 0, 1, 1025, "/a b/c (deleted)"),
        "7f0000000000-7f0000001000 rw-s 00000000 00:01 1025                       /a b/c (deleted)",
        id="shared-name-with-spaces",
    ),
    pytest.param(
        # Header already past column 72: seq_pad adds no padding but still its
        # separating space, so two spaces precede the name.
        MapsEntry(
            0xFFFFFFFFFF600000,
            0xFFFFFFFFFF601000,
            "r--s",
            0x123456789ABC,
            0x103,
            0x1A2B3,
            2**64 - 1,
            "/x",
        ),
        "ffffffffff600000-ffffffffff601000 r--s 123456789abc 103:1a2b3 18446744073709551615  /x",
        id="overlong-header-still-one-separator",
    ),
]


@pytest.mark.parametrize(("entry", "expected"), HAND_WRITTEN_MAPS)
def test_maps_entry_formats_as_kernel_line(entry: MapsEntry, expected: str) -> None:
    assert entry.format() == expected


@pytest.mark.parametrize(("entry", "expected"), HAND_WRITTEN_MAPS)
def test_maps_line_parses_back_to_entry(entry: MapsEntry, expected: str) -> None:
    assert parse_maps_line(expected) == entry
    assert parse_maps_line(expected + "\n") == entry


def test_format_maps_line_defaults_to_anonymous_unnamed_mapping() -> None:
    line = format_maps_line(0x7FBB6B920000, 0x7FBB6B923000, "rw-p")
    assert line == "7fbb6b920000-7fbb6b923000 rw-p 00000000 00:00 0 "


def test_named_line_puts_name_at_name_column() -> None:
    line = format_maps_line(0x1000, 0x2000, "r--p", name="[heap]")
    assert line.index("[heap]") == MAPS_NAME_COLUMN


@pytest.mark.parametrize(
    ("line", "field"),
    [
        pytest.param("", "too few fields", id="empty"),
        pytest.param("00400000-00401000 r-xp", "too few fields", id="truncated"),
        pytest.param(
            "00400000-00401000 r-xp 00000000 00:00 0", "too few fields", id="no-trailing-space"
        ),
        pytest.param("00400000 r-xp 00000000 00:00 0 ", "address range", id="no-dash"),
        pytest.param("0040000-00401000 r-xp 00000000 00:00 0 ", "start address", id="short-start"),
        pytest.param("0040000G-00401000 r-xp 00000000 00:00 0 ", "start address", id="non-hex"),
        pytest.param("00400000-0040A000 r-xp 00000000 00:00 0 ", "end address", id="uppercase"),
        pytest.param("0x400000-00401000 r-xp 00000000 00:00 0 ", "start address", id="0x-prefix"),
        pytest.param("00400000-00401000 rwxq 00000000 00:00 0 ", "perms", id="bad-share-flag"),
        pytest.param("00400000-00401000 xwrp 00000000 00:00 0 ", "perms", id="perms-out-of-order"),
        pytest.param("00400000-00401000 r-x 00000000 00:00 0 ", "perms", id="short-perms"),
        pytest.param(
            "00400000-00401000  r-xp 00000000 00:00 0 ", "perms", id="double-space-separator"
        ),
        pytest.param("00400000-00401000 r-xp 0000 00:00 0 ", "offset", id="short-offset"),
        pytest.param("00400000-00401000 r-xp 00000000 0000 0 ", "dev", id="dev-without-colon"),
        pytest.param("00400000-00401000 r-xp 00000000 0:00 0 ", "dev major", id="one-digit-major"),
        pytest.param("00400000-00401000 r-xp 00000000 00:zz 0 ", "dev minor", id="non-hex-minor"),
        pytest.param("00400000-00401000 r-xp 00000000 00:00 -1 ", "inode", id="negative-inode"),
        pytest.param("00400000-00401000 r-xp 00000000 00:00 0x1 ", "inode", id="hex-inode"),
        pytest.param(
            "00401000-00400000 r-xp 00000000 00:00 0 ", "below start", id="end-below-start"
        ),
        pytest.param(
            "00400000-00401000 r-xp 00000000 00:00 0 /a\nb", "newline", id="newline-in-name"
        ),
    ],
)
def test_malformed_maps_line_raises_value_error_naming_field(line: str, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        parse_maps_line(line)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"perms": "rwx"}, id="bad-perms"),
        pytest.param({"start": -1}, id="negative-start"),
        pytest.param({"end": 2**64}, id="end-beyond-u64"),
        pytest.param({"name": "a\nb"}, id="newline-in-name"),
    ],
)
def test_maps_entry_rejects_fields_the_kernel_cannot_print(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "start": 0x1000,
        "end": 0x2000,
        "perms": "rw-p",
        "offset": 0,
        "dev_major": 0,
        "dev_minor": 0,
        "inode": 0,
        "name": "",
    }
    fields.update(kwargs)
    with pytest.raises(ValueError):
        MapsEntry(**fields)  # type: ignore[arg-type]


@pytest.mark.oracle
@needs_proc
def test_real_maps_lines_round_trip_byte_for_byte() -> None:
    lines = _maps_lines()
    assert lines
    for line in lines:
        assert parse_maps_line(line).format() == line


@pytest.mark.oracle
@needs_proc
def test_real_deleted_file_with_spaces_parses_to_its_mapping(tmp_path: Path) -> None:
    path = tmp_path / "dir with space" / "file with space"
    path.parent.mkdir()
    path.write_bytes(bytes(2 * mmap.PAGESIZE))
    # The mapping must still exist when /proc/self/maps is read, so read it inside the block.
    with path.open("r+b") as f, mmap.mmap(f.fileno(), 2 * mmap.PAGESIZE):
        path.unlink()
        wanted = f"{path} (deleted)"
        matches = [line for line in _maps_lines() if line.endswith(wanted)]
    assert len(matches) == 1
    entry = parse_maps_line(matches[0])
    assert entry.name == wanted
    assert entry.perms == "rw-s"
    assert entry.offset == 0
    assert entry.end - entry.start == 2 * mmap.PAGESIZE
    assert entry.format() == matches[0]


@pytest.mark.oracle
@needs_proc
def test_real_memfd_mapping_reports_its_dev_and_inode() -> None:
    fd = os.memfd_create("gomem procfs test")
    try:
        os.ftruncate(fd, mmap.PAGESIZE)
        st = os.fstat(fd)
        with mmap.mmap(fd, mmap.PAGESIZE):
            wanted = "/memfd:gomem procfs test (deleted)"
            matches = [line for line in _maps_lines() if line.endswith(wanted)]
    finally:
        os.close(fd)
    assert len(matches) == 1
    entry = parse_maps_line(matches[0])
    assert (entry.name, entry.perms) == (wanted, "rw-s")
    assert (entry.dev_major, entry.dev_minor, entry.inode) == (
        os.major(st.st_dev),
        os.minor(st.st_dev),
        st.st_ino,
    )


def test_status_memory_lines_right_align_kb_in_width_8() -> None:
    values = dict.fromkeys(STATUS_MEMORY_FIELDS, 0)
    values.update(VmPeak=3776, VmSize=123456789, VmRSS=12345678)
    text = format_status_memory(values)
    lines = text.split("\n")
    assert text.endswith("\n")
    assert [line.split(":")[0] for line in lines[:-1]] == list(STATUS_MEMORY_FIELDS)
    assert lines[0] == "VmPeak:\t    3776 kB"
    assert lines[1] == "VmSize:\t123456789 kB"  # wider than 8: the field just extends
    assert lines[2] == "VmLck:\t       0 kB"
    assert lines[5] == "VmRSS:\t12345678 kB"


def test_status_memory_missing_field_raises_value_error_naming_it() -> None:
    values = dict.fromkeys(STATUS_MEMORY_FIELDS, 0)
    del values["VmPTE"]
    with pytest.raises(ValueError, match="VmPTE"):
        format_status_memory(values)


def test_parse_status_takes_only_kb_lines() -> None:
    text = (
        "Name:\tweird 12 kB\n"
        "Umask:\t0022\n"
        "VmPeak:\t    3776 kB\n"
        "Threads:\t1\n"
        "HugetlbPages:\t       0 kB\n"
        "VmSize:\t123456789 kB\n"
    )
    assert parse_status(text) == {"VmPeak": 3776, "HugetlbPages": 0, "VmSize": 123456789}


@pytest.mark.oracle
@needs_proc
def test_real_status_memory_lines_round_trip_exactly() -> None:
    text = _read_proc("/proc/self/status")
    lines = text.split("\n")
    first = next(i for i, line in enumerate(lines) if line.startswith("VmPeak:"))
    # The kernel writes the 15 lines as one block; taking it whole also checks the order.
    block = lines[first : first + len(STATUS_MEMORY_FIELDS)]
    assert [line.split(":")[0] for line in block] == list(STATUS_MEMORY_FIELDS)
    expected = "\n".join(block) + "\n"
    assert format_status_memory(parse_status(text)) == expected
