"""Real Go's pacer rows, read from its own TestGcPacer, against the repo's test data.

gomem.oracle.pacer runs go1.24.3's runtime test and reads the row each
simulated cycle logs. Steady.expected.json pins the rows of Steady (see
testdata/pacer/README.md); every scenario of inputs/ must be there with one
row per cycle, numbered from 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.oracle

TESTDATA = Path(__file__).parent / "testdata" / "pacer"


def test_go_pacer_rows_match_the_test_data(go_pacer_rows_fixture) -> None:
    rows = go_pacer_rows_fixture
    expected = json.loads((TESTDATA / "Steady.expected.json").read_text())["rows"]
    assert rows["Steady"] == expected  # ints identical; util is the printed %.1f
    inputs = [json.loads(p.read_text()) for p in sorted((TESTDATA / "inputs").glob("*.json"))]
    assert len(inputs) == 19
    assert sorted(rows) == sorted(scenario["name"] for scenario in inputs)
    for scenario in inputs:
        got = rows[scenario["name"]]
        assert [row[0] for row in got] == list(range(1, scenario["length"] + 1)), scenario["name"]
