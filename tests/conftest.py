"""Shared test configuration: Hypothesis profiles.

"ci" is the default so that every run, local or CI, is deterministic
(derandomized examples, no deadline). Set HYPOTHESIS_PROFILE=dev for a
randomized run with more examples when hunting for new failures.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

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
