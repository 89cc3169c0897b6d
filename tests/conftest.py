"""Shared test configuration: Hypothesis profiles.

"ci" is the default so that every run, local or CI, is deterministic
(derandomized examples, no deadline). Set HYPOTHESIS_PROFILE=dev for a
randomized run with more examples when hunting for new failures.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
