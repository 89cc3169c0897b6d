"""The allocstats runner without Go: case checks, output parsing, errors, package data.

A shell script stands in for the Go program, so these tests need no toolchain.
"""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from gomem.oracle.allocstats import AllocCase, BySizeDelta, measure
from gomem.oracle.toolchain import ToolchainError

ROOT = Path(__file__).resolve().parents[2]

# What the Go program prints for `noscan 300 10000` (measured with go1.24.3).
LINE = {
    "shape": "noscan", "size": 300, "count": 10000, "type_size": 300, "ptr_bytes": 0,
    "HeapAlloc": 3200000, "HeapObjects": 10000, "HeapInuse": 3276800, "HeapSys": 0,
    "HeapIdle": -3276800, "HeapReleased": -3219456, "Mallocs": 10000, "Frees": 0,
    "TotalAlloc": 3200000, "Sys": 0, "BySize": [{"Size": 320, "Mallocs": 10000, "Frees": 0}],
}  # fmt: skip


def fake_program(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "allocstats"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return script


@pytest.mark.parametrize(
    ("shape", "size", "count"),
    [("float", 8, 1), ("noscan", 0, 1), ("noscan", 8, 0), ("allptr", 12, 1), ("ptrlast", 4, 1)],
    ids=["unknown_shape", "zero_size", "zero_count", "allptr_not_words", "ptrlast_not_words"],
)
def test_a_case_the_program_cannot_build_is_refused(shape: str, size: int, count: int) -> None:
    with pytest.raises(ValueError, match="AllocCase"):
        AllocCase(shape, size, count)


def test_output_is_read_into_memstats_fields_with_the_run_environment(tmp_path: Path) -> None:
    # The script answers only if it sees SHAPE SIZE COUNT and the run environment.
    body = (
        '[ "$GOGC $GOMAXPROCS $GOMEMLIMIT" = "off 1 off" ] || exit 3\n'
        '[ "$*" = "noscan 300 10000" ] || exit 4\n'
        f"echo '{json.dumps(LINE)}'\n"
    )
    (got,) = measure(fake_program(tmp_path, body), [AllocCase("noscan", 300, 10000)])
    assert got.case == AllocCase("noscan", 300, 10000)
    assert (got.HeapAlloc, got.HeapInuse, got.HeapIdle, got.Mallocs) == (
        3_200_000,
        3_276_800,
        -3_276_800,
        10000,
    )
    assert got.BySize == (BySizeDelta(320, 10000, 0),)
    assert got.by_size(320).Mallocs == 10000
    assert got.by_size(16) == BySizeDelta(16, 0, 0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "echo 'allocstats: boom' >&2\necho more >&2\nexit 2\n",
            r"noscan 300 B x 10000: exit 2: allocstats: boom$",
        ),
        ("echo not json\n", "unreadable output"),
        ("echo '{}'\necho '{}'\n", "unreadable output"),
        (f"echo '{json.dumps(LINE | {'count': 1})}'\n", "measured noscan 300 B x 1 instead"),
    ],
    ids=["exit_status", "not_json", "two_lines", "other_case"],
)
def test_a_failing_program_raises_a_one_line_toolchain_error(
    tmp_path: Path, body: str, message: str
) -> None:
    with pytest.raises(ToolchainError, match=message) as info:
        measure(fake_program(tmp_path, body), [AllocCase("noscan", 300, 10000)])
    assert "\n" not in str(info.value)


def test_the_go_source_ships_as_package_data() -> None:
    source = resources.files("gomem.oracle").joinpath("go", "allocstats")
    assert source.joinpath("go.mod").read_text().startswith("module allocstats\n")
    assert source.joinpath("main.go").is_file()
    # pyproject.toml's package-data globs must match both files for a non-editable install.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["gomem.oracle"]
    package = ROOT / "src" / "gomem" / "oracle"
    shipped = {p.relative_to(package).as_posix() for g in globs for p in package.glob(g)}
    assert {"go/allocstats/go.mod", "go/allocstats/main.go"} <= shipped
