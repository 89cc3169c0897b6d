"""`gomem pacer replay` (gomem.runtime.pacer_replay) against Go's own pacer test.

The model's gcControllerState runs TestGcPacer's loop (mgcpacer_test.go) on
the inputs of its 19 scenarios (testdata/pacer, see its README). Expected
rows: Steady's from the copied file of real Go's output; every scenario's
from real go1.24.3's test, run once per session (the oracle test). "Equal"
is every integer identical and the utilisation equal as printed (%.1f).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gomem.cli.main import main
from gomem.runtime.pacer_replay import replay, scenario_from_json

TESTDATA = Path(__file__).parent / "testdata" / "pacer"
INPUTS = sorted((TESTDATA / "inputs").glob("*.json"))


def _scenario(path: Path):
    return scenario_from_json(json.loads(path.read_text()))


def test_steady_rows_equal_real_gos(capsys: pytest.CaptureFixture[str]) -> None:
    expected = json.loads((TESTDATA / "Steady.expected.json").read_text())["rows"]
    assert main(["pacer", "replay", str(TESTDATA / "inputs" / "Steady.json")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["name"] == "Steady"
    assert out["rows"] == expected
    assert len(expected) == 50


@pytest.mark.oracle
@pytest.mark.parametrize("path", INPUTS, ids=[p.stem for p in INPUTS])
def test_every_scenario_equals_gos_own_test(path: Path, go_pacer_rows_fixture) -> None:
    sc = _scenario(path)
    got = replay(sc)
    want = go_pacer_rows_fixture[sc.name]
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g == w, f"{sc.name} cycle {w[0]}: model {g}, Go {w}"


def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "name": "x",
                "gcPercent": 100,
                "memoryLimit": 1,
                "globalsBytes": 0,
                "nCores": 8,
                "cycles": [[1, 2, 3]],
            }
        )
    )
    assert main(["pacer", "replay", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cycles[0]: want 5 numbers, got 3" in err
