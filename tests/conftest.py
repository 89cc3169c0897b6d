"""Shared test configuration: Hypothesis profiles and the Go oracle builds.

"ci" is the default so that every run, local or CI, is deterministic
(derandomized examples, no deadline). Set HYPOTHESIS_PROFILE=dev for a
randomized run with more examples when hunting for new failures.

The oracle programs are built once per test run: one GOCACHE for the whole
session (`gocache`), shared by every build, and one build of each program.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from gomem.oracle import allocstats

# "ci": the same examples every run (derandomized, no example database), no
# deadline (timing varies on shared machines), and bounded sizes so the suite
# stays fast: at most 60 examples, 40 steps per stateful run.
settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=60,
    stateful_step_count=40,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def gocache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The GOCACHE of this test run, shared by every oracle build."""
    return tmp_path_factory.mktemp("gocache")


@pytest.fixture(scope="session")
def allocstats_binary(gocache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The allocstats oracle program (gomem/oracle/go/allocstats), built once per run."""
    return allocstats.build(gocache, tmp_path_factory.mktemp("allocstats"))
