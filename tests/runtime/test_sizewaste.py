"""Size-class waste of a workload, and `gomem sizeclass waste`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gomem.cli.main import main
from gomem.runtime.sizewaste import size_waste


def test_300_byte_objects_waste_rounding_and_span_tails() -> None:
    # 300 B -> class 20 (320 B): 20 B rounding each, 10,000 x 20 = 200,000 B.
    # 25 objects per 8192-B span, so 10,000 objects need 400 spans, each with a
    # 8192 - 25 x 320 = 192-B tail: 400 x 192 = 76,800 B.
    (row,) = size_waste([(300, 10_000)])
    assert (row.label, row.elem_size, row.objects, row.requested) == (
        "class 20",
        320,
        10_000,
        3_000_000,
    )
    assert (row.rounding, row.tails) == (200_000, 76_800)


def test_pointers_add_the_malloc_header_to_the_rounding() -> None:
    # 600 B with pointers: 8-B header, looked up as 608 -> class 28 (640 B): 40 B waste;
    # 12 objects per span with a 8192 - 12 x 640 = 512-B tail.
    (row,) = size_waste([(600, 12)], pointers=True)
    assert (row.label, row.rounding, row.tails) == ("class 28", 12 * 40, 512)


def test_large_and_tiny_requests_get_rows_of_their_own() -> None:
    rows = size_waste([(40_000, 2), (5, 3)])
    # 40,000 B -> 5 pages = 40,960 B: 960 B each. Tiny requests are counted, not charged.
    assert [(r.label, r.objects, r.rounding) for r in rows] == [("large", 2, 1920), ("tiny", 3, 0)]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_waste_json_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sizes = tmp_path / "sizes.txt"
    sizes.write_text("# a comment\n300 10000\n\n300\n")
    code, out, _ = _run(capsys, "sizeclass", "waste", "--sizes", str(sizes), "--json")
    assert code == 0
    # 10,001 objects of 300 B: 401 spans (ceil(10001 / 25)).
    assert json.loads(out) == [
        {
            "row": "class 20",
            "elem_size": 320,
            "objects": 10_001,
            "requested": 3_000_300,
            "rounding": 200_020,
            "tails": 401 * 192,
        }
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [("300 x\n", 1), ("300\n-5\n", 2), ("1 2 3\n", 1)],
    ids=["not-a-number", "negative", "three-fields"],
)
def test_cli_waste_bad_line_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: int
) -> None:
    sizes = tmp_path / "s.txt"
    sizes.write_text(text)
    code, out, err = _run(capsys, "sizeclass", "waste", "--sizes", str(sizes))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"{sizes}:{line}:" in err
